package dev.ferrotun.android

import java.io.File
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/**
 * android/README.md's `VpnService` example is the file compile-check compiles
 * against the Android framework (compile-check/src/main/kotlin/.../MyVpnService.kt).
 * This fails when the README and that file drift apart.
 */
class AndroidReadmeTest {
    @Test
    fun `the README's VpnService example is the one compile-check compiles`() {
        val readme = File("../README.md").readText()
        val block = readme.split("```kotlin\n").drop(1).map { it.substringBefore("```") }
            .single { it.contains("class MyVpnService : VpnService()") }
        val compiled = File("../compile-check/src/main/kotlin/dev/ferrotun/example/MyVpnService.kt").readText()
            .substringAfter("// ---- from the README ----").substringBefore("// ---- end of the README example ----")
        val readmeLines = normalize(block)
        assertTrue(readmeLines.size > 20, "README example not found")
        assertEquals(normalize(compiled), readmeLines)
    }

    /** Code lines without comments and blanks (the README may comment differently). */
    private fun normalize(code: String): List<String> =
        code.lines().map { it.substringBefore(" //").trim() }.filter { it.isNotEmpty() && !it.startsWith("//") }
}

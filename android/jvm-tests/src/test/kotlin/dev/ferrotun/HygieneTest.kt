package dev.ferrotun

import java.io.File
import java.util.concurrent.TimeUnit
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout

@Timeout(value = 120, unit = TimeUnit.SECONDS)
class HygieneTest {
    @Test
    fun `starting and stopping 100 tunnels leaks no fds and no threads`() {
        repeat(3) { cycle() } // JNA, the UniFFI cleaner and logging set up once
        System.gc()
        Thread.sleep(200)
        val fdsBefore = openFdCount()
        val threadsBefore = nativeThreads()

        repeat(100) { cycle() }

        // stop() joins the tunnel's threads; give the JVM's own threads a moment to settle.
        var fdsAfter = openFdCount()
        var threadsAfter = nativeThreads()
        eventually(pollMs = 100) {
            fdsAfter = openFdCount()
            threadsAfter = nativeThreads()
            val settled = fdsAfter <= fdsBefore && threadsAfter.size <= threadsBefore.size
            if (!settled) System.gc()
            settled
        }
        assertTrue(fdsAfter <= fdsBefore, "fds: $fdsBefore before, $fdsAfter after 100 tunnels")
        assertTrue(
            threadsAfter.size <= threadsBefore.size,
            "threads: ${threadsBefore.size} before, ${threadsAfter.size} after 100 tunnels; new: ${threadsAfter - threadsBefore.toSet()}",
        )
        assertTrue(threadCount() >= threadsAfter.size)
    }

    private fun cycle() {
        FakeTun().use { tun ->
            val tunnel = Tunnel.start(onePeerConfig("10.99.2"), tun.tunFd, RecordingProtector())
            tunnel.stats()
            tunnel.stop()
            tunnel.close()
        }
    }

    /**
     * Names of this process's threads, without the JVM's JIT compiler
     * threads, which HotSpot starts and ends on its own schedule.
     */
    private fun nativeThreads(): List<String> =
        File("/proc/self/task").listFiles()!!
            .mapNotNull { runCatching { File(it, "comm").readText().trim() }.getOrNull() }
            .filterNot { it.startsWith("C1 CompilerThre") || it.startsWith("C2 CompilerThre") }
            .sorted()
}

package dev.ferrotun

import java.math.BigInteger
import java.security.KeyFactory
import java.security.spec.NamedParameterSpec
import java.security.spec.XECPrivateKeySpec
import java.security.spec.XECPublicKeySpec
import java.util.Base64
import javax.crypto.KeyAgreement
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

class KeysTest {
    @Test
    fun `public key derivation matches the RFC 7748 vector`() {
        // RFC 7748 section 6.1, Alice.
        val private = b64(hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"))
        val public = b64(hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"))
        assertEquals(public, publicKey(private))
    }

    @Test
    fun `generated keys are clamped like wg genkey and derive the same public key as the JDK`() {
        val seen = HashSet<String>()
        repeat(20) {
            val key = generatePrivateKey()
            val bytes = Base64.getDecoder().decode(key)
            assertEquals(32, bytes.size)
            assertEquals(0, bytes[0].toInt() and 7)
            assertEquals(0x40, bytes[31].toInt() and 0xc0)
            assertEquals(jdkPublicKey(bytes), publicKey(key))
            seen += key
        }
        assertEquals(20, seen.size)
    }

    @Test
    fun `a bad private key raises InvalidField`() {
        val e = assertThrows<FerrotunException.InvalidField> { publicKey("AAAA") }
        assertEquals("privateKey", e.field)
        assertNotEquals("", e.reason)
    }

    /** X25519(k, 9) computed by the JDK's own implementation. */
    private fun jdkPublicKey(privateBytes: ByteArray): String {
        val kf = KeyFactory.getInstance("XDH")
        val priv = kf.generatePrivate(XECPrivateKeySpec(NamedParameterSpec.X25519, privateBytes))
        val basePoint = kf.generatePublic(XECPublicKeySpec(NamedParameterSpec.X25519, BigInteger.valueOf(9)))
        val ka = KeyAgreement.getInstance("XDH")
        ka.init(priv)
        ka.doPhase(basePoint, true)
        return b64(ka.generateSecret())
    }

    private fun b64(bytes: ByteArray): String = Base64.getEncoder().encodeToString(bytes)

    private fun hex(s: String): ByteArray = ByteArray(s.length / 2) { s.substring(2 * it, 2 * it + 2).toInt(16).toByte() }
}

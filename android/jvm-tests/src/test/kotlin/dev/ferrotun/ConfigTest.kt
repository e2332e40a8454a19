package dev.ferrotun

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

class ConfigTest {
    private val privateKey = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="
    private val peerKey = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
    private val psk = "FpCyhws9cxwWoV4xELtfJvjJN+zQVRPISllRWgeopVE="

    private val text = """
        # laptop
        [Interface]
        PrivateKey = $privateKey
        ListenPort = 51820
        Address = 10.0.0.2/32, fd00::2/128
        DNS = 10.0.0.1, example.com
        MTU = 1380

        [Peer]
        PublicKey = $peerKey
        PresharedKey = $psk
        Endpoint = 192.0.2.1:51820
        AllowedIPs = 0.0.0.0/0, ::/0
        PersistentKeepalive = 25
    """.trimIndent()

    @Test
    fun `wg-quick text parses to records and prints back to the same config`() {
        val config = parseWgQuick(text)
        assertEquals(privateKey, config.privateKey)
        assertEquals(51820.toUShort(), config.listenPort)
        assertEquals(1380.toUShort(), config.mtu)
        assertEquals(listOf("10.0.0.2/32", "fd00::2/128"), config.addresses)
        assertEquals(listOf("10.0.0.1"), config.dns)
        assertEquals(listOf("example.com"), config.dnsSearch)
        val peer = config.peers.single()
        assertEquals(peerKey, peer.publicKey)
        assertEquals(psk, peer.presharedKey)
        assertEquals("192.0.2.1:51820", peer.endpoint)
        assertEquals(listOf("0.0.0.0/0", "::/0"), peer.allowedIps)
        assertEquals(25.toUShort(), peer.persistentKeepalive)

        val printed = toWgQuick(config)
        assertEquals(config, parseWgQuick(printed))
    }

    @Test
    fun `a config built in Kotlin prints as wg-quick and parses back`() {
        val config = TunnelConfig(
            privateKey = privateKey,
            addresses = listOf("10.0.0.2/32"),
            peers = listOf(PeerConfig(publicKey = peerKey, endpoint = "vpn.example.com:51820", allowedIps = listOf("10.0.0.0/24"))),
        )
        assertEquals(config, parseWgQuick(toWgQuick(config)))
    }

    @Test
    fun `malformed wg-quick raises the Config exception with line and reason`() {
        val bad = text.replace("AllowedIPs = 0.0.0.0/0, ::/0", "AllowedIPs = 10.0.0.0/33")
        val badLine = bad.lines().indexOfFirst { it.startsWith("AllowedIPs") } + 1
        val e = assertThrows<FerrotunException.Config> { parseWgQuick(bad) }
        assertEquals(badLine.toUInt(), e.line)
        assertTrue(e.reason.isNotBlank(), "reason must say what is wrong")

        val badKey = "[Interface]\nPrivateKey = not-base64!\n"
        val e2 = assertThrows<FerrotunException.Config> { parseWgQuick(badKey) }
        assertEquals(2u, e2.line)
        assertTrue(e2.reason.isNotBlank())
    }

    @Test
    fun `an invalid record field raises InvalidField naming the field`() {
        val config = TunnelConfig(
            privateKey = privateKey,
            peers = listOf(PeerConfig(publicKey = peerKey, allowedIps = listOf("10.0.0.0/24", "nonsense"))),
        )
        val e = assertThrows<FerrotunException.InvalidField> { toWgQuick(config) }
        assertEquals("peers[0].allowedIps[1]", e.field)

        val e2 = assertThrows<FerrotunException.InvalidField> { toWgQuick(config.copy(privateKey = "c2hvcnQ=")) }
        assertEquals("privateKey", e2.field)
        assertTrue("32" in e2.reason, e2.reason)
    }
}

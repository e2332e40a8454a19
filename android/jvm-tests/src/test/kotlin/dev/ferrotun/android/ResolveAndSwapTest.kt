package dev.ferrotun.android

import dev.ferrotun.FakeTun
import dev.ferrotun.FerrotunException
import dev.ferrotun.Packets
import dev.ferrotun.PeerConfig
import dev.ferrotun.RecordingProtector
import dev.ferrotun.Tunnel
import dev.ferrotun.TunnelConfig
import dev.ferrotun.generatePrivateKey
import dev.ferrotun.need
import dev.ferrotun.publicKey
import java.util.concurrent.TimeUnit
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import org.junit.jupiter.api.assertThrows

/**
 * The helper against a second, real tunnel (B, started through the bindings on
 * its own socketpair): host names are resolved before `establish()`, and
 * `updateConfig` with new AllowedIPs re-establishes and keeps carrying traffic
 * over the new fd.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ResolveAndSwapTest {
    private val keyA = generatePrivateKey()
    private val keyB = generatePrivateKey()

    /** Peer B: 10.99.5.2, knows A's key, learns A's endpoint from the handshake. */
    private fun startB(tun: FakeTun) = Tunnel.start(
        TunnelConfig(
            privateKey = keyB,
            addresses = listOf("10.99.5.2/32"),
            peers = listOf(PeerConfig(publicKey = publicKey(keyA), allowedIps = listOf("10.99.5.1/32", "10.99.6.0/24"))),
        ),
        tun.tunFd,
        RecordingProtector(),
    )

    private fun configA(endpoint: String, vararg allowedIps: String) = TunnelConfig(
        privateKey = keyA,
        addresses = listOf("10.99.5.1/32"),
        peers = listOf(PeerConfig(publicKey = publicKey(keyB), endpoint = endpoint, allowedIps = allowedIps.toList())),
    )

    private fun packet(src: String, dst: String, i: Int, tag: String) =
        Packets.udp4(src, dst, 40000, 5000, "$tag $i".toByteArray(), id = i)

    /** Sends A->B probes over [tun] until one arrives at B (the first one starts the handshake). */
    private fun warmUp(tun: FakeTun, tunB: FakeTun) {
        dev.ferrotun.warmUp(tun, tunB) { packet("10.99.5.1", "10.99.5.2", it, "probe") }
    }

    @Test
    fun `a host-name endpoint is resolved before establish, and the tunnel starts on the resolved address`() {
        FakeTun().use { tunB ->
            val b = startB(tunB)
            RecordingPlatform().use { platform ->
                val vpn = FerrotunVpn(platform, resolver = platform.recording(EndpointResolver.SYSTEM))
                val session = vpn.start(configA("localhost:${b.listenPort()}", "10.99.5.2/32"))

                assertEquals(listOf("resolve", "establish", "protect"), platform.steps.toList())
                // Started on the resolver's numeric answer, not waiting for a lookup inside the VPN.
                val endpoint = need(session.stats().peers.single().endpoint, "the peer has no endpoint")
                assertTrue(endpoint in setOf("127.0.0.1:${b.listenPort()}", "[::1]:${b.listenPort()}"), endpoint)
                vpn.stop()
            }
            b.stop()
            b.close()
        }
    }

    @Test
    fun `a name that does not resolve fails start before anything is established`() {
        RecordingPlatform().use { platform ->
            val vpn = FerrotunVpn(platform, resolver = platform.recording(EndpointResolver.SYSTEM))
            val error = assertThrows<FerrotunException.Resolve> { vpn.start(configA("peer.invalid:51820", "10.99.5.2/32")) }
            assertEquals("peer.invalid:51820", error.host)
            assertEquals(listOf("resolve"), platform.steps.toList())
            assertEquals(0, platform.interfaces.size)
            assertEquals(null, vpn.current)
        }
    }

    @Test
    fun `updateConfig with new AllowedIPs re-establishes, swaps the fd and keeps carrying traffic both ways`() {
        FakeTun().use { tunB ->
            val b = startB(tunB)
            RecordingPlatform().use { platform ->
                val vpn = FerrotunVpn(platform)
                val endpoint = "127.0.0.1:${b.listenPort()}"
                val session = vpn.start(configA(endpoint, "10.99.5.2/32"))
                val oldTun = platform.tun
                warmUp(oldTun, tunB)
                val handshakeBefore = session.stats().peers.single().lastHandshake

                vpn.updateConfig(configA(endpoint, "10.99.5.2/32", "10.99.6.0/24"))

                assertEquals(2, platform.interfaces.size, "new AllowedIPs need a new interface")
                assertEquals(
                    listOf("mtu 1280", "address 10.99.5.1/32", "route 10.99.5.2/32", "route 10.99.6.0/24", "allowFamily IPV6"),
                    platform.interfaces.last().settings,
                )
                val newTun = platform.tun
                assertTrue(newTun !== oldTun)

                // Over the new fd, to the old and the newly routed network.
                val n = 50
                val sent = List(n) { i -> packet("10.99.5.1", if (i % 2 == 0) "10.99.5.2" else "10.99.6.${i + 1}", i, "after swap") }
                sent.forEach { assertTrue(newTun.send(it)) }
                // The tunnel's flow queue may let one flow overtake another, never
                // a flow's own packets: every packet arrives once and intact, and
                // the one multi-packet flow (to 10.99.5.2) keeps its order.
                val received = List(n) { i -> need(tunB.receive(5_000), "packet $i of $n did not arrive at B").toList() }
                assertEquals(sent.map { it.toList() }.sortedBy { it.toString() }, received.sortedBy { it.toString() })
                val toOld = sent.filterIndexed { i, _ -> i % 2 == 0 }.map { it.toList() }
                assertEquals(toOld, received.filter { it in toOld }, "the flow to 10.99.5.2 stays in order")
                // And back: a reply from the new network comes out of the new fd, not the old one.
                val reply = packet("10.99.6.7", "10.99.5.1", 1, "reply")
                assertTrue(tunB.send(reply))
                assertArrayEquals(reply, need(newTun.receive(5_000), "B's reply did not arrive on the new fd"))
                // The old interface's fd was closed by the swap.
                assertFalse(oldTun.send(packet("10.99.5.1", "10.99.5.2", 0, "old")), "the old TUN fd is still open")
                // Same session: no new handshake was needed.
                assertEquals(handshakeBefore, session.stats().peers.single().lastHandshake)

                // A change that leaves the interface alone (keepalive) does not re-establish.
                vpn.updateConfig(configA(endpoint, "10.99.5.2/32", "10.99.6.0/24").let { c ->
                    c.copy(peers = c.peers.map { it.copy(persistentKeepalive = 25u) })
                })
                assertEquals(2, platform.interfaces.size)
                assertTrue(newTun.send(packet("10.99.5.1", "10.99.5.2", 99, "still")))
                need(tunB.receive(5_000), "traffic stopped after a plain update")
                vpn.stop()
            }
            b.stop()
            b.close()
        }
    }
}

package dev.ferrotun

import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicBoolean
import kotlin.concurrent.thread
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import org.junit.jupiter.api.assertThrows

@Timeout(value = 60, unit = TimeUnit.SECONDS)
class TunnelTest {
    @Test
    fun `packets written into one tunnel come out decrypted from the other and stats count them`() {
        TunnelPair().use { pair ->
            val probes = pair.warmUp()

            val n = 200
            for (i in 0 until n) assertTrue(pair.tunA.send(pair.aToB(i)))
            for (i in 0 until n) {
                val got = need(pair.tunB.receive(5_000), "packet $i of $n did not arrive")
                assertArrayEquals(pair.aToB(i), got, "packet $i changed in transit")
                assertTrue(Packets.checksumsValid(got))
            }

            // And back: B learned A's endpoint from the handshake.
            for (i in 0 until 50) assertTrue(pair.tunB.send(pair.bToA(i)))
            for (i in 0 until 50) {
                assertArrayEquals(pair.bToA(i), pair.tunA.receive(5_000), "reply $i")
            }

            val a = pair.a.stats()
            val b = pair.b.stats()
            val sent = (n + probes).toULong()
            assertTrue(a.ipPacketsIn >= sent, "A read ${a.ipPacketsIn} IP packets, expected >= $sent")
            assertTrue(a.peers.single().txPackets >= n.toULong())
            assertTrue(a.udpDatagramsSent >= n.toULong())
            assertTrue(a.udpSendSyscalls in 1uL..a.udpDatagramsSent)
            assertTrue(b.ipPacketsOut >= n.toULong(), "B wrote ${b.ipPacketsOut} IP packets")
            assertTrue(b.peers.single().rxPackets >= n.toULong())
            assertTrue(b.peers.single().rxBytes >= (n * pair.aToB(0).size).toULong())
            assertEquals(pair.publicB, a.peers.single().publicKey)
            need(a.peers.single().lastHandshake, "no handshake time")
            assertEquals("127.0.0.1:${pair.b.listenPort()}", a.peers.single().endpoint)
            assertEquals(0uL, b.drops.sourceNotAllowed)
        }
    }

    @Test
    fun `nextEvent delivers the handshake, and after stop the Stopped event and then null`() = runBlocking {
        TunnelPair().use { pair ->
            pair.warmUp()
            val seen = mutableListOf<TunnelEvent>()
            withTimeout(10_000) {
                while (seen.none { it is TunnelEvent.HandshakeCompleted }) {
                    seen.add(need(pair.a.nextEvent(), "events ended early: $seen"))
                }
            }
            assertTrue(TunnelEvent.Started(pair.a.listenPort()) in seen, "no Started event in $seen")
            assertEquals(pair.publicB, seen.filterIsInstance<TunnelEvent.HandshakeCompleted>().first().publicKey)

            pair.a.stop()
            val after = mutableListOf<TunnelEvent>()
            withTimeout(10_000) {
                while (true) after.add(pair.a.nextEvent() ?: break)
            }
            assertTrue(after.any { it is TunnelEvent.Stopped && it.error == null }, "no clean Stopped in $after")
            assertNull(pair.a.nextEvent(), "nextEvent after the end must stay null")
            pair.a.stop() // idempotent
        }
    }

    @Test
    fun `protect is called with the tunnel's bound UDP socket before any traffic`() {
        TunnelPair().use { pair ->
            val call = need(pair.protectorA.calls.firstOrNull(), "start returned without protecting the socket")
            assertEquals(LibC.SOCK_DGRAM, call.socketType, "protect got fd ${call.fd}, not a datagram socket")
            assertEquals(pair.a.listenPort().toInt(), boundPort(call.fd), "protect got a different socket")
            pair.warmUp()
        }
    }

    @Test
    fun `a protector returning false makes start fail with ProtectFailed and closes the fd`() {
        val protector = RecordingProtector { false }
        FakeTun().use { tun ->
            val e = assertThrows<FerrotunException.ProtectFailed> {
                Tunnel.start(config(), tun.tunFd, protector)
            }
            assertTrue("returned false" in e.reason, e.reason)
            assertEquals(1, protector.calls.size)
            assertFalse(tun.send(ByteArray(20)), "the TUN fd was not closed")
        }
    }

    @Test
    fun `a protector that throws makes start fail with ProtectFailed carrying its message`() {
        val protector = RecordingProtector { throw IllegalStateException("VPN permission revoked") }
        FakeTun().use { tun ->
            val e = assertThrows<FerrotunException.ProtectFailed> {
                Tunnel.start(config(), tun.tunFd, protector)
            }
            assertTrue("VPN permission revoked" in e.reason, e.reason)
            assertFalse(tun.send(ByteArray(20)), "the TUN fd was not closed")
        }
    }

    @Test
    fun `networkChanged during traffic rebinds, protects again and packets keep flowing`() {
        TunnelPair().use { pair ->
            pair.warmUp()
            val callsBefore = pair.protectorA.calls.size
            val running = AtomicBoolean(true)
            val sender = thread(name = "sender") {
                var i = 0
                while (running.get()) {
                    pair.tunA.send(pair.aToB(i++, "bg"))
                    Thread.sleep(2)
                }
            }
            try {
                Thread.sleep(100)
                pair.a.networkChanged()
                Thread.sleep(100)
            } finally {
                running.set(false)
                sender.join()
            }
            assertTrue(pair.protectorA.calls.size > callsBefore, "the rebound socket was not protected")
            val newSocket = pair.protectorA.calls.last()
            assertEquals(LibC.SOCK_DGRAM, newSocket.socketType)

            // Drain what the background sender got through, then prove the path works.
            while (pair.tunB.receive() != null) Unit
            pair.warmUp(tag = "after")
            for (i in 0 until 100) assertTrue(pair.tunA.send(pair.aToB(i, "batch")))
            for (i in 0 until 100) {
                assertArrayEquals(pair.aToB(i, "batch"), pair.tunB.receive(5_000), "packet $i after networkChanged")
            }
        }
    }

    @Test
    fun `a protector that fails on rebind makes networkChanged throw and stops the tunnel`() = runBlocking {
        val refuse = AtomicBoolean(false)
        TunnelPair(protectorA = RecordingProtector { !refuse.get() }).use { pair ->
            pair.warmUp()
            refuse.set(true)
            val e = assertThrows<FerrotunException.ProtectFailed> { pair.a.networkChanged() }
            assertTrue("returned false" in e.reason, e.reason)
            val events = mutableListOf<TunnelEvent>()
            withTimeout(10_000) {
                while (true) events.add(pair.a.nextEvent() ?: break)
            }
            val stopped = events.filterIsInstance<TunnelEvent.Stopped>().single()
            assertTrue(stopped.error != null, "Stopped must say why: $events")
        }
    }

    @Test
    fun `updateConfig adds a peer while the existing session keeps carrying traffic`() {
        TunnelPair().use { pair ->
            pair.warmUp()
            val handshakeBefore = need(pair.a.stats().peers.single().lastHandshake, "no handshake")
            val extra = testPeer("10.99.9.0/24", endpoint = null)
            pair.a.updateConfig(pair.configA.copy(peers = pair.configA.peers + extra))

            val peers = pair.a.stats().peers
            assertEquals(listOf(pair.publicB, extra.publicKey), peers.map { it.publicKey })
            for (i in 0 until 20) assertTrue(pair.tunA.send(pair.aToB(i, "upd")))
            for (i in 0 until 20) assertArrayEquals(pair.aToB(i, "upd"), pair.tunB.receive(5_000), "packet $i after updateConfig")
            // lastHandshake is derived from "time since handshake", so it wobbles by microseconds between calls.
            val handshakeAfter = need(pair.a.stats().peers.first().lastHandshake, "handshake time lost")
            val moved = java.time.Duration.between(handshakeBefore, handshakeAfter).abs()
            assertTrue(moved < java.time.Duration.ofMillis(500), "the unchanged peer re-handshook ($moved later)")

            val bad = pair.configA.copy(peers = listOf(extra.copy(allowedIps = listOf("10.99.9.0/99"))))
            assertThrows<FerrotunException.InvalidField> { pair.a.updateConfig(bad) }
        }
    }

    @Test
    fun `an invalid config fails start with InvalidField and closes the fd`() {
        FakeTun().use { tun ->
            val bad = config().copy(privateKey = "not a key")
            val e = assertThrows<FerrotunException.InvalidField> { Tunnel.start(bad, tun.tunFd, null) }
            assertEquals("privateKey", e.field)
            assertFalse(tun.send(ByteArray(20)), "the TUN fd was not closed")
        }
    }

    @Test
    fun `a negative or closed fd fails start with InvalidFd`() {
        assertThrows<FerrotunException.InvalidFd> { Tunnel.start(config(), -1, null) }
        // Closing a real fd and reusing its number would race with the JVM's own threads
        // opening files; a number far above the fd limit is never open.
        val closed = 1_000_000
        assertFalse(isOpen(closed))
        val e = assertThrows<FerrotunException.InvalidFd> { Tunnel.start(config(), closed, null) }
        assertEquals(closed, e.fd)
    }

    private fun config() = onePeerConfig("10.99.1", endpoint = null)
}

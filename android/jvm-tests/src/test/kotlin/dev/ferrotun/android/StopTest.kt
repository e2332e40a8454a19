package dev.ferrotun.android

import dev.ferrotun.FerrotunException
import dev.ferrotun.TunnelEvent
import dev.ferrotun.eventually
import dev.ferrotun.onePeerConfig
import dev.ferrotun.openFdCount
import java.util.concurrent.CountDownLatch
import java.util.concurrent.CyclicBarrier
import java.util.concurrent.TimeUnit
import kotlin.concurrent.thread
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout
import org.junit.jupiter.api.assertThrows

/**
 * `FerrotunVpn.stop()` against event consumers: the loop an app runs on
 * `nextEvent()` (or the Flow it collects) must end normally, never with
 * `IllegalStateException` from a freed Rust object.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class StopTest {
    private fun config() = onePeerConfig("10.99.3")

    @Test
    fun `stop while a coroutine loops on nextEvent ends the loop normally, 100 times in a row`() = runBlocking {
        RecordingPlatform().use { platform ->
            val vpn = FerrotunVpn(platform)
            var fdsBefore = 0
            repeat(101) { round ->
                if (round == 1) fdsBefore = openFdCount() // after one round has set up JNA, logging, the cleaner
                val session = vpn.start(config())
                val looping = CompletableDeferred<Unit>()
                val loop = async(Dispatchers.IO) {
                    val seen = mutableListOf<TunnelEvent>()
                    while (true) {
                        val event = session.nextEvent() ?: break
                        seen += event
                        looping.complete(Unit)
                    }
                    seen
                }
                // Odd rounds stop while the loop is parked in nextEvent; even rounds race its first call.
                if (round % 2 == 1) withTimeout(10_000) { looping.await() }
                stopFromAnotherThread(vpn)

                val seen = withTimeout(10_000) { loop.await() } // rethrows whatever ended the loop
                assertEquals(TunnelEvent.Stopped(null), seen.last(), "round $round: $seen")
                assertTrue(seen.first() is TunnelEvent.Started, "round $round: $seen")
                assertTrue(session.isFreed, "round $round: the Rust object outlived the end of its events")
                assertNull(session.nextEvent(), "nextEvent after the end")
                platform.tun.close()
            }
            // Every round's TUN fd and UDP socket are closed again: nothing outlives the end of the events.
            val closed = eventually(pollMs = 50) { (openFdCount() <= fdsBefore).also { if (!it) System.gc() } }
            assertTrue(closed, "fds: $fdsBefore before, ${openFdCount()} after 100 rounds")
        }
    }

    @Test
    fun `stop while a coroutine collects the events Flow completes the Flow normally, 100 times in a row`() = runBlocking {
        RecordingPlatform().use { platform ->
            val vpn = FerrotunVpn(platform)
            repeat(100) { round ->
                val session = vpn.start(config())
                val collected = async(Dispatchers.IO) { session.events.toList() }
                if (round % 2 == 1) Thread.sleep(5)
                stopFromAnotherThread(vpn)

                val events = withTimeout(10_000) { collected.await() }
                assertEquals(TunnelEvent.Stopped(null), events.last(), "round $round: $events")
                // Cold: a later collection starts from the (ended) queue and completes at once.
                assertEquals(emptyList<TunnelEvent>(), withTimeout(10_000) { session.events.toList() })
            }
        }
    }

    @Test
    fun `stop is idempotent and safe from many threads at once, and every later call is safe`() = runBlocking {
        RecordingPlatform().use { platform ->
            val vpn = FerrotunVpn(platform)
            val session = vpn.start(config())
            val loop = async(Dispatchers.IO) { session.events.toList() }

            val threads = 8
            val barrier = CyclicBarrier(threads)
            val failures = java.util.concurrent.CopyOnWriteArrayList<Throwable>()
            val workers = List(threads) { i ->
                thread {
                    barrier.await()
                    runCatching { if (i % 2 == 0) vpn.stop() else vpn.close() }.onFailure { failures += it }
                }
            }
            workers.forEach { it.join(10_000) }
            assertEquals(emptyList<Throwable>(), failures)

            assertEquals(TunnelEvent.Stopped(null), withTimeout(10_000) { loop.await() }.last())
            // After the end: no IllegalStateException from anything.
            vpn.stop()
            session.close()
            session.close()
            assertNull(session.nextEvent())
            assertThrows<FerrotunException.Stopped> { session.stats() }
            assertNull(vpn.current)
            assertEquals(1, platform.tuns.size)
        }
    }

    @Test
    fun `closing the session while a loop waits in nextEvent ends that loop with null`() = runBlocking {
        RecordingPlatform().use { platform ->
            val vpn = FerrotunVpn(platform)
            val session = vpn.start(config())
            val started = CountDownLatch(1)
            val loop = async(Dispatchers.IO) {
                var count = 0
                while (true) {
                    session.nextEvent() ?: break
                    count++
                    started.countDown()
                }
                count
            }
            assertTrue(started.await(10, TimeUnit.SECONDS))
            session.close()
            assertTrue(withTimeout(10_000) { loop.await() } >= 1)
            assertTrue(session.isFreed)
            assertNull(session.nextEvent())
            vpn.stop()
        }
    }

    @Test
    fun `a stopped tunnel can be followed by a new start`() {
        RecordingPlatform().use { platform ->
            val vpn = FerrotunVpn(platform)
            val first = vpn.start(config())
            assertThrows<IllegalStateException> { vpn.start(config()) }
            vpn.stop()
            val second = vpn.start(config())
            assertTrue(second !== first)
            assertEquals(2, platform.tuns.size)
            vpn.stop()
        }
    }

    @Test
    fun `stop during start's resolution fails the start before anything is established`() {
        RecordingPlatform().use { platform ->
            lateinit var vpn: FerrotunVpn
            var stopDuringResolve = true
            vpn = FerrotunVpn(platform, resolver = EndpointResolver { config ->
                if (stopDuringResolve) vpn.stop()
                config
            })
            val error = assertThrows<IllegalStateException> { vpn.start(config()) }
            assertTrue("stop() was called" in error.message!!, error.message)
            assertEquals(0, platform.interfaces.size)
            assertNull(vpn.current)
            stopDuringResolve = false
            vpn.start(config()) // and the helper is usable again
            vpn.stop()
        }
    }

    @Test
    fun `stop right after establish fails the start, closes the new interface and registers no network callback`() {
        RecordingPlatform().use { platform ->
            val vpn = FerrotunVpn(platform)
            platform.afterEstablish = { vpn.stop() }
            assertThrows<IllegalStateException> { vpn.start(config()) }
            assertNull(vpn.current)
            assertEquals(1, platform.tuns.size)
            // The tunnel took the fd and closed it: the interface is gone.
            assertTrue(eventuallyClosed(platform.tun), "the established TUN fd is still open")
            assertEquals(0, platform.listeners.size - platform.unwatched.size, "a network callback was left registered")
        }
    }

    @Test
    fun `stop during updateConfig's re-establish leaves no interface open, and updateConfig without a tunnel throws`() {
        RecordingPlatform().use { platform ->
            val vpn = FerrotunVpn(platform)
            assertThrows<IllegalStateException> { vpn.updateConfig(config()) }
            val first = config()
            vpn.start(first)
            platform.afterEstablish = { vpn.stop() }
            val wider = first.copy(peers = first.peers.map { it.copy(allowedIps = it.allowedIps + "10.99.9.0/24") })
            assertThrows<FerrotunException.Stopped> { vpn.updateConfig(wider) }
            assertEquals(2, platform.tuns.size)
            // swapTun owns the new fd also when the tunnel has stopped: both interfaces are closed.
            assertTrue(eventuallyClosed(platform.tuns[0]), "the first TUN fd is still open")
            assertTrue(eventuallyClosed(platform.tuns[1]), "the re-established TUN fd is still open")
            assertThrows<IllegalStateException> { vpn.updateConfig(wider) }
        }
    }

    private fun eventuallyClosed(tun: dev.ferrotun.FakeTun): Boolean {
        val packet = dev.ferrotun.Packets.udp4("10.99.3.1", "10.99.3.2", 1, 2, byteArrayOf(1))
        return eventually { !tun.send(packet) }
    }

    private fun stopFromAnotherThread(vpn: FerrotunVpn) {
        var failure: Throwable? = null
        thread { runCatching { vpn.stop() }.onFailure { failure = it } }.join(10_000)
        failure?.let { throw AssertionError("stop() threw", it) }
    }
}

package dev.ferrotun.android

import dev.ferrotun.eventually
import dev.ferrotun.onePeerConfig
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.CyclicBarrier
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import kotlin.concurrent.thread
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout

@Timeout(value = 60, unit = TimeUnit.SECONDS)
class NetworkMonitorTest {
    private val wifi = "wifi"
    private val cellular = "cellular"

    @Test
    fun `a network callback arriving after unregister is ignored, from any thread`() {
        val platform = RecordingPlatform()
        val changes = AtomicInteger()
        val monitor = NetworkMonitor(platform, debounceMs = 20) { changes.incrementAndGet() }
        monitor.start()
        val listener = platform.listeners.single()
        listener.onAvailable(wifi)
        Thread.sleep(100) // the baseline settles

        monitor.close()
        assertEquals(listOf<NetworkListener>(monitor), platform.unwatched.toList())

        // Callbacks already in flight when unregisterNetworkCallback returned, on the OS's threads.
        val threads = 4
        val barrier = CyclicBarrier(threads)
        val failures = CopyOnWriteArrayList<Throwable>()
        List(threads) { i ->
            thread {
                barrier.await()
                runCatching {
                    listener.onAvailable("$cellular$i")
                    listener.onAddressesChanged("$cellular$i", listOf("192.0.2.$i/24"))
                    listener.onLost(wifi)
                }.onFailure { failures += it }
            }
        }.forEach { it.join(5_000) }

        assertEquals(emptyList<Throwable>(), failures.toList())
        Thread.sleep(200) // well past the debounce
        assertEquals(0, changes.get(), "a change was acted on after unregister()")
        monitor.close() // idempotent
        assertEquals(1, platform.unwatched.size)
    }

    @Test
    fun `a monitor closed before it started never registers a callback`() {
        val platform = RecordingPlatform()
        val monitor = NetworkMonitor(platform) { throw AssertionError("no change expected") }
        monitor.close()
        monitor.start()
        assertEquals(0, platform.listeners.size)
        assertEquals(0, platform.unwatched.size)
    }

    @Test
    fun `a burst of callbacks for one switch makes one change after the debounce`() {
        val platform = RecordingPlatform()
        val changes = AtomicInteger()
        // Long enough that a stalled test thread on a busy machine cannot split one burst in two.
        val debounce = 1_000L
        val settled = debounce + 500
        NetworkMonitor(platform, debounceMs = debounce) { changes.incrementAndGet() }.use { monitor ->
            monitor.start()
            val listener = platform.listeners.single()
            listener.onAvailable(wifi)
            listener.onAddressesChanged(wifi, listOf("192.0.2.10/24"))
            Thread.sleep(settled)
            assertEquals(0, changes.get(), "the state at start is not a change")

            // Wi-Fi to cellular, as Android reports it.
            listener.onAvailable(cellular)
            listener.onAddressesChanged(cellular, listOf("198.51.100.7/32", "2001:db8::7/64"))
            listener.onLost(wifi)
            assertTrue(eventually(10_000) { changes.get() == 1 })
            Thread.sleep(settled)
            assertEquals(1, changes.get(), "one switch, one networkChanged()")

            // The same state again is no change; a new address is.
            listener.onAddressesChanged(cellular, listOf("2001:db8::7/64", "198.51.100.7/32"))
            Thread.sleep(settled)
            assertEquals(1, changes.get(), "same addresses in another order")
            listener.onAddressesChanged(cellular, listOf("198.51.100.8/32"))
            assertTrue(eventually(10_000) { changes.get() == 2 })
        }
    }

    @Test
    fun `a network change rebinds the running tunnel, which protects its new socket`() {
        RecordingPlatform().use { platform ->
            val vpn = FerrotunVpn(platform)
            vpn.start(onePeerConfig("10.99.4"))
            assertEquals(1, platform.protectedFds.size)
            val listener = platform.listeners.single()
            listener.onAvailable(wifi)
            Thread.sleep(NetworkMonitor.DEBOUNCE_MS + 1_000) // the state at start settles
            listener.onAvailable(cellular)
            listener.onLost(wifi)
            assertTrue(eventually(10_000) { platform.protectedFds.size >= 2 }, "networkChanged() did not rebind")

            vpn.stop()
            val protectsAtStop = platform.protectedFds.size
            assertEquals(listOf(listener), platform.unwatched.toList())
            // In flight after stop(): ignored, no exception, no rebind of the stopped tunnel.
            listener.onAvailable("ethernet")
            listener.onLost(cellular)
            Thread.sleep(NetworkMonitor.DEBOUNCE_MS + 500)
            assertEquals(protectsAtStop, platform.protectedFds.size)
            assertEquals(emptyList<String>(), platform.warnings.toList())
        }
    }
}

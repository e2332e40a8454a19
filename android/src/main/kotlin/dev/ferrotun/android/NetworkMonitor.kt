package dev.ferrotun.android

import java.util.concurrent.Executors
import java.util.concurrent.ScheduledFuture
import java.util.concurrent.TimeUnit

/**
 * Watches the device's non-VPN networks through [platform] and calls
 * [onChange] when the set of networks or their addresses changed and then
 * held still for [debounceMs]. Callbacks are handled on a private thread,
 * never on the OS callback thread.
 *
 * Android may deliver a callback that was already in flight after
 * `unregisterNetworkCallback` returned; after [close] such a callback is
 * ignored (it is never handed to the closed executor, which would throw
 * `RejectedExecutionException` on the OS's thread and crash the app).
 */
internal class NetworkMonitor(
    private val platform: VpnPlatform,
    private val debounceMs: Long = DEBOUNCE_MS,
    private val onChange: () -> Unit,
) : NetworkListener, AutoCloseable {
    private val lock = Any()
    private var closed = false // guarded by lock
    private var watching = false // guarded by lock
    private val executor = Executors.newSingleThreadScheduledExecutor { Thread(it, "ferrotun-netmon").apply { isDaemon = true } }

    // Touched only on the executor's thread.
    private val networks = HashMap<Any, List<String>>()
    private var baseline: Map<Any, List<String>>? = null
    private var pending: ScheduledFuture<*>? = null

    /** Starts watching; does nothing once [close]d (a stop() that raced the start). */
    fun start() {
        synchronized(lock) {
            if (closed || watching) return
            watching = true
            platform.watchNetworks(this)
        }
    }

    override fun onAvailable(network: Any) = update { networks.putIfAbsent(network, emptyList()) }

    override fun onAddressesChanged(network: Any, addresses: List<String>) =
        update { networks[network] = addresses.sorted() }

    override fun onLost(network: Any) = update { networks.remove(network) }

    /**
     * Stops watching. Idempotent; callbacks arriving later are ignored, and a
     * rebind already running is waited for (at most [CLOSE_WAIT_MS]).
     */
    override fun close() {
        val wasWatching = synchronized(lock) {
            if (closed) return
            closed = true
            watching
        }
        if (wasWatching) {
            runCatching { platform.unwatchNetworks(this) }
                .onFailure { platform.warn("unregistering the network callback failed", it) }
        }
        executor.shutdownNow()
        // A rebind already running finishes first (bounded), so none runs after close() returns.
        if (!executor.awaitTermination(CLOSE_WAIT_MS, TimeUnit.MILLISECONDS)) {
            platform.warn("a networkChanged() call still runs after ${CLOSE_WAIT_MS} ms")
        }
    }

    private fun update(change: () -> Unit) {
        // Checked and submitted under the lock, so close() cannot shut the executor down in between.
        synchronized(lock) {
            if (closed) return
            executor.execute {
                change()
                pending?.cancel(false)
                synchronized(lock) {
                    if (!closed) pending = executor.schedule(::settle, debounceMs, TimeUnit.MILLISECONDS)
                }
            }
        }
    }

    private fun settle() {
        val snapshot = HashMap(networks)
        val previous = baseline
        baseline = snapshot
        // The first settled snapshot is the state at start: nothing changed yet.
        // No network at all: nothing to rebind to; the next network that appears is a change.
        if (previous == null || previous == snapshot || snapshot.isEmpty()) return
        if (synchronized(lock) { closed }) return
        try {
            onChange()
        } catch (e: Exception) {
            // A failed rebind stops the tunnel; the app sees TunnelEvent.Stopped with the reason.
            platform.warn("networkChanged failed: ${e.message}")
        }
    }

    companion object {
        /** Android reports one switch as several callbacks within a few hundred ms. */
        const val DEBOUNCE_MS = 500L

        /** How long [close] waits for a running rebind (which joins the tunnel's event loop, normally milliseconds). */
        const val CLOSE_WAIT_MS = 2_000L
    }
}

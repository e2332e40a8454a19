package dev.ferrotun.android

import dev.ferrotun.FerrotunException
import dev.ferrotun.Tunnel
import dev.ferrotun.TunnelConfig
import dev.ferrotun.TunnelEvent
import dev.ferrotun.TunnelStats
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicLong
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.flow

/**
 * One running [Tunnel], as [FerrotunVpn.start] hands it to the app.
 *
 * Unlike the generated [Tunnel], every call here is safe at any time from any
 * thread, also after the tunnel stopped and after [close]: nothing throws
 * `IllegalStateException` because the Rust object was already freed.
 *
 * **Who frees the Rust object.** The generated object must not be freed while
 * someone may still call it, and an event loop may call [nextEvent] at any
 * moment. So the session keeps the object alive until the event stream has
 * ended ([nextEvent] returned `null`: the consumer saw `Stopped` and is done)
 * or the app calls [close]; a call in flight when either happens still
 * finishes on the live object, and the object is freed when the last such
 * call returns. After that, [nextEvent] returns `null` and [events] completes.
 * A session nobody reads events from and nobody closes is freed by the
 * bindings' cleaner once it is garbage collected; a stopped tunnel holds no
 * thread, socket or fd by then, only memory.
 *
 * **Events are a single queue.** [nextEvent] and [events] take events from
 * the same queue: with two consumers, each event goes to one of them. Have
 * one consumer (a coroutine looping on [nextEvent], or one collector of
 * [events]).
 */
class TunnelSession internal constructor(private val tunnel: Tunnel) : AutoCloseable {
    /** 1 for the session's own hold on [tunnel], plus one per call in flight; 0 once freed. */
    private val holds = AtomicLong(1)
    private val ownHoldReleased = AtomicBoolean(false)

    /** The UDP port the tunnel is bound to (read once at start, so it stays readable after the end). */
    val listenPort: UShort = tunnel.listenPort()

    /**
     * Waits for the next event. After the tunnel stops: the events still
     * queued, then `Stopped`, then `null` forever; `null` also once the
     * session is [close]d. Never throws for a stopped or closed tunnel.
     *
     * @throws FerrotunException.Internal only for a bug in Ferrotun.
     */
    suspend fun nextEvent(): TunnelEvent? {
        if (!acquire()) return null
        val event = try {
            tunnel.nextEvent()
        } finally {
            release()
        }
        // The end of the stream: the consumer is done, so the session's own hold goes.
        if (event == null) releaseOwnHold()
        return event
    }

    /**
     * The events as a cold [Flow]: each collection pulls with [nextEvent]
     * (so it shares [nextEvent]'s single queue) and completes normally after
     * `Stopped`, or at once when the stream already ended or the session is
     * closed. Cancelling the collector cancels the pending pull only; the
     * tunnel keeps running.
     */
    val events: Flow<TunnelEvent> = flow {
        while (true) emit(nextEvent() ?: break)
    }

    /**
     * A snapshot of the counters.
     *
     * @throws FerrotunException.Stopped when the tunnel has stopped.
     */
    fun stats(): TunnelStats = withTunnel { it.stats() } ?: throw FerrotunException.Stopped()

    /** Whether the Rust object is freed (the stream ended or [close] was called, and no call is in flight). */
    val isFreed: Boolean get() = holds.get() == 0L

    /**
     * Stops the tunnel (closes its socket and TUN fd, joins its threads; a
     * few milliseconds). Idempotent, safe from any thread, a no-op once freed.
     * Event consumers get the remaining events, `Stopped`, and the end.
     */
    internal fun stop() {
        withTunnel { it.stop() }
    }

    /** [Tunnel.updateConfig]. @throws FerrotunException.Stopped when the tunnel has stopped. */
    internal fun updateConfig(config: TunnelConfig) {
        withTunnel { it.updateConfig(config) } ?: throw FerrotunException.Stopped()
    }

    /** [Tunnel.networkChanged]. @throws FerrotunException.Stopped when the tunnel has stopped. */
    internal fun networkChanged() {
        withTunnel { it.networkChanged() } ?: throw FerrotunException.Stopped()
    }

    /**
     * Moves the tunnel onto the fd that [newFd] returns ([Tunnel.swapTun],
     * which owns that fd from then on, also when it throws). [newFd] runs
     * only while the tunnel object is alive, so a fd is never created for a
     * freed tunnel and left open.
     *
     * @throws FerrotunException.Stopped when the tunnel has stopped.
     */
    internal fun swapTun(newFd: () -> Int) {
        withTunnel { it.swapTun(newFd()) } ?: throw FerrotunException.Stopped()
    }

    /**
     * Lets go of the session: stops the tunnel, and the Rust object is freed
     * as soon as no call is in flight. A consumer still looping on
     * [nextEvent] then gets `null`, possibly before `Stopped`. Call it when
     * nothing reads events any more, or leave it to the end of the event
     * stream. Idempotent.
     */
    override fun close() {
        stop()
        releaseOwnHold()
    }

    /** Runs [block] on the live tunnel, or returns null when it is freed. */
    private inline fun <R> withTunnel(block: (Tunnel) -> R): R? {
        if (!acquire()) return null
        try {
            return block(tunnel)
        } finally {
            release()
        }
    }

    private fun acquire(): Boolean {
        while (true) {
            val count = holds.get()
            if (count == 0L) return false
            if (holds.compareAndSet(count, count + 1)) return true
        }
    }

    private fun release() {
        if (holds.decrementAndGet() == 0L) tunnel.close()
    }

    private fun releaseOwnHold() {
        if (ownHoldReleased.compareAndSet(false, true)) release()
    }
}

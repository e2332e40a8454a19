package dev.ferrotun.android

import dev.ferrotun.FerrotunException
import dev.ferrotun.SocketProtector
import dev.ferrotun.Tunnel
import dev.ferrotun.TunnelConfig

/**
 * Runs one Ferrotun [Tunnel] inside a `VpnService`. On Android create it with
 * `FerrotunVpn(service)` (see `AndroidVpnPlatform`); the logic here only
 * talks to a [VpnPlatform], so it runs and is tested on a plain JVM.
 *
 * [start] does, in this order:
 * 1. resolves the peers' host-name endpoints ([resolver]), while the device's
 *    own network still answers DNS: once the VPN is up, lookups would go into
 *    a tunnel that is not running yet;
 * 2. turns the resolved config into interface settings and hands them to a
 *    fresh builder: addresses, routes, DNS servers and search domains, MTU,
 *    `allowFamily` for families left to the system, `setMetered(false)`,
 *    `setUnderlyingNetworks(null)`; the app's own builder settings last;
 * 3. `establish()`es the interface and gives the fd to [Tunnel.start], which
 *    owns it from then on and protects its UDP socket through
 *    [VpnPlatform.protect];
 * 4. watches the device's networks and calls `networkChanged()` after a
 *    change (debounced, on its own thread).
 *
 * All calls are thread-safe. [start] and [updateConfig] block (DNS, socket
 * setup): call them off the main thread. [stop] is quick (it joins the
 * tunnel's threads, a few milliseconds) and may be called from any thread,
 * any number of times, also while [start] is running.
 */
class FerrotunVpn(
    private val platform: VpnPlatform,
    private val resolver: EndpointResolver = EndpointResolver.NONE,
) : AutoCloseable {
    /** Serializes [start] and [updateConfig]; never held by [stop]. */
    private val configLock = Any()

    /** Guards [running] and [stops]; held only for field updates. */
    private val stateLock = Any()
    private var running: Running? = null

    /** Bumped by every [stop], so that a [start] in progress notices it was cancelled. */
    private var stops = 0L

    private class Running(val session: TunnelSession, val monitor: NetworkMonitor)

    /** The running session, if any. */
    val current: TunnelSession? get() = synchronized(stateLock) { running?.session }

    /**
     * Resolves, establishes and starts a tunnel for [config] (see the class
     * doc for the steps). Blocks: call it off the main thread.
     *
     * @return the session: its events, stats, and the end of both.
     * @throws FerrotunException when an endpoint does not resolve
     *   ([FerrotunException.Resolve], nothing established then) or the tunnel
     *   cannot start (the interface is closed again).
     * @throws IllegalStateException when a tunnel is already running, when
     *   [stop] was called while this start was in progress, or when
     *   `establish()` returned null (the app is not the prepared VPN app:
     *   call `VpnService.prepare()` first).
     */
    fun start(config: TunnelConfig, session: String = "Ferrotun"): TunnelSession = synchronized(configLock) {
        val stopsAtStart = synchronized(stateLock) {
            check(running == null) { "a tunnel is already running; stop() it first" }
            stops
        }
        val resolved = resolver.resolve(config)
        checkNotStopped(stopsAtStart)
        val fd = establish(resolved, session)
        // The tunnel owns the fd from here on and closes it when start fails too.
        val tunnel = Tunnel.start(resolved, fd, PlatformProtector(platform))
        val started = TunnelSession(tunnel)
        val monitor = NetworkMonitor(platform) { started.networkChanged() }
        synchronized(stateLock) {
            if (stops != stopsAtStart) {
                started.close()
                throw IllegalStateException("stop() was called while the tunnel was starting")
            }
            running = Running(started, monitor)
        }
        monitor.start()
        started
    }

    /**
     * Applies a new config to the running tunnel: resolves its endpoints
     * first, then updates the peers (unchanged peers keep their sessions).
     *
     * @throws FerrotunException for a bad config or unresolvable endpoint
     *   (the tunnel keeps its old config then), or [FerrotunException.Stopped].
     * @throws IllegalStateException when no tunnel is running.
     */
    fun updateConfig(config: TunnelConfig) = synchronized(configLock) {
        val session = current ?: throw IllegalStateException("no tunnel is running")
        val resolved = resolver.resolve(config)
        session.updateConfig(resolved)
    }

    /**
     * Stops the tunnel and the network watching. Idempotent, never blocks
     * for long, safe from any thread (`onRevoke`, `onDestroy`, a UI thread),
     * also while [start] or [updateConfig] runs: a start in progress then
     * fails and leaves nothing running.
     *
     * Event consumers are not cut off: a coroutine looping on
     * [TunnelSession.nextEvent] or collecting [TunnelSession.events] gets the
     * remaining events, `Stopped`, and then its loop ends normally.
     */
    fun stop() {
        val stopped = synchronized(stateLock) {
            stops++
            running.also { running = null }
        } ?: return
        stopped.monitor.close()
        stopped.session.stop()
    }

    /** [stop]. The session's Rust object is freed when its event stream ends or the app closes it. */
    override fun close() = stop()

    private fun checkNotStopped(stopsAtStart: Long) = synchronized(stateLock) {
        check(stops == stopsAtStart) { "stop() was called while the tunnel was starting" }
    }

    /** Builds the interface for [config] and establishes it; returns the detached TUN fd. */
    private fun establish(config: TunnelConfig, session: String): Int {
        val builder = platform.newInterface()
        builder.setSession(session)
        builder.setMtu(config.mtu?.toInt() ?: DEFAULT_MTU)
        for (address in config.addresses) {
            val (ip, prefix) = address.split('/')
            builder.addAddress(ip, prefix.toInt())
        }
        for (route in config.peers.flatMap { it.allowedIps }.distinct()) {
            val (ip, prefix) = route.split('/')
            builder.addRoute(ip, prefix.toInt())
        }
        config.dns.forEach(builder::addDnsServer)
        config.dnsSearch.forEach(builder::addSearchDomain)
        builder.setMetered(false)
        builder.followDefaultNetwork()
        return builder.establish()
            ?: throw IllegalStateException("establish() returned null: call VpnService.prepare() first")
    }

    companion object {
        /**
         * The MTU when the config has none: 1280, as the WireGuard Android and
         * iOS apps use, the IPv6 minimum, which also fits the tunnel's own
         * overhead (80 bytes over IPv6) on mobile links with small MTUs.
         */
        const val DEFAULT_MTU = 1280
    }
}

/** Resolves a config's host-name endpoints to addresses, before the VPN is up. */
fun interface EndpointResolver {
    /**
     * [config] with every peer's endpoint as a numeric `address:port`.
     *
     * @throws FerrotunException.Resolve naming the peer's host when a name does not resolve.
     */
    fun resolve(config: TunnelConfig): TunnelConfig

    companion object {
        /** Leaves the config as it is. */
        val NONE = EndpointResolver { it }
    }
}

/** Protects sockets through [VpnPlatform.protect], keeping the tunnel's own traffic out of the tunnel. */
private class PlatformProtector(private val platform: VpnPlatform) : SocketProtector {
    override fun protect(fd: Int): Boolean = platform.protect(fd)
}

package dev.ferrotun.android

import dev.ferrotun.FamilyMode
import dev.ferrotun.FerrotunException
import dev.ferrotun.InterfaceSettings
import dev.ferrotun.SettingsOptions
import dev.ferrotun.SocketProtector
import dev.ferrotun.Tunnel
import dev.ferrotun.TunnelConfig
import dev.ferrotun.androidSettingsOptions
import dev.ferrotun.interfaceSettings
import dev.ferrotun.resolveEndpoints

/**
 * Runs one Ferrotun [Tunnel] inside a `VpnService`. On Android create it with
 * `FerrotunVpn(service)` (see `AndroidVpnPlatform.kt`); the logic here only
 * talks to a [VpnPlatform], so it runs and is tested on a plain JVM.
 *
 * [start] does, in this order:
 * 1. resolves the peers' host-name endpoints ([resolver], by default the
 *    core's [resolveEndpoints]) while the device's own network still carries
 *    DNS: once the VPN is up, lookups would go into a tunnel not running yet;
 * 2. computes the interface settings in the core ([interfaceSettings] with
 *    [options], by default [androidSettingsOptions]: MTU 1280 unless the
 *    config sets one, families no peer routes left to the system) and hands
 *    them to a fresh builder one to one: MTU, each family's addresses and
 *    routes, `allowFamily` for a family left to the system, DNS servers and
 *    search domains, then `setMetered(false)` and `setUnderlyingNetworks(null)`;
 *    the app's own builder settings come last;
 * 3. `establish()`es the interface and gives the fd to [Tunnel.start], which
 *    owns it from then on and protects each of its UDP sockets (the
 *    listening one, and one connected to a sole peer once it answers) through
 *    [VpnPlatform.protect] before that socket's first packet;
 * 4. watches the device's networks and calls `networkChanged()` after a
 *    change (debounced, on its own thread).
 *
 * [updateConfig] resolves, updates the peers and, when the settings changed,
 * establishes a new interface and swaps the tunnel onto it. [stop] ends it all.
 *
 * In `VpnService.onRevoke()` the system has already deactivated the interface
 * (the user turned the VPN off, or another VPN app took over): call [stop],
 * then `super.onRevoke()`, which stops the service. Call [stop] in
 * `onDestroy()` too.
 *
 * All calls are thread-safe. [start] and [updateConfig] block (DNS, socket
 * setup): call them off the main thread. [stop] is quick (it joins the
 * tunnel's threads, and a network rebind already running, normally
 * milliseconds) and may be called from any thread, any number of times,
 * also while [start] is running.
 */
class FerrotunVpn(
    private val platform: VpnPlatform,
    private val options: SettingsOptions = androidSettingsOptions(),
    private val resolver: EndpointResolver = EndpointResolver.SYSTEM,
) : AutoCloseable {
    /** Serializes [start] and [updateConfig]; never held by [stop]. */
    private val configLock = Any()

    /** Guards [running] and [stops]; held only for field updates. */
    private val stateLock = Any()
    private var running: Running? = null

    /** Bumped by every [stop], so that a [start] in progress notices it was cancelled. */
    private var stops = 0L

    private class Running(val session: TunnelSession, val monitor: NetworkMonitor, val sessionName: String) {
        /** What the current interface was established with; written under configLock. */
        @Volatile var settings: InterfaceSettings? = null
    }

    /** The running session, if any. */
    val current: TunnelSession? get() = synchronized(stateLock) { running?.session }

    /** The settings the running tunnel's interface was established with, if any. */
    val currentSettings: InterfaceSettings? get() = synchronized(stateLock) { running?.settings }

    /**
     * Resolves, establishes and starts a tunnel for [config] (see the class
     * doc for the steps). Blocks: call it off the main thread.
     *
     * @param session the name the system shows for the VPN.
     * @return the session: its events, stats, and the end of both.
     * @throws FerrotunException [FerrotunException.Resolve] when an endpoint
     *   does not resolve (nothing is established then), a bad config, or
     *   when the tunnel cannot start (the interface is closed again).
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
        val settings = interfaceSettings(resolved, options)
        checkNotStopped(stopsAtStart)
        val fd = establish(settings, session)
        // The tunnel owns the fd from here on and closes it when start fails too.
        val tunnel = Tunnel.start(resolved, fd, PlatformProtector(platform))
        val started = TunnelSession(tunnel)
        val monitor = synchronized(stateLock) {
            if (stops != stopsAtStart) {
                started.close()
                throw IllegalStateException("stop() was called while the tunnel was starting")
            }
            val monitor = NetworkMonitor(platform) { started.networkChanged() }
            running = Running(started, monitor, session).also { it.settings = settings }
            monitor
        }
        try {
            monitor.start()
        } catch (e: RuntimeException) {
            stop()
            throw e
        }
        started
    }

    /**
     * Applies a new config to the running tunnel: resolves its endpoints,
     * updates the peers (unchanged peers keep their sessions) and, when the
     * interface settings changed (new AllowedIPs, addresses, DNS, MTU),
     * establishes a new interface and moves the tunnel onto its fd
     * ([Tunnel.swapTun]: sessions and queued packets are kept, the old
     * interface goes away). Blocks: call it off the main thread.
     *
     * @throws FerrotunException for a bad config or an unresolvable endpoint
     *   (nothing changed then), or [FerrotunException.Stopped].
     * @throws IllegalStateException when no tunnel is running, or when
     *   `establish()` returned null (the VPN was revoked; the tunnel keeps
     *   the new peers on the old interface).
     */
    fun updateConfig(config: TunnelConfig): Unit = synchronized(configLock) {
        val run = synchronized(stateLock) { running } ?: throw IllegalStateException("no tunnel is running")
        val resolved = resolver.resolve(config)
        val settings = interfaceSettings(resolved, options)
        // Peers first: once the new interface routes their AllowedIPs here, they have somewhere to go.
        run.session.updateConfig(resolved)
        if (settings != run.settings) {
            run.session.swapTun { establish(settings, run.sessionName) }
            run.settings = settings
        }
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

    /**
     * Hands [settings] to a fresh builder, one call per item, and
     * establishes the interface; returns the detached TUN fd.
     */
    private fun establish(settings: InterfaceSettings, session: String): Int {
        val builder = platform.newInterface()
        builder.setSession(session)
        builder.setMtu(settings.mtu.toInt())
        for ((family, rules) in listOf(AddressFamily.IPV4 to settings.ipv4, AddressFamily.IPV6 to settings.ipv6)) {
            rules.addresses.forEach { builder.addAddress(it.address, it.prefixLen.toInt()) }
            rules.routes.forEach { builder.addRoute(it.address, it.prefixLen.toInt()) }
            // ROUTED has routes; BLOCKED has neither routes nor (on Android) addresses, which
            // makes Android block the family; only LEFT_TO_SYSTEM must be allowed explicitly.
            if (rules.mode == FamilyMode.LEFT_TO_SYSTEM) builder.allowFamily(family)
        }
        settings.dnsServers.forEach(builder::addDnsServer)
        settings.dnsSearchDomains.forEach(builder::addSearchDomain)
        // Android 10+ treats a VPN as metered unless told otherwise; following the
        // default network makes it as metered as the network the tunnel runs over.
        builder.setMetered(false)
        builder.followDefaultNetwork()
        return builder.establish()
            ?: throw IllegalStateException("establish() returned null: call VpnService.prepare() first")
    }
}

/** Resolves a config's host-name endpoints to addresses, before the VPN is up. */
fun interface EndpointResolver {
    /**
     * [config] with every peer's `resolvedEndpoint` set to a numeric `address:port`.
     *
     * @throws FerrotunException.Resolve naming the peer's host when a name does not resolve.
     */
    fun resolve(config: TunnelConfig): TunnelConfig

    companion object {
        /**
         * The core's [resolveEndpoints]: the system resolver (DNS64/NAT64
         * synthesized addresses work), bounded retries; blocks.
         */
        val SYSTEM = EndpointResolver { resolveEndpoints(it) }
    }
}

/** Protects sockets through [VpnPlatform.protect], keeping the tunnel's own traffic out of the tunnel. */
private class PlatformProtector(private val platform: VpnPlatform) : SocketProtector {
    override fun protect(fd: Int): Boolean = platform.protect(fd)
}

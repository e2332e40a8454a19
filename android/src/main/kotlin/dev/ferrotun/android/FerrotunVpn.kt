package dev.ferrotun.android

import android.net.ConnectivityManager
import android.net.LinkProperties
import android.net.Network
import android.net.NetworkCapabilities
import android.net.NetworkRequest
import android.net.VpnService
import android.util.Log
import dev.ferrotun.FerrotunException
import dev.ferrotun.SocketProtector
import dev.ferrotun.Tunnel
import dev.ferrotun.TunnelConfig
import java.net.InetAddress
import java.util.concurrent.Executors
import java.util.concurrent.ScheduledFuture
import java.util.concurrent.TimeUnit

/**
 * Runs one Ferrotun [Tunnel] inside a [VpnService]:
 *
 * 1. builds the VPN interface from the [TunnelConfig]: its addresses, a route
 *    for every peer's allowed IPs, its DNS servers and search domains, its MTU;
 * 2. calls [VpnService.Builder.establish] and hands the fd to [Tunnel.start]
 *    with [android.os.ParcelFileDescriptor.detachFd] (the tunnel owns and closes it);
 * 3. protects the tunnel's UDP socket through [VpnService.protect];
 * 4. calls [Tunnel.networkChanged] when the device's non-VPN networks change
 *    (Wi-Fi to cellular, a new address), debounced, off the callback thread.
 *
 * Call [start] and [stop] off the main thread: they do socket setup, maybe a
 * DNS lookup for host-name endpoints, and join threads.
 *
 * ```
 * class MyVpnService : VpnService() {
 *     private val vpn = FerrotunVpn(this)
 *     fun connect(text: String) = thread {
 *         val tunnel = vpn.start(parseWgQuick(text))
 *         runBlocking { while (true) { val event = tunnel.nextEvent() ?: break; Log.i("vpn", "$event") } }
 *     }
 *     override fun onRevoke() = vpn.stop()
 * }
 * ```
 */
class FerrotunVpn(private val service: VpnService) : AutoCloseable {
    private val lock = Any()
    private var tunnel: Tunnel? = null
    private var monitor: NetworkMonitor? = null

    /** The running tunnel, if any. */
    val current: Tunnel? get() = synchronized(lock) { tunnel }

    /**
     * Establishes the VPN interface for [config] and starts a tunnel on it.
     * [customize] may adjust the builder further (allowed/disallowed apps,
     * `setBlocking`, metered, ...) before `establish()`.
     *
     * @throws FerrotunException when the tunnel cannot start (the interface is closed again).
     * @throws IllegalStateException when a tunnel is already running or the
     *   app is not (or no longer) the prepared VPN app (`establish()` returned null).
     * @throws IllegalArgumentException when the config's addresses or routes are unusable for Android.
     */
    fun start(
        config: TunnelConfig,
        session: String = "Ferrotun",
        customize: VpnService.Builder.() -> Unit = {},
    ): Tunnel {
        synchronized(lock) {
            check(tunnel == null) { "a tunnel is already running; stop() it first" }
            val builder = service.Builder().setSession(session).setMtu(config.mtu?.toInt() ?: DEFAULT_MTU)
            for (address in config.addresses) {
                val (ip, prefix) = parsePrefix(address)
                builder.addAddress(ip, prefix)
            }
            for (route in config.peers.flatMap { it.allowedIps }.distinct()) {
                val (ip, prefix) = parsePrefix(route)
                builder.addRoute(networkAddress(ip, prefix), prefix)
            }
            config.dns.forEach { builder.addDnsServer(it) }
            config.dnsSearch.forEach { builder.addSearchDomain(it) }
            builder.customize()

            val pfd = builder.establish()
                ?: throw IllegalStateException("establish() returned null: call VpnService.prepare() first")
            // detachFd: the tunnel owns the fd from here on, and closes it on failure too.
            val started = Tunnel.start(config, pfd.detachFd(), VpnServiceProtector(service))
            tunnel = started
            monitor = NetworkMonitor(service, started).also { it.register() }
            return started
        }
    }

    /** Stops the tunnel (closing the VPN interface) and the network monitoring. Idempotent. */
    fun stop() {
        val (t, m) = synchronized(lock) {
            val pair = tunnel to monitor
            tunnel = null
            monitor = null
            pair
        }
        m?.unregister()
        t?.let {
            runCatching { it.stop() }.onFailure { e -> Log.w(TAG, "stop failed", e) }
            it.close()
        }
    }

    override fun close() = stop()

    companion object {
        private const val TAG = "Ferrotun"

        /** The wg-quick default MTU, used when the config has none. */
        const val DEFAULT_MTU = 1420

        /** Splits `"10.0.0.2/32"` (or a bare address) into the address and prefix length. */
        fun parsePrefix(text: String): Pair<InetAddress, Int> {
            val parts = text.trim().split('/', limit = 2)
            val ip = InetAddress.getByName(parts[0])
            val max = ip.address.size * 8
            val prefix = parts.getOrNull(1)?.toIntOrNull() ?: max
            require(prefix in 0..max) { "bad prefix length in $text" }
            return ip to prefix
        }

        /** [ip] with the host bits cleared, as `VpnService.Builder.addRoute` requires. */
        fun networkAddress(ip: InetAddress, prefix: Int): InetAddress {
            val bytes = ip.address
            for (i in bytes.indices) {
                val keep = (prefix - i * 8).coerceIn(0, 8)
                bytes[i] = (bytes[i].toInt() and (0xff shl (8 - keep))).toByte()
            }
            return InetAddress.getByAddress(bytes)
        }
    }
}

/** Protects sockets through [VpnService.protect], keeping tunnel traffic out of the tunnel. */
class VpnServiceProtector(private val service: VpnService) : SocketProtector {
    override fun protect(fd: Int): Boolean = service.protect(fd)
}

/**
 * Watches the device's non-VPN networks and calls [Tunnel.networkChanged]
 * when the set of networks or their addresses change. Changes are debounced
 * ([DEBOUNCE_MS]) and handled on a private thread, never on the
 * ConnectivityManager callback thread.
 */
internal class NetworkMonitor(service: VpnService, private val tunnel: Tunnel) {
    private val connectivity = service.getSystemService(ConnectivityManager::class.java)
    private val executor = Executors.newSingleThreadScheduledExecutor { Thread(it, "ferrotun-netmon") }
    private val networks = HashMap<Network, List<String>>()
    private var baseline: Map<Network, List<String>>? = null
    private var pending: ScheduledFuture<*>? = null

    private val callback = object : ConnectivityManager.NetworkCallback() {
        override fun onAvailable(network: Network) = update { networks.putIfAbsent(network, emptyList()) }

        override fun onLinkPropertiesChanged(network: Network, properties: LinkProperties) =
            update { networks[network] = properties.linkAddresses.map { it.toString() }.sorted() }

        override fun onLost(network: Network) = update { networks.remove(network) }
    }

    fun register() {
        val request = NetworkRequest.Builder()
            .addCapability(NetworkCapabilities.NET_CAPABILITY_INTERNET)
            .addCapability(NetworkCapabilities.NET_CAPABILITY_NOT_VPN)
            .build()
        connectivity.registerNetworkCallback(request, callback)
    }

    fun unregister() {
        runCatching { connectivity.unregisterNetworkCallback(callback) }
        executor.shutdownNow()
    }

    private fun update(change: () -> Unit) {
        executor.execute {
            change()
            pending?.cancel(false)
            pending = executor.schedule(::settle, DEBOUNCE_MS, TimeUnit.MILLISECONDS)
        }
    }

    private fun settle() {
        val snapshot = HashMap(networks)
        val previous = baseline
        baseline = snapshot
        // The first settled snapshot is the state at start: nothing changed yet.
        if (previous == null || previous == snapshot || snapshot.isEmpty()) return
        try {
            tunnel.networkChanged()
        } catch (e: FerrotunException) {
            // ProtectFailed stops the tunnel; the app sees TunnelEvent.Stopped with the reason.
            Log.w("Ferrotun", "networkChanged failed: ${e.message}")
        }
    }

    companion object {
        const val DEBOUNCE_MS = 500L
    }
}

package dev.ferrotun.android

/**
 * The few Android calls [FerrotunVpn] makes, so that its logic runs (and is
 * tested) on a plain JVM. `AndroidVpnPlatform` implements it on a
 * `VpnService`; tests use a recording fake.
 */
interface VpnPlatform {
    /** A fresh interface builder (`VpnService.Builder`): one per `establish()`. */
    fun newInterface(): InterfaceBuilder

    /** `VpnService.protect(fd)`: keeps the socket's traffic out of the VPN. */
    fun protect(fd: Int): Boolean

    /**
     * Starts calling [listener] about the device's non-VPN networks that have
     * internet access. Calls may come from any thread, also after
     * [unwatchNetworks] returned (Android delivers callbacks already in flight).
     */
    fun watchNetworks(listener: NetworkListener)

    /** Stops the calls to [listener] as far as the OS allows; safe to call twice. */
    fun unwatchNetworks(listener: NetworkListener)

    /** Logs a warning (logcat on Android). */
    fun warn(message: String, error: Throwable? = null)
}

/** An IP address family, as `VpnService.Builder.allowFamily` takes it. */
enum class AddressFamily { IPV4, IPV6 }

/**
 * The calls [FerrotunVpn] makes on a `VpnService.Builder`, one to one.
 * Addresses are numeric strings (the builder's own `String` overloads).
 */
interface InterfaceBuilder {
    /** `setSession`: the name shown in the system's VPN dialog. */
    fun setSession(name: String)

    /** `setMtu`. */
    fun setMtu(mtu: Int)

    /** `addAddress`: an address of the interface. */
    fun addAddress(address: String, prefixLength: Int)

    /** `addRoute`: [address] is the network address (host bits clear). */
    fun addRoute(address: String, prefixLength: Int)

    /** `addDnsServer`. */
    fun addDnsServer(address: String)

    /** `addSearchDomain`. */
    fun addSearchDomain(domain: String)

    /**
     * `allowFamily`: apps may use [family] outside the VPN. Without it (and
     * without an address or route of that family) Android blocks the family
     * for every app behind the VPN.
     */
    fun allowFamily(family: AddressFamily)

    /** `setMetered` (API 29+; earlier versions have no such setting and ignore it). */
    fun setMetered(metered: Boolean)

    /**
     * `setUnderlyingNetworks(null)`: the VPN follows the system's default
     * network, so its transport type and meteredness are those of Wi-Fi or
     * cellular, whichever carries the tunnel.
     */
    fun followDefaultNetwork()

    /**
     * `establish()` plus `ParcelFileDescriptor.detachFd()`: the new TUN fd,
     * owned by the caller from now on, or null when the app is not (or no
     * longer) the prepared VPN app. A successful establish replaces the
     * previous interface of this app.
     */
    fun establish(): Int?
}

/**
 * What [VpnPlatform.watchNetworks] reports, from
 * `ConnectivityManager.NetworkCallback`. [network] is an opaque identity
 * (`android.net.Network`) that stays equal for one network.
 */
interface NetworkListener {
    /** A network appeared. */
    fun onAvailable(network: Any)

    /** A network's addresses are now [addresses] (`LinkProperties.linkAddresses`, as text). */
    fun onAddressesChanged(network: Any, addresses: List<String>)

    /** A network went away. */
    fun onLost(network: Any)
}

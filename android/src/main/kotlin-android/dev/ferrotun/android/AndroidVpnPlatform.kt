package dev.ferrotun.android

import android.net.ConnectivityManager
import android.net.LinkProperties
import android.net.Network
import android.net.NetworkCapabilities
import android.net.NetworkRequest
import android.net.VpnService
import android.os.Build
import android.system.OsConstants
import android.util.Log
import dev.ferrotun.SettingsOptions
import dev.ferrotun.androidSettingsOptions
import java.util.concurrent.ConcurrentHashMap

/**
 * A [FerrotunVpn] for [service]. [options] are the core's settings options
 * (e.g. `androidSettingsOptions().copy(unroutedFamily = UnroutedFamily.BLOCK)`
 * to block, rather than leave to the system, an address family no peer
 * routes). [customize] runs on every `VpnService.Builder` right before
 * `establish()` (also when [FerrotunVpn.updateConfig] re-establishes), after
 * Ferrotun's own settings, so it can add to them or override them: allowed or
 * disallowed apps, `setBlocking`, `setMetered(true)`, `setConfigureIntent`,
 * an HTTP proxy.
 *
 * ```
 * class MyVpnService : VpnService() {
 *     private val vpn = FerrotunVpn(this) { addDisallowedApplication("com.example.bypass") }
 * }
 * ```
 */
fun FerrotunVpn(
    service: VpnService,
    options: SettingsOptions = androidSettingsOptions(),
    customize: VpnService.Builder.() -> Unit = {},
): FerrotunVpn = FerrotunVpn(AndroidVpnPlatform(service, customize), options)

/** [VpnPlatform] on a real [VpnService]: its builder, `protect`, and the ConnectivityManager. */
class AndroidVpnPlatform(
    private val service: VpnService,
    private val customize: VpnService.Builder.() -> Unit = {},
) : VpnPlatform {
    private val connectivity: ConnectivityManager = service.getSystemService(ConnectivityManager::class.java)
    private val callbacks = ConcurrentHashMap<NetworkListener, ConnectivityManager.NetworkCallback>()

    override fun newInterface(): InterfaceBuilder = AndroidInterfaceBuilder(service.Builder(), customize)

    override fun protect(fd: Int): Boolean = service.protect(fd)

    override fun watchNetworks(listener: NetworkListener) {
        val callback = object : ConnectivityManager.NetworkCallback() {
            override fun onAvailable(network: Network) = listener.onAvailable(network)

            override fun onLinkPropertiesChanged(network: Network, properties: LinkProperties) =
                listener.onAddressesChanged(network, properties.linkAddresses.map { it.toString() })

            override fun onLost(network: Network) = listener.onLost(network)
        }
        val request = NetworkRequest.Builder()
            .addCapability(NetworkCapabilities.NET_CAPABILITY_INTERNET)
            .addCapability(NetworkCapabilities.NET_CAPABILITY_NOT_VPN)
            .build()
        callbacks[listener] = callback
        try {
            connectivity.registerNetworkCallback(request, callback)
        } catch (e: RuntimeException) {
            callbacks.remove(listener) // never registered: nothing to unregister later
            throw e
        }
    }

    override fun unwatchNetworks(listener: NetworkListener) {
        // Throws IllegalArgumentException for a callback that is not registered; the map makes a second call a no-op.
        callbacks.remove(listener)?.let(connectivity::unregisterNetworkCallback)
    }

    override fun warn(message: String, error: Throwable?) {
        Log.w(TAG, message, error)
    }

    private companion object {
        const val TAG = "Ferrotun"
    }
}

/** [InterfaceBuilder] on a [VpnService.Builder]. */
private class AndroidInterfaceBuilder(
    private val builder: VpnService.Builder,
    private val customize: VpnService.Builder.() -> Unit,
) : InterfaceBuilder {
    override fun setSession(name: String) {
        builder.setSession(name)
    }

    override fun setMtu(mtu: Int) {
        builder.setMtu(mtu)
    }

    override fun addAddress(address: String, prefixLength: Int) {
        builder.addAddress(address, prefixLength)
    }

    override fun addRoute(address: String, prefixLength: Int) {
        builder.addRoute(address, prefixLength)
    }

    override fun addDnsServer(address: String) {
        builder.addDnsServer(address)
    }

    override fun addSearchDomain(domain: String) {
        builder.addSearchDomain(domain)
    }

    override fun allowFamily(family: AddressFamily) {
        builder.allowFamily(
            when (family) {
                AddressFamily.IPV4 -> OsConstants.AF_INET
                AddressFamily.IPV6 -> OsConstants.AF_INET6
            },
        )
    }

    override fun setMetered(metered: Boolean) {
        // Added in API 29; before it, VPNs were never treated as metered on their own.
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.Q) builder.setMetered(metered)
    }

    override fun followDefaultNetwork() {
        // API 22+ (minSdk is 24): null means "whatever the default network is", so
        // the VPN reports that network's transport and meteredness.
        builder.setUnderlyingNetworks(null)
    }

    override fun establish(): Int? {
        builder.customize()
        return builder.establish()?.detachFd()
    }
}

package dev.ferrotun.android

import dev.ferrotun.FakeTun
import java.util.concurrent.CopyOnWriteArrayList

/**
 * A [VpnPlatform] that records what [FerrotunVpn] asks of Android. Each
 * `establish()` makes a socketpair ([FakeTun]) and hands out its tunnel end,
 * as `ParcelFileDescriptor.detachFd()` would; the test keeps the app end.
 *
 * [steps] is one ordered log across the platform and the resolver seam
 * ("resolve", "establish", "protect"), so tests can check what happened first.
 */
class RecordingPlatform : VpnPlatform, AutoCloseable {
    val steps = CopyOnWriteArrayList<String>()
    val interfaces = CopyOnWriteArrayList<RecordingBuilder>()
    val tuns = CopyOnWriteArrayList<FakeTun>()
    val protectedFds = CopyOnWriteArrayList<Int>()
    val warnings = CopyOnWriteArrayList<String>()
    val listeners = CopyOnWriteArrayList<NetworkListener>()
    val unwatched = CopyOnWriteArrayList<NetworkListener>()

    /** Whether `establish()` succeeds; false plays an app that is not the prepared VPN app. */
    @Volatile var prepared = true

    /** Runs inside every `establish()`, after the interface exists (to race it with stop()). */
    @Volatile var afterEstablish: () -> Unit = {}

    /** The newest interface's app end. */
    val tun: FakeTun get() = tuns.last()

    override fun newInterface(): InterfaceBuilder = RecordingBuilder(this).also { interfaces += it }

    override fun protect(fd: Int): Boolean {
        steps += "protect"
        protectedFds += fd
        return true
    }

    override fun watchNetworks(listener: NetworkListener) {
        listeners += listener
    }

    override fun unwatchNetworks(listener: NetworkListener) {
        unwatched += listener
    }

    override fun warn(message: String, error: Throwable?) {
        warnings += message
    }

    /** A resolver seam that logs "resolve" into [steps] and then calls [real]. */
    fun recording(real: EndpointResolver): EndpointResolver = EndpointResolver { config ->
        steps += "resolve"
        real.resolve(config)
    }

    internal fun establish(): Int? {
        steps += "establish"
        if (!prepared) return null
        val tun = FakeTun()
        tuns += tun
        afterEstablish()
        return tun.tunFd
    }

    override fun close() {
        tuns.forEach { it.close() }
    }
}

/** One recorded `VpnService.Builder`: its calls in order, as text. */
class RecordingBuilder(private val platform: RecordingPlatform) : InterfaceBuilder {
    val calls = CopyOnWriteArrayList<String>()

    /** The calls that set up the interface, without the defaults every interface gets. */
    val settings: List<String> get() = calls.filter { it !in DEFAULTS && it != "establish" }

    override fun setSession(name: String) { calls += "session $name" }
    override fun setMtu(mtu: Int) { calls += "mtu $mtu" }
    override fun addAddress(address: String, prefixLength: Int) { calls += "address $address/$prefixLength" }
    override fun addRoute(address: String, prefixLength: Int) { calls += "route $address/$prefixLength" }
    override fun addDnsServer(address: String) { calls += "dns $address" }
    override fun addSearchDomain(domain: String) { calls += "search $domain" }
    override fun allowFamily(family: AddressFamily) { calls += "allowFamily $family" }
    override fun setMetered(metered: Boolean) { calls += "metered $metered" }
    override fun followDefaultNetwork() { calls += "underlyingNetworks null" }

    override fun establish(): Int? {
        calls += "establish"
        return platform.establish()
    }

    companion object {
        val DEFAULTS = setOf("session Ferrotun", "metered false", "underlyingNetworks null")
    }
}

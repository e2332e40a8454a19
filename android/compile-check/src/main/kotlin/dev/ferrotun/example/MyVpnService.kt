package dev.ferrotun.example

import android.net.VpnService
import android.util.Log
import dev.ferrotun.FerrotunException
import dev.ferrotun.TunnelEvent
import dev.ferrotun.android.FerrotunVpn
import dev.ferrotun.parseWgQuick
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.launch

// The VpnService example of android/README.md, compiled against android-all by
// compile-check; jvm-tests (AndroidReadmeTest) fails when the two differ.
// ---- from the README ----
class MyVpnService : VpnService() {
    // Builder settings of the app's own go in the lambda; they are applied after
    // Ferrotun's, on every establish() (also when updateConfig re-establishes).
    private val vpn = FerrotunVpn(this) { addDisallowedApplication("com.example.bypass") }
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.IO)

    fun connect(wgQuick: String) = scope.launch {
        val session = try {
            vpn.start(parseWgQuick(wgQuick))     // resolve, establish, start: blocks, so on Dispatchers.IO
        } catch (e: FerrotunException) {         // bad config, a name that does not resolve, socket errors
            return@launch giveUp(e)
        } catch (e: IllegalStateException) {     // no VPN consent (establish() returned null), or stopped meanwhile
            return@launch giveUp(e)
        }
        session.events.collect { event ->        // ends after Stopped
            Log.i("vpn", "$event")
            if (event is TunnelEvent.Stopped && event.error != null) stopSelf()
        }
    }

    fun reconfigure(wgQuick: String) = scope.launch {
        try {
            vpn.updateConfig(parseWgQuick(wgQuick))  // new AllowedIPs: re-establishes and swaps the TUN fd
        } catch (e: FerrotunException) {
            Log.w("vpn", "config not applied: ${e.message}")
        } catch (e: IllegalStateException) {
            Log.w("vpn", "config not applied: ${e.message}")
        }
    }

    private fun giveUp(error: Exception) {
        Log.w("vpn", "could not connect: ${error.message}")
        stopSelf()
    }

    override fun onRevoke() {
        // The system has already deactivated the interface (the user revoked the
        // VPN or another VPN app took over): stop the tunnel, then the service.
        vpn.stop()
        super.onRevoke()                         // stopSelf()
    }

    override fun onDestroy() {
        vpn.stop()
        scope.cancel()
        super.onDestroy()
    }
}
// ---- end of the README example ----

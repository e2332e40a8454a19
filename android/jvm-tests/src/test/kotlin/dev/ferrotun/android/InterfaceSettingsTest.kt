package dev.ferrotun.android

import dev.ferrotun.PeerConfig
import dev.ferrotun.TunnelConfig
import dev.ferrotun.UnroutedFamily
import dev.ferrotun.androidSettingsOptions
import dev.ferrotun.generatePrivateKey
import dev.ferrotun.testPeer
import java.util.concurrent.TimeUnit
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestFactory
import org.junit.jupiter.api.Timeout

/**
 * What `FerrotunVpn.start` hands to `VpnService.Builder` for a table of
 * configs: exactly these calls, in this order, then `establish()`; every
 * start also starts a real tunnel on the established (socketpair) fd.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class InterfaceSettingsTest {
    private class Case(val name: String, val config: TunnelConfig, val expected: List<String>)

    private fun peer(vararg allowedIps: String) = testPeer(*allowedIps)

    private fun config(addresses: List<String>, vararg peers: PeerConfig, dns: List<String> = emptyList(), mtu: UShort? = null, search: List<String> = emptyList()) =
        TunnelConfig(
            privateKey = generatePrivateKey(),
            addresses = addresses,
            dns = dns,
            dnsSearch = search,
            mtu = mtu,
            peers = peers.toList(),
        )

    private val cases = listOf(
        Case(
            "IPv4 only: IPv6 is left to the system (allowFamily), not blocked for the whole device",
            config(listOf("10.0.0.2/32"), peer("10.0.0.0/24"), dns = listOf("10.0.0.1")),
            listOf("mtu 1280", "address 10.0.0.2/32", "route 10.0.0.0/24", "allowFamily IPV6", "dns 10.0.0.1"),
        ),
        Case(
            "IPv6 only: IPv4 is left to the system",
            config(listOf("fd00::2/128"), peer("fd00::/64"), dns = listOf("fd00::1")),
            listOf("mtu 1280", "allowFamily IPV4", "address fd00::2/128", "route fd00::/64", "dns fd00::1"),
        ),
        Case(
            "dual stack full tunnel, with the config's MTU, DNS and search domain",
            config(
                listOf("10.0.0.2/32", "fd00::2/128"),
                peer("0.0.0.0/0", "::/0"),
                dns = listOf("1.1.1.1", "2606:4700:4700::1111"),
                mtu = 1380u,
                search = listOf("corp.example"),
            ),
            listOf(
                "mtu 1380",
                "address 10.0.0.2/32", "route 0.0.0.0/0",
                "address fd00::2/128", "route ::/0",
                "dns 1.1.1.1", "dns 2606:4700:4700::1111", "search corp.example",
            ),
        ),
        Case(
            "full tunnel without an IPv6 address: ::/0 still goes into the tunnel, so IPv6 cannot leak",
            config(listOf("10.0.0.2/32"), peer("0.0.0.0/0", "::/0")),
            listOf("mtu 1280", "address 10.0.0.2/32", "route 0.0.0.0/0", "route ::/0"),
        ),
        Case(
            "split tunnel: only the peer's networks (host bits cleared), both families otherwise the system's",
            config(listOf("10.0.0.2/32"), peer("10.0.0.0/24", "192.168.50.7/24")),
            listOf("mtu 1280", "address 10.0.0.2/32", "route 10.0.0.0/24", "route 192.168.50.0/24", "allowFamily IPV6"),
        ),
        Case(
            "overlapping AllowedIPs across peers: covered prefixes folded into the covering one, adjacent halves merged",
            config(
                listOf("10.0.0.2/32", "fd00::2/128"),
                peer("10.0.0.0/8", "fd00::/48"),
                peer("10.1.0.0/16", "10.2.3.4/32", "fd00:0:0:1::/64"),
                peer("172.16.0.0/13", "172.24.0.0/13"),
            ),
            listOf(
                "mtu 1280",
                "address 10.0.0.2/32", "route 10.0.0.0/8", "route 172.16.0.0/12",
                "address fd00::2/128", "route fd00::/48",
            ),
        ),
    )

    @TestFactory
    fun `the builder gets exactly the core's settings`() = cases.map { case ->
        DynamicTest.dynamicTest(case.name) {
            RecordingPlatform().use { platform ->
                val vpn = FerrotunVpn(platform)
                vpn.start(case.config)
                val builder = platform.interfaces.single()
                assertEquals(case.expected, builder.settings)
                assertEquals(listOf("session Ferrotun"), builder.calls.take(1))
                // Ferrotun's defaults, after the settings and before establish().
                assertEquals(listOf("metered false", "underlyingNetworks null", "establish"), builder.calls.takeLast(3))
                vpn.stop()
            }
        }
    }

    @Test
    fun `with unrouted families blocked, an IPv4-only config leaves IPv6 without address, route or allowFamily`() {
        RecordingPlatform().use { platform ->
            val vpn = FerrotunVpn(platform, androidSettingsOptions().copy(unroutedFamily = UnroutedFamily.BLOCK))
            vpn.start(config(listOf("10.0.0.2/32"), peer("10.0.0.0/24")))
            // Android blocks a family the interface has neither an address nor a route for.
            assertEquals(listOf("mtu 1280", "address 10.0.0.2/32", "route 10.0.0.0/24"), platform.interfaces.single().settings)
            vpn.stop()
        }
    }

    @Test
    fun `the session name is the one given to start`() {
        RecordingPlatform().use { platform ->
            val vpn = FerrotunVpn(platform)
            vpn.start(config(listOf("10.0.0.2/32"), peer("10.0.0.0/24")), session = "Office")
            assertEquals("session Office", platform.interfaces.single().calls.first())
            vpn.stop()
        }
    }
}

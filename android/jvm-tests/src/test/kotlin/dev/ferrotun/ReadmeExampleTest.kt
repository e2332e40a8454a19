package dev.ferrotun

import java.io.File
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.Timeout

/**
 * The usage example from android/README.md and the top-level README.md, kept compiling and running here.
 * If you change one, change the other.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class ReadmeExampleTest {
    @Test
    fun `the README example runs as written`() = runBlocking {
        val logLines = mutableListOf<String>()
        fun log(line: String) = synchronized(logLines) { logLines += line }
        val protectedFds = mutableListOf<Int>()
        val vpnService = object { fun protect(fd: Int): Boolean = protectedFds.add(fd) }
        val fakeTun = FakeTun()
        val tunFd = fakeTun.tunFd
        val newFakeTun = FakeTun()
        val newTunFd = newFakeTun.tunFd
        val scope = CoroutineScope(Dispatchers.IO)
        val wgQuick = """
            [Interface]
            PrivateKey = ${generatePrivateKey()}
            Address = 10.99.0.1/32

            [Peer]
            PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
            AllowedIPs = 10.99.0.2/32
        """.trimIndent()

        // ---- from the README ----
        val privateKey = generatePrivateKey()
        val myPublicKey = publicKey(privateKey)

        val config = parseWgQuick(wgQuick)
        val same = TunnelConfig(
            privateKey = privateKey,
            addresses = listOf("10.99.0.1/32"),
            dns = listOf("10.99.0.53"),
            peers = listOf(
                PeerConfig(
                    publicKey = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=",
                    endpoint = "vpn.example.com:51820",
                    allowedIps = listOf("0.0.0.0/0", "::/0"),
                    persistentKeepalive = 25u,
                ),
            ),
        )
        println(toWgQuick(same))

        try {
            parseWgQuick("[Interface]\nPrivateKey = nope\n")
        } catch (e: FerrotunException.Config) {
            println("line ${e.line}: ${e.reason}") // line 2: ...
        }

        val resolved = resolveEndpoints(config)

        val settings = interfaceSettings(resolved, androidSettingsOptions())
        println("MTU ${settings.mtu}, IPv4 ${settings.ipv4.mode} ${settings.ipv4.routes}, IPv6 ${settings.ipv6.mode}")

        val tunnel = Tunnel.start(resolved, tunFd, object : SocketProtector {
            override fun protect(fd: Int): Boolean = vpnService.protect(fd)
        })
        println("listening on UDP ${tunnel.listenPort()}")

        val eventLoop = scope.launch {
            while (true) {
                when (val event = tunnel.nextEvent() ?: break) {
                    is TunnelEvent.Started -> log("up on port ${event.listenPort}")
                    is TunnelEvent.HandshakeCompleted -> log("handshake with ${event.publicKey}")
                    is TunnelEvent.EndpointChanged -> log("${event.publicKey} moved to ${event.endpoint}")
                    is TunnelEvent.PeerUnreachable -> log("${event.publicKey}: no answer for ${event.unansweredFor.seconds} s")
                    is TunnelEvent.PeerReachable -> log("${event.publicKey} reachable again")
                    is TunnelEvent.Stopped -> log("stopped: ${event.error ?: "on request"}")
                }
            }
        }

        val stats = tunnel.stats()
        tunnel.networkChanged()
        tunnel.updateConfig(config)
        tunnel.swapTun(newTunFd)
        setLogLevel(LogLevel.DEBUG)
        tunnel.stop()
        eventLoop.join()
        tunnel.close()
        // ---- end of the README example ----

        setLogLevel(LogLevel.WARN)
        for (readme in listOf("../README.md", "../../README.md")) {
            assertTrue(readmeCode(readme).size > 30, "$readme: Kotlin example not found")
            assertEquals(readmeCode(readme), ownCode(), "$readme's Kotlin example and this test differ")
        }
        fakeTun.close()
        newFakeTun.close()
        assertEquals(44, myPublicKey.length)
        assertEquals(1, stats.peers.size)
        assertEquals(1280.toUShort(), settings.mtu)
        assertEquals(FamilyMode.ROUTED, settings.ipv4.mode)
        assertEquals(listOf(IpPrefix("10.99.0.2", 32u, "255.255.255.255")), settings.ipv4.routes)
        assertEquals(FamilyMode.LEFT_TO_SYSTEM, settings.ipv6.mode)
        assertEquals(2, protectedFds.size, "start and networkChanged each protect a socket")
        assertEquals(2, logLines.size, "$logLines")
        assertTrue(logLines.first().removePrefix("up on port ").toInt() > 0, "$logLines")
        assertEquals("stopped: on request", logLines.last())
    }

    /** Code lines of a README's first Kotlin block from `val privateKey` on, comments and blanks dropped. */
    private fun readmeCode(path: String): List<String> {
        val text = File(path).readText()
        val block = text.substringAfter("```kotlin\n").substringBefore("```")
        return normalize(block.lines().dropWhile { !it.startsWith("val privateKey") })
    }

    /** The same span of this file, between the "from the README" markers. */
    private fun ownCode(): List<String> {
        val text = File("src/test/kotlin/dev/ferrotun/ReadmeExampleTest.kt").readText()
        val span = text.substringAfter("// ---- from the README ----").substringBefore("// ---- end of the README example ----")
        return normalize(span.lines())
    }

    private fun normalize(lines: List<String>): List<String> =
        lines.map { it.substringBefore(" //").trim() }.filter { it.isNotEmpty() && !it.startsWith("//") }
}

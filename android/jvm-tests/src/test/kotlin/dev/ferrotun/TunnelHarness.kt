package dev.ferrotun

import java.util.concurrent.CopyOnWriteArrayList

/** What a [RecordingProtector] saw when it was called. */
data class ProtectCall(val fd: Int, val socketType: Int?)

/** A protector that records each call, then answers with [answer] (which may throw). */
class RecordingProtector(private val answer: (Int) -> Boolean = { true }) : SocketProtector {
    val calls = CopyOnWriteArrayList<ProtectCall>()

    override fun protect(fd: Int): Boolean {
        calls += ProtectCall(fd, socketType(fd))
        return answer(fd)
    }
}

/**
 * Two tunnels in this JVM talking over 127.0.0.1: A (10.99.0.1) knows B's
 * endpoint; B (10.99.0.2) has none for A and learns it from the handshake.
 * Each has a socketpair standing in for its TUN fd.
 */
class TunnelPair(
    val protectorA: RecordingProtector = RecordingProtector(),
    val protectorB: RecordingProtector = RecordingProtector(),
) : AutoCloseable {
    val keyA = generatePrivateKey()
    val keyB = generatePrivateKey()
    val publicA = publicKey(keyA)
    val publicB = publicKey(keyB)
    val tunA = FakeTun()
    val tunB = FakeTun()

    val b: Tunnel = Tunnel.start(
        TunnelConfig(
            privateKey = keyB,
            addresses = listOf("10.99.0.2/32"),
            peers = listOf(PeerConfig(publicKey = publicA, allowedIps = listOf("10.99.0.1/32"))),
        ),
        tunB.tunFd,
        protectorB,
    )

    val configA = TunnelConfig(
        privateKey = keyA,
        addresses = listOf("10.99.0.1/32"),
        peers = listOf(
            PeerConfig(
                publicKey = publicB,
                endpoint = "127.0.0.1:${b.listenPort()}",
                allowedIps = listOf("10.99.0.2/32"),
            ),
        ),
    )

    val a: Tunnel = Tunnel.start(configA, tunA.tunFd, protectorA)

    /** An IPv4/UDP packet from A's inner address to B's. */
    fun aToB(i: Int, tag: String = "ping"): ByteArray =
        Packets.udp4("10.99.0.1", "10.99.0.2", 40000, 5000, "$tag $i".toByteArray(), id = i)

    /** An IPv4/UDP packet from B's inner address to A's. */
    fun bToA(i: Int): ByteArray =
        Packets.udp4("10.99.0.2", "10.99.0.1", 5000, 40000, "pong $i".toByteArray(), id = i)

    /**
     * Sends probes A->B until one comes out of B (the first packet triggers
     * the handshake), then drains stragglers. Returns how many probes were sent.
     */
    fun warmUp(tag: String = "probe", timeoutMs: Long = 15_000): Int {
        val (got, sent) = dev.ferrotun.warmUp(tunA, tunB, timeoutMs) { aToB(it, tag) }
        check(String(Packets.payload(got)).startsWith(tag)) { "unexpected packet ${String(Packets.payload(got))}" }
        return sent
    }

    override fun close() {
        runCatching { a.stop() }
        runCatching { b.stop() }
        a.close()
        b.close()
        tunA.close()
        tunB.close()
    }
}

/** [value], failing the test with [message] when it is null. */
fun <T : Any> need(value: T?, message: String): T = value ?: throw AssertionError(message)

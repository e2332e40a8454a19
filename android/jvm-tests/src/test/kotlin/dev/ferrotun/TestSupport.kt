package dev.ferrotun

// Shared by the JVM tests: configs with fresh keys, waiting for a condition,
// and warming up a tunnel until packets cross.

/** The discard port on loopback: a peer endpoint where nothing answers. */
const val SILENT_ENDPOINT = "127.0.0.1:9"

/** A peer with a fresh key that nobody plays, routing [allowedIps]. */
fun testPeer(vararg allowedIps: String, endpoint: String? = SILENT_ENDPOINT) = PeerConfig(
    publicKey = publicKey(generatePrivateKey()),
    endpoint = endpoint,
    allowedIps = allowedIps.toList(),
)

/**
 * A config with a fresh private key, the address `[net].1/32` and one [testPeer]
 * routing `[net].2/32`, e.g. `onePeerConfig("10.99.3")`.
 */
fun onePeerConfig(net: String, endpoint: String? = SILENT_ENDPOINT) = TunnelConfig(
    privateKey = generatePrivateKey(),
    addresses = listOf("$net.1/32"),
    peers = listOf(testPeer("$net.2/32", endpoint = endpoint)),
)

/** Polls [condition] every [pollMs] until it holds or [timeoutMs] passes; returns whether it held. */
fun eventually(timeoutMs: Long = 5_000, pollMs: Long = 10, condition: () -> Boolean): Boolean {
    val deadline = System.nanoTime() + timeoutMs * 1_000_000
    while (System.nanoTime() < deadline) {
        if (condition()) return true
        Thread.sleep(pollMs)
    }
    return condition()
}

/**
 * Sends [probe] packets (numbered from 0) into [from] until one comes out of
 * [to] (the first one starts the handshake), then drains stragglers. Returns
 * the packet that came out and how many probes were sent.
 */
fun warmUp(from: FakeTun, to: FakeTun, timeoutMs: Long = 15_000, probe: (Int) -> ByteArray): Pair<ByteArray, Int> {
    val deadline = System.nanoTime() + timeoutMs * 1_000_000
    var sent = 0
    while (System.nanoTime() < deadline) {
        check(from.send(probe(sent)))
        sent++
        val got = to.receive(200) ?: continue
        while (to.receive() != null) Unit
        return got to sent
    }
    throw AssertionError("no packet crossed the tunnel within $timeoutMs ms")
}

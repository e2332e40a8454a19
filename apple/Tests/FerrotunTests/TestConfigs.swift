import Ferrotun

// Shared by the tests that run on the real core (macOS).

/// Keys the tests use.
enum TestKeys {
    /// A fixed peer public key; nobody plays the peer.
    static let peer = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
}

/// A config with a fresh private key and one peer (`TestKeys.peer`) routing `allowedIps`.
func makeConfig(
    addresses: [String],
    allowedIps: [String],
    endpoint: String? = nil,
    dns: [String] = []
) throws -> TunnelConfig {
    TunnelConfig(
        privateKey: try generatePrivateKey(),
        addresses: addresses,
        dns: dns,
        peers: [PeerConfig(publicKey: TestKeys.peer, endpoint: endpoint, allowedIps: allowedIps)]
    )
}

//! The one place tests build configs. Shared with the integration tests
//! (`tests/common`) through `#[path]`: the config types come from `super`.

use std::net::SocketAddr;

use super::{Endpoint, PeerConfig, PrivateKey, PublicKey, TunnelConfig};

/// A tunnel config: `private_key`, interface `addresses` (prefixes such as
/// `"10.0.0.1/24"`), an optional MTU and `peers`; no listen port, no DNS.
/// Not validated, so a test can build an invalid one on purpose.
///
/// # Panics
/// On an address that is not a prefix.
pub fn tunnel_config(
    private_key: PrivateKey,
    addresses: &[&str],
    mtu: Option<u16>,
    peers: Vec<PeerConfig>,
) -> TunnelConfig {
    TunnelConfig {
        private_key,
        listen_port: None,
        mtu,
        addresses: addresses
            .iter()
            .map(|a| a.parse().expect("address prefix"))
            .collect(),
        dns: vec![],
        dns_search: vec![],
        peers,
    }
}

/// A peer with `allowed_ips` (prefixes such as `"10.0.0.2/32"`), an optional
/// endpoint and persistent keepalive (seconds), and no preshared key.
///
/// # Panics
/// On an allowed IP that is not a prefix.
pub fn peer_config(
    public_key: PublicKey,
    allowed_ips: &[&str],
    endpoint: Option<SocketAddr>,
    persistent_keepalive: Option<u16>,
) -> PeerConfig {
    PeerConfig {
        public_key,
        preshared_key: None,
        endpoint: endpoint.map(Endpoint::Addr),
        allowed_ips: allowed_ips
            .iter()
            .map(|a| a.parse().expect("allowed IP prefix"))
            .collect(),
        persistent_keepalive,
        resolved_endpoint: None,
    }
}

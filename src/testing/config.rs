//! The one place tests build configs. Shared with the integration tests
//! (`tests/common`) through `#[path]`: the config types come from `super`.

use std::net::SocketAddr;
use std::num::NonZeroU16;

use super::{Endpoint, Mtu, PeerConfig, PrivateKey, PublicKey, TunnelConfig};

/// A tunnel config: `private_key`, interface `addresses` (prefixes such as
/// `"10.0.0.1/24"`), an optional MTU and `peers`; no listen port, no DNS.
///
/// # Panics
/// On an address that is not a prefix, an MTU out of range, or peers that
/// [`TunnelConfig::new`] refuses (a repeated or own key).
pub fn tunnel_config(
    private_key: PrivateKey,
    addresses: &[&str],
    mtu: Option<u16>,
    peers: Vec<PeerConfig>,
) -> TunnelConfig {
    TunnelConfig::new(private_key, peers)
        .expect("valid test peers")
        .with_mtu(mtu.map(|m| Mtu::try_from(m).expect("MTU in range")))
        .with_addresses(
            addresses
                .iter()
                .map(|a| a.parse().expect("address prefix"))
                .collect(),
        )
}

/// A peer with `allowed_ips` (prefixes such as `"10.0.0.2/32"`), an optional
/// endpoint and persistent keepalive (seconds, 0 for none), and no preshared key.
///
/// # Panics
/// On an allowed IP that is not a prefix or an endpoint with port 0.
pub fn peer_config(
    public_key: PublicKey,
    allowed_ips: &[&str],
    endpoint: Option<SocketAddr>,
    persistent_keepalive: Option<u16>,
) -> PeerConfig {
    PeerConfig {
        endpoint: endpoint.map(|e| Endpoint::try_from(e).expect("endpoint with a port")),
        allowed_ips: allowed_ips
            .iter()
            .map(|a| a.parse().expect("allowed IP prefix"))
            .collect(),
        persistent_keepalive: persistent_keepalive.and_then(NonZeroU16::new),
        ..PeerConfig::new(public_key)
    }
}

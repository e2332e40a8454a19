//! Tunnel configuration: keys, peers, and the wg-quick text format.
//!
//! Everything here is plain data. [`TunnelConfig::parse_wg_quick`] turns text
//! into checked types (keys of the right length, prefixes that are valid
//! CIDRs), so the data plane never re-validates or panics on a config.

mod key;
pub(crate) mod quote;
mod wg_quick;

use std::net::{IpAddr, SocketAddr};

pub use ipnet::IpNet;
pub use key::{KeyError, PresharedKey, PrivateKey, PublicKey};
pub use wg_quick::{ConfigError, ConfigErrorKind};

/// Default MTU when a config has none: the wg-quick default for a 1500-byte path.
pub const DEFAULT_MTU: u16 = 1420;

/// Smallest MTU accepted: IPv6 requires links of at least 1280 bytes, but IPv4-only
/// tunnels over constrained paths go lower; 576 is the IPv4 minimum reassembly size.
pub const MIN_MTU: u16 = 576;

/// Largest MTU accepted. Buffers are sized from the MTU, so this bounds memory.
pub const MAX_MTU: u16 = 9000;

/// The `[Interface]` section plus its peers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunnelConfig {
    /// This end's static private key.
    pub private_key: PrivateKey,
    /// UDP port to listen on; `None` lets the OS pick one.
    pub listen_port: Option<u16>,
    /// Tunnel MTU; `None` means [`DEFAULT_MTU`].
    pub mtu: Option<u16>,
    /// Addresses of the tunnel interface (`Address =`).
    pub addresses: Vec<IpNet>,
    /// DNS servers (`DNS =` entries that are IP addresses).
    pub dns: Vec<IpAddr>,
    /// DNS search domains (`DNS =` entries that are names).
    pub dns_search: Vec<String>,
    /// The peers, in file order.
    pub peers: Vec<PeerConfig>,
}

/// One `[Peer]` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerConfig {
    /// The peer's static public key; identifies the peer.
    pub public_key: PublicKey,
    /// Optional symmetric key mixed into the handshake.
    pub preshared_key: Option<PresharedKey>,
    /// Where to send to until the peer is heard from; `None` waits to be contacted.
    pub endpoint: Option<Endpoint>,
    /// Inner source addresses accepted from, and destinations routed to, this peer.
    pub allowed_ips: Vec<IpNet>,
    /// Seconds between keepalives when otherwise idle; `None` or 0 turns them off.
    pub persistent_keepalive: Option<u16>,
    /// The address `endpoint` resolved to (see [`crate::io::resolve`]): where
    /// the tunnel sends until the peer is heard from. `endpoint` keeps the host
    /// name so the tunnel can resolve it again. Not part of wg-quick text.
    pub resolved_endpoint: Option<SocketAddr>,
}

/// A peer's configured endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// A literal socket address (`192.0.2.1:51820`, `[2001:db8::1]:51820`).
    Addr(SocketAddr),
    /// A host name, resolved before the tunnel starts and again after network
    /// changes ([`crate::io::resolve`]).
    Host {
        /// The DNS name.
        host: String,
        /// The UDP port.
        port: u16,
    },
}

impl PeerConfig {
    /// Where to send before the peer is heard from: the resolved address,
    /// else a literal endpoint; `None` for an unresolved host name.
    pub fn initial_endpoint(&self) -> Option<SocketAddr> {
        self.resolved_endpoint.or(match self.endpoint {
            Some(Endpoint::Addr(addr)) => Some(addr),
            Some(Endpoint::Host { .. }) | None => None,
        })
    }
}

impl TunnelConfig {
    /// The MTU to use, with the default applied.
    pub fn effective_mtu(&self) -> u16 {
        self.mtu.unwrap_or(DEFAULT_MTU)
    }
}

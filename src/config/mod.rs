//! Tunnel configuration: keys, peers, and the wg-quick text format.
//!
//! Parse, don't validate: every field holds a checked type ([`Mtu`],
//! [`Endpoint`], [`DomainName`], keys, prefixes), and [`TunnelConfig`] keeps
//! its one cross-field rule (peers have distinct public keys, none of them
//! ours) by building only through [`TunnelConfig::new`] or the wg-quick
//! parser. So a `TunnelConfig` in hand is valid, and nothing downstream
//! checks it again.

mod error;
mod key;
pub(crate) mod quote;
mod value;
mod wg_quick;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU16;

pub use error::{ConfigError, ConfigErrorKind};
pub use ipnet::IpNet;
pub use key::{KeyError, PresharedKey, PrivateKey, PublicKey};
pub use value::{DomainName, Endpoint, Invalid, Mtu, parse_prefix};

/// Default MTU when a config has none: the wg-quick default for a 1500-byte path.
pub const DEFAULT_MTU: u16 = 1420;

/// Smallest MTU accepted: IPv6 requires links of at least 1280 bytes, but IPv4-only
/// tunnels over constrained paths go lower; 576 is the IPv4 minimum reassembly size.
pub const MIN_MTU: u16 = 576;

/// Largest MTU accepted. Buffers are sized from the MTU, so this bounds memory.
pub const MAX_MTU: u16 = 9000;

/// The `[Interface]` section plus its peers. Always valid: see the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunnelConfig {
    private_key: PrivateKey,
    listen_port: Option<NonZeroU16>,
    mtu: Option<Mtu>,
    addresses: Vec<IpNet>,
    dns: Vec<IpAddr>,
    dns_search: Vec<DomainName>,
    peers: Vec<PeerConfig>,
}

/// One `[Peer]` section. Every field type admits only valid values, so the
/// fields are public; rules between peers belong to [`TunnelConfig`].
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
    /// Seconds between keepalives when otherwise idle; `None` turns them off.
    pub persistent_keepalive: Option<NonZeroU16>,
    /// The address `endpoint` resolved to (see [`crate::io::resolve`]): where
    /// the tunnel sends until the peer is heard from. `endpoint` keeps the host
    /// name so the tunnel can resolve it again. Not part of wg-quick text.
    pub resolved_endpoint: Option<SocketAddr>,
}

impl PeerConfig {
    /// A peer with only its public key set.
    pub fn new(public_key: PublicKey) -> Self {
        Self {
            public_key,
            preshared_key: None,
            endpoint: None,
            allowed_ips: Vec::new(),
            persistent_keepalive: None,
            resolved_endpoint: None,
        }
    }

    /// Where to send before the peer is heard from: the resolved address,
    /// else a literal endpoint; `None` for an unresolved host name.
    pub fn initial_endpoint(&self) -> Option<SocketAddr> {
        self.resolved_endpoint
            .or_else(|| self.endpoint.as_ref()?.socket_addr())
    }
}

/// Why peer `index` (0-based) cannot join the others: it uses our own key,
/// or an earlier peer's. Shared by [`TunnelConfig::new`] and the parser,
/// which reports the failure on the peer's `PublicKey` line.
pub(crate) fn check_peers(
    private_key: &PrivateKey,
    peers: &[PeerConfig],
) -> Result<(), (usize, ConfigErrorKind)> {
    let own = private_key.public_key();
    let mut first_index_of = BTreeMap::new();
    for (index, peer) in peers.iter().enumerate() {
        let reason = if peer.public_key == own {
            "has this interface's own public key".to_owned()
        } else if let Some(first) = first_index_of.insert(peer.public_key, index) {
            format!("has the same PublicKey as peer #{}", first + 1)
        } else {
            continue;
        };
        let peer = index + 1;
        return Err((index, ConfigErrorKind::Peer { peer, reason }));
    }
    Ok(())
}

impl TunnelConfig {
    /// A config with these keys and peers and nothing else set; add the rest
    /// with the `with_*` methods.
    ///
    /// # Errors
    /// [`ConfigErrorKind::Peer`] (line 0) when two peers share a public key
    /// or a peer has this interface's own public key.
    pub fn new(private_key: PrivateKey, peers: Vec<PeerConfig>) -> Result<Self, ConfigError> {
        check_peers(&private_key, &peers).map_err(|(_, kind)| kind.at(0))?;
        Ok(Self::unchecked(private_key, peers))
    }

    /// [`Self::new`] without the peer check, for the parser, which checks
    /// the peers itself to report the line.
    pub(crate) fn unchecked(private_key: PrivateKey, peers: Vec<PeerConfig>) -> Self {
        Self {
            private_key,
            listen_port: None,
            mtu: None,
            addresses: Vec::new(),
            dns: Vec::new(),
            dns_search: Vec::new(),
            peers,
        }
    }

    /// Sets the UDP port to listen on; `None` lets the OS pick one.
    #[must_use]
    pub fn with_listen_port(mut self, port: impl Into<Option<NonZeroU16>>) -> Self {
        self.listen_port = port.into();
        self
    }

    /// Sets the tunnel MTU; `None` means the default.
    #[must_use]
    pub fn with_mtu(mut self, mtu: impl Into<Option<Mtu>>) -> Self {
        self.mtu = mtu.into();
        self
    }

    /// Sets the interface addresses.
    #[must_use]
    pub fn with_addresses(mut self, addresses: Vec<IpNet>) -> Self {
        self.addresses = addresses;
        self
    }

    /// Sets the DNS servers.
    #[must_use]
    pub fn with_dns(mut self, dns: Vec<IpAddr>) -> Self {
        self.dns = dns;
        self
    }

    /// Sets the DNS search domains.
    #[must_use]
    pub fn with_dns_search(mut self, domains: Vec<DomainName>) -> Self {
        self.dns_search = domains;
        self
    }

    /// Records where a peer's endpoint resolved to (see [`crate::io::resolve`]).
    /// Returns false for an unknown peer.
    pub fn set_resolved_endpoint(&mut self, peer: &PublicKey, addr: Option<SocketAddr>) -> bool {
        match self.peers.iter_mut().find(|p| p.public_key == *peer) {
            Some(peer) => {
                peer.resolved_endpoint = addr;
                true
            }
            None => false,
        }
    }

    /// This end's static private key.
    pub fn private_key(&self) -> &PrivateKey {
        &self.private_key
    }

    /// UDP port to listen on; `None` lets the OS pick one.
    pub fn listen_port(&self) -> Option<NonZeroU16> {
        self.listen_port
    }

    /// The configured MTU; `None` means [`DEFAULT_MTU`] (or a platform default).
    pub fn mtu(&self) -> Option<Mtu> {
        self.mtu
    }

    /// The MTU to use, with [`DEFAULT_MTU`] applied.
    pub fn effective_mtu(&self) -> u16 {
        self.mtu.map_or(DEFAULT_MTU, Mtu::get)
    }

    /// Addresses of the tunnel interface (`Address =`).
    pub fn addresses(&self) -> &[IpNet] {
        &self.addresses
    }

    /// DNS servers (`DNS =` entries that are IP addresses).
    pub fn dns(&self) -> &[IpAddr] {
        &self.dns
    }

    /// DNS search domains (`DNS =` entries that are names).
    pub fn dns_search(&self) -> &[DomainName] {
        &self.dns_search
    }

    /// The peers, in file order, with distinct public keys.
    pub fn peers(&self) -> &[PeerConfig] {
        &self.peers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(byte: u8) -> PeerConfig {
        PeerConfig::new(PublicKey::from_bytes([byte; 32]))
    }

    #[test]
    fn new_rejects_peers_that_clash() {
        let key = PrivateKey::from_bytes([7; 32]);
        let own = PeerConfig::new(key.public_key());
        for (peers, message) in [
            (
                vec![peer(1), peer(2), peer(1)],
                "peer #3 has the same PublicKey as peer #1",
            ),
            (
                vec![peer(1), own],
                "peer #2 has this interface's own public key",
            ),
        ] {
            let error = TunnelConfig::new(key, peers).unwrap_err();
            assert_eq!(
                (error.line, error.kind.to_string()),
                (0, message.to_owned())
            );
        }
    }

    #[test]
    fn new_and_setters_build_what_they_are_given() {
        let mtu = Mtu::try_from(1280).unwrap();
        let config = TunnelConfig::new(PrivateKey::from_bytes([7; 32]), vec![peer(1), peer(2)])
            .unwrap()
            .with_mtu(mtu)
            .with_listen_port(NonZeroU16::new(51820))
            .with_dns_search(vec!["corp.example".parse().unwrap()]);
        assert_eq!(config.effective_mtu(), 1280);
        assert_eq!(config.listen_port().map(NonZeroU16::get), Some(51820));
        assert_eq!(config.peers().len(), 2);
        assert_eq!(config.clone().with_mtu(None).effective_mtu(), DEFAULT_MTU);
    }
}

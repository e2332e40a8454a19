//! Semantic rules on a whole [`TunnelConfig`]: the single source of truth for
//! both [`TunnelConfig::validate`] and the end of parsing.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::ConfigErrorKind;
use super::value::{is_domain_name, is_ip_like, shown};
use crate::config::{Endpoint, MAX_MTU, MIN_MTU, TunnelConfig};

/// Where a rule failed, so the parser can map it to a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Site {
    /// The `MTU` value.
    Mtu,
    /// Entry `n` (0-based) of `dns_search`.
    DnsSearch(usize),
    /// The `PublicKey` of peer `n` (0-based).
    PeerPublicKey(usize),
    /// The `Endpoint` of peer `n` (0-based).
    PeerEndpoint(usize),
}

/// MTU in [`MIN_MTU`]`..=`[`MAX_MTU`].
pub(super) fn check_mtu(mtu: u16) -> Result<(), ConfigErrorKind> {
    if (MIN_MTU..=MAX_MTU).contains(&mtu) {
        Ok(())
    } else {
        Err(ConfigErrorKind::BadMtu {
            value: mtu.to_string(),
        })
    }
}

/// A search domain that prints as a name and parses back as a name.
fn check_search_domain(name: &str) -> Result<(), ConfigErrorKind> {
    if !is_ip_like(name) && is_domain_name(name) {
        Ok(())
    } else {
        Err(ConfigErrorKind::BadDns { value: shown(name) })
    }
}

/// An endpoint that prints as wg-quick text and parses back to itself.
fn check_endpoint(endpoint: &Endpoint) -> Result<(), ConfigErrorKind> {
    let value = || shown(&endpoint.to_string());
    match endpoint {
        Endpoint::Addr(addr) if addr.port() == 0 => {
            Err(ConfigErrorKind::EndpointBadPort { value: value() })
        }
        // Scope ids and flow labels have no wg-quick spelling.
        Endpoint::Addr(SocketAddr::V6(v6)) if v6.scope_id() != 0 || v6.flowinfo() != 0 => {
            Err(ConfigErrorKind::EndpointBadHost { value: value() })
        }
        Endpoint::Addr(_) => Ok(()),
        Endpoint::Host { port: 0, .. } => Err(ConfigErrorKind::EndpointBadPort { value: value() }),
        Endpoint::Host { host, .. } if is_ip_like(host) || !is_domain_name(host) => {
            Err(ConfigErrorKind::EndpointBadHost { value: value() })
        }
        Endpoint::Host { .. } => Ok(()),
    }
}

/// Applies every rule, interface first, then peers in order.
///
/// # Errors
/// The first failure and where it is.
pub(super) fn check(config: &TunnelConfig) -> Result<(), (ConfigErrorKind, Site)> {
    if let Some(mtu) = config.mtu {
        check_mtu(mtu).map_err(|kind| (kind, Site::Mtu))?;
    }
    for (index, name) in config.dns_search.iter().enumerate() {
        check_search_domain(name).map_err(|kind| (kind, Site::DnsSearch(index)))?;
    }

    let own_public_key = config.private_key.public_key();
    let mut first_index_of = BTreeMap::new();
    for (index, peer) in config.peers.iter().enumerate() {
        if peer.public_key == own_public_key {
            return Err((
                ConfigErrorKind::PeerIsSelf { peer: index + 1 },
                Site::PeerPublicKey(index),
            ));
        }
        if let Some(first) = first_index_of.insert(peer.public_key, index) {
            let kind = ConfigErrorKind::DuplicatePeer {
                peer: index + 1,
                first: first + 1,
            };
            return Err((kind, Site::PeerPublicKey(index)));
        }
        if let Some(endpoint) = &peer.endpoint {
            check_endpoint(endpoint).map_err(|kind| (kind, Site::PeerEndpoint(index)))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigError, PeerConfig, PrivateKey, PublicKey};
    use std::net::{Ipv6Addr, SocketAddrV6};

    fn peer(byte: u8) -> PeerConfig {
        PeerConfig {
            public_key: PublicKey::from_bytes([byte; 32]),
            preshared_key: None,
            endpoint: None,
            allowed_ips: vec!["10.0.0.0/8".parse().unwrap()],
            persistent_keepalive: None,
            resolved_endpoint: None,
        }
    }

    fn config(peers: Vec<PeerConfig>) -> TunnelConfig {
        TunnelConfig {
            private_key: PrivateKey::from_bytes([7; 32]),
            listen_port: None,
            mtu: None,
            addresses: vec!["10.0.0.2/32".parse().unwrap()],
            dns: vec![],
            dns_search: vec![],
            peers,
        }
    }

    fn validate_err(config: &TunnelConfig) -> ConfigErrorKind {
        let ConfigError { line, kind } = config.validate().unwrap_err();
        assert_eq!(line, 0, "validate reports line 0");
        kind
    }

    #[test]
    fn validate_accepts_a_sensible_config() {
        let mut config = config(vec![peer(1), peer(2)]);
        config.mtu = Some(1280);
        config.dns_search = vec!["corp.example".into()];
        config.peers[0].endpoint = Some(Endpoint::Host {
            host: "vpn.example.com".into(),
            port: 51820,
        });
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn validate_rejects_duplicate_peer_public_keys() {
        let config = config(vec![peer(1), peer(2), peer(1)]);
        assert_eq!(
            validate_err(&config),
            ConfigErrorKind::DuplicatePeer { peer: 3, first: 1 }
        );
    }

    #[test]
    fn validate_rejects_mtu_out_of_range() {
        for mtu in [0, MIN_MTU - 1, MAX_MTU + 1, u16::MAX] {
            let mut config = config(vec![]);
            config.mtu = Some(mtu);
            assert_eq!(
                validate_err(&config),
                ConfigErrorKind::BadMtu {
                    value: mtu.to_string()
                }
            );
        }
    }

    #[test]
    fn validate_accepts_mtu_bounds() {
        for mtu in [MIN_MTU, MAX_MTU] {
            let mut config = config(vec![]);
            config.mtu = Some(mtu);
            assert_eq!(config.validate(), Ok(()));
        }
    }

    #[test]
    fn validate_rejects_peer_with_own_public_key() {
        let mut config = config(vec![peer(1), peer(2)]);
        config.peers[1].public_key = config.private_key.public_key();
        assert_eq!(
            validate_err(&config),
            ConfigErrorKind::PeerIsSelf { peer: 2 }
        );
    }

    #[test]
    fn validate_rejects_search_domain_that_would_parse_as_server_or_garbage() {
        for name in ["1.2.3.4", "fd00::1", "", "two words", "a,b"] {
            let mut config = config(vec![]);
            config.dns_search = vec![name.into()];
            assert!(
                matches!(validate_err(&config), ConfigErrorKind::BadDns { .. }),
                "{name:?}"
            );
        }
    }

    #[test]
    fn validate_rejects_endpoints_wg_quick_cannot_express() {
        let cases = [
            (Endpoint::Addr("192.0.2.1:0".parse().unwrap()), "port"),
            (
                Endpoint::Host {
                    host: "vpn.example".into(),
                    port: 0,
                },
                "port",
            ),
            (
                Endpoint::Host {
                    host: "192.0.2.1".into(),
                    port: 1,
                },
                "host",
            ),
            (
                Endpoint::Host {
                    host: "bad host".into(),
                    port: 1,
                },
                "host",
            ),
            (
                Endpoint::Addr(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::LOCALHOST,
                    1,
                    0,
                    3,
                ))),
                "host",
            ),
            (
                Endpoint::Addr(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::LOCALHOST,
                    1,
                    9,
                    0,
                ))),
                "host",
            ),
        ];
        for (endpoint, what) in cases {
            let mut config = config(vec![peer(1)]);
            config.peers[0].endpoint = Some(endpoint.clone());
            let kind = validate_err(&config);
            let ok = match what {
                "port" => matches!(kind, ConfigErrorKind::EndpointBadPort { .. }),
                _ => matches!(kind, ConfigErrorKind::EndpointBadHost { .. }),
            };
            assert!(ok, "{endpoint:?} gave {kind:?}");
        }
    }
}

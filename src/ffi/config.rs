//! FFI records for the tunnel config, and their checked conversions to and
//! from [`crate::config`].
//!
//! Keys travel as standard base64 strings, prefixes as `"10.0.0.2/32"`,
//! endpoints as `"host:port"` / `"[v6]:port"`; everything is parsed here into
//! the checked core types, so a bad string is an error, never a panic.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use crate::config::quote::shown;
use crate::config::{self, Endpoint, IpNet, PresharedKey, PrivateKey, PublicKey};

use super::FerrotunError;

/// The `[Interface]` section plus its peers, as apps build it.
///
/// Kotlin/Swift note: the generated `toString()` / `description` of this record
/// prints `privateKey`; don't log the record itself.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct TunnelConfig {
    /// This end's private key, standard base64 (what `wg genkey` prints).
    pub private_key: String,
    /// UDP port to listen on; `null` lets the OS pick one.
    #[uniffi(default = None)]
    pub listen_port: Option<u16>,
    /// Tunnel MTU; `null` means the default (1420).
    #[uniffi(default = None)]
    pub mtu: Option<u16>,
    /// Interface addresses as prefixes, e.g. `"10.0.0.2/32"`; a bare address means a host prefix.
    #[uniffi(default)]
    pub addresses: Vec<String>,
    /// DNS server addresses, e.g. `"10.0.0.1"`.
    #[uniffi(default)]
    pub dns: Vec<String>,
    /// DNS search domains.
    #[uniffi(default)]
    pub dns_search: Vec<String>,
    /// The peers, in order.
    #[uniffi(default)]
    pub peers: Vec<PeerConfig>,
}

/// One `[Peer]` section.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct PeerConfig {
    /// The peer's public key, standard base64.
    pub public_key: String,
    /// Optional preshared key, standard base64.
    #[uniffi(default = None)]
    pub preshared_key: Option<String>,
    /// `"192.0.2.1:51820"`, `"[2001:db8::1]:51820"` or `"vpn.example.com:51820"`;
    /// `null` waits for the peer to make contact.
    #[uniffi(default = None)]
    pub endpoint: Option<String>,
    /// Prefixes routed to and accepted from this peer, e.g. `"0.0.0.0/0"`.
    #[uniffi(default)]
    pub allowed_ips: Vec<String>,
    /// Seconds between keepalives when idle; `null` or 0 turns them off.
    #[uniffi(default = None)]
    pub persistent_keepalive: Option<u16>,
    /// Filled by `resolveEndpoints`: the address `endpoint` resolved to
    /// (`"192.0.2.1:51820"`, `"[64:ff9b::c000:201]:51820"`). `start` sends
    /// there and never waits for DNS; `endpoint` keeps the host name so the
    /// tunnel can resolve it again after network changes. Leave `null` when
    /// building a config.
    #[uniffi(default = None)]
    pub resolved_endpoint: Option<String>,
}

impl fmt::Debug for TunnelConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TunnelConfig")
            .field("private_key", &"<redacted>")
            .field("listen_port", &self.listen_port)
            .field("mtu", &self.mtu)
            .field("addresses", &self.addresses)
            .field("dns", &self.dns)
            .field("dns_search", &self.dns_search)
            .field("peers", &self.peers)
            .finish()
    }
}

impl fmt::Debug for PeerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerConfig")
            .field("public_key", &self.public_key)
            .field(
                "preshared_key",
                &self.preshared_key.as_ref().map(|_| "<redacted>"),
            )
            .field("endpoint", &self.endpoint)
            .field("allowed_ips", &self.allowed_ips)
            .field("persistent_keepalive", &self.persistent_keepalive)
            .field("resolved_endpoint", &self.resolved_endpoint)
            .finish()
    }
}

fn invalid(field: impl Into<String>, reason: impl fmt::Display) -> FerrotunError {
    FerrotunError::InvalidField {
        field: field.into(),
        reason: reason.to_string(),
    }
}

/// Parses a prefix; a bare address is taken as a host prefix (`/32`, `/128`), as wg-quick does.
pub(crate) fn parse_prefix(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    if let Ok(net) = text.parse::<IpNet>() {
        return Ok(net);
    }
    text.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("`{}` is not an IP prefix like 10.0.0.2/32", shown(text)))
}

/// Parses `"a.b.c.d:port"`, `"[v6]:port"` or `"host:port"`.
pub(crate) fn parse_endpoint(text: &str) -> Result<Endpoint, String> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(Endpoint::Addr(addr));
    }
    let bad = || {
        format!(
            "`{}` is not host:port, a.b.c.d:port or [v6]:port",
            shown(text)
        )
    };
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let valid_host = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    if !valid_host {
        return Err(bad());
    }
    Ok(Endpoint::Host {
        host: host.to_owned(),
        port,
    })
}

fn print_endpoint(endpoint: &Endpoint) -> String {
    match endpoint {
        Endpoint::Addr(addr) => addr.to_string(),
        Endpoint::Host { host, port } => format!("{host}:{port}"),
    }
}

impl TryFrom<TunnelConfig> for config::TunnelConfig {
    type Error = FerrotunError;

    /// Parses every string field, then runs [`config::TunnelConfig::validate`].
    fn try_from(value: TunnelConfig) -> Result<Self, FerrotunError> {
        let private_key =
            PrivateKey::from_base64(&value.private_key).map_err(|e| invalid("privateKey", e))?;
        let addresses = value
            .addresses
            .iter()
            .enumerate()
            .map(|(i, a)| parse_prefix(a).map_err(|e| invalid(format!("addresses[{i}]"), e)))
            .collect::<Result<_, _>>()?;
        let dns = value
            .dns
            .iter()
            .enumerate()
            .map(|(i, d)| {
                d.trim().parse::<IpAddr>().map_err(|_| {
                    invalid(
                        format!("dns[{i}]"),
                        format!("`{}` is not an IP address", shown(d)),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        let peers = value
            .peers
            .into_iter()
            .enumerate()
            .map(|(i, p)| peer_from_ffi(i, p))
            .collect::<Result<_, _>>()?;
        let config = config::TunnelConfig {
            private_key,
            listen_port: value.listen_port,
            mtu: value.mtu,
            addresses,
            dns,
            dns_search: value.dns_search,
            peers,
        };
        config.validate()?;
        Ok(config)
    }
}

fn peer_from_ffi(index: usize, peer: PeerConfig) -> Result<config::PeerConfig, FerrotunError> {
    let field = |name: &str| format!("peers[{index}].{name}");
    let public_key =
        PublicKey::from_base64(&peer.public_key).map_err(|e| invalid(field("publicKey"), e))?;
    let preshared_key = peer
        .preshared_key
        .as_deref()
        .map(PresharedKey::from_base64)
        .transpose()
        .map_err(|e| invalid(field("presharedKey"), e))?;
    let endpoint = peer
        .endpoint
        .as_deref()
        .map(parse_endpoint)
        .transpose()
        .map_err(|e| invalid(field("endpoint"), e))?;
    let resolved_endpoint = peer
        .resolved_endpoint
        .as_deref()
        .map(|text| {
            text.trim()
                .parse::<SocketAddr>()
                .map_err(|_| format!("`{}` is not a.b.c.d:port or [v6]:port", shown(text)))
        })
        .transpose()
        .map_err(|e| invalid(field("resolvedEndpoint"), e))?;
    let allowed_ips = peer
        .allowed_ips
        .iter()
        .enumerate()
        .map(|(i, a)| parse_prefix(a).map_err(|e| invalid(field(&format!("allowedIps[{i}]")), e)))
        .collect::<Result<_, _>>()?;
    Ok(config::PeerConfig {
        public_key,
        preshared_key,
        endpoint,
        allowed_ips,
        persistent_keepalive: peer.persistent_keepalive,
        resolved_endpoint,
    })
}

impl From<&config::TunnelConfig> for TunnelConfig {
    fn from(value: &config::TunnelConfig) -> Self {
        TunnelConfig {
            private_key: value.private_key.to_base64(),
            listen_port: value.listen_port,
            mtu: value.mtu,
            addresses: value.addresses.iter().map(ToString::to_string).collect(),
            dns: value.dns.iter().map(ToString::to_string).collect(),
            dns_search: value.dns_search.clone(),
            peers: value.peers.iter().map(PeerConfig::from).collect(),
        }
    }
}

impl From<&config::PeerConfig> for PeerConfig {
    fn from(value: &config::PeerConfig) -> Self {
        PeerConfig {
            public_key: value.public_key.to_base64(),
            preshared_key: value.preshared_key.as_ref().map(PresharedKey::to_base64),
            endpoint: value.endpoint.as_ref().map(print_endpoint),
            allowed_ips: value.allowed_ips.iter().map(ToString::to_string).collect(),
            persistent_keepalive: value.persistent_keepalive,
            resolved_endpoint: value.resolved_endpoint.map(|a| a.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TunnelConfig {
        let private = PrivateKey::generate();
        TunnelConfig {
            private_key: private.to_base64(),
            listen_port: Some(51820),
            mtu: None,
            addresses: vec!["10.0.0.2/32".into(), "fd00::2".into()],
            dns: vec!["10.0.0.1".into()],
            dns_search: vec!["example.com".into()],
            peers: vec![PeerConfig {
                public_key: PrivateKey::generate().public_key().to_base64(),
                preshared_key: Some(PresharedKey::from_bytes([7; 32]).to_base64()),
                endpoint: Some("[2001:db8::1]:51820".into()),
                allowed_ips: vec!["0.0.0.0/0".into(), "::/0".into()],
                persistent_keepalive: Some(25),
                resolved_endpoint: None,
            }],
        }
    }

    #[test]
    fn records_convert_to_core_and_back() {
        let ffi = sample();
        let core = config::TunnelConfig::try_from(ffi.clone()).unwrap();
        assert_eq!(core.addresses[1].to_string(), "fd00::2/128");
        let back = TunnelConfig::from(&core);
        assert_eq!(back.addresses, ["10.0.0.2/32", "fd00::2/128"]);
        assert_eq!(back.peers, ffi.peers);
        assert_eq!(back.private_key, ffi.private_key);
    }

    #[test]
    fn bad_fields_name_the_field() {
        let mut ffi = sample();
        ffi.peers[0].allowed_ips.push("10.0.0.0/33".into());
        let err = config::TunnelConfig::try_from(ffi).unwrap_err();
        assert!(
            matches!(&err, FerrotunError::InvalidField { field, .. } if field == "peers[0].allowedIps[2]"),
            "{err:?}"
        );

        let mut ffi = sample();
        ffi.private_key = "c2hvcnQ=".into();
        let err = config::TunnelConfig::try_from(ffi).unwrap_err();
        assert!(err.to_string().contains("privateKey"), "{err}");
        assert!(err.to_string().contains("32"), "{err}");
    }

    #[test]
    fn a_resolved_endpoint_must_be_an_address() {
        let mut ffi = sample();
        ffi.peers[0].endpoint = Some("vpn.example.com:51820".into());
        ffi.peers[0].resolved_endpoint = Some("[64:ff9b::c000:201]:51820".into());
        let core = config::TunnelConfig::try_from(ffi.clone()).unwrap();
        assert_eq!(
            core.peers[0].initial_endpoint(),
            Some("[64:ff9b::c000:201]:51820".parse().unwrap())
        );
        assert_eq!(TunnelConfig::from(&core).peers, ffi.peers, "round trip");

        ffi.peers[0].resolved_endpoint = Some("vpn.example.com:51820".into());
        let err = config::TunnelConfig::try_from(ffi).unwrap_err();
        assert!(
            matches!(&err, FerrotunError::InvalidField { field, .. } if field == "peers[0].resolvedEndpoint"),
            "{err:?}"
        );
    }

    #[test]
    fn endpoints_parse_in_every_form() {
        assert_eq!(
            parse_endpoint("192.0.2.1:51820").unwrap(),
            Endpoint::Addr("192.0.2.1:51820".parse().unwrap())
        );
        assert_eq!(
            parse_endpoint("vpn.example.com:443").unwrap(),
            Endpoint::Host {
                host: "vpn.example.com".into(),
                port: 443
            }
        );
        for bad in ["", "host", ":80", "host:99999", "[::1]", "a b:1", "[::1:80"] {
            assert!(parse_endpoint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_output_hides_keys() {
        let ffi = sample();
        let text = format!("{ffi:?}");
        assert!(!text.contains(&ffi.private_key));
        assert!(!text.contains(ffi.peers[0].preshared_key.as_ref().unwrap()));
        assert!(text.contains(&ffi.peers[0].public_key));
    }
}

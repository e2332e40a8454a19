//! FFI records for the tunnel config, and their checked conversions to and
//! from [`crate::config`].
//!
//! Keys travel as standard base64 strings, prefixes as `"10.0.0.2/32"`,
//! endpoints as `"host:port"` / `"[v6]:port"`; every field is parsed by the
//! same checked core types the wg-quick parser uses, so a bad string is an
//! error naming the field, never a panic.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU16;

use crate::config::quote::shown;
use crate::config::{self, Endpoint, Mtu, PresharedKey, PrivateKey, PublicKey, parse_prefix};

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

/// Parses `text` with `parse`; on failure, the field is named and the text
/// quoted (redacted if it may hold a key).
fn field<T, E: fmt::Display>(
    name: impl FnOnce() -> String,
    text: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, FerrotunError> {
    parse(text.trim()).map_err(|e| invalid(name(), format!("`{}`: {e}", shown(text))))
}

/// A key field; its text is never quoted.
fn key<K>(
    name: impl FnOnce() -> String,
    text: &str,
    parse: fn(&str) -> Result<K, config::KeyError>,
) -> Result<K, FerrotunError> {
    parse(text).map_err(|e| invalid(name(), e))
}

fn list<T, E: fmt::Display>(
    name: impl Fn(usize) -> String,
    texts: &[String],
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Vec<T>, FerrotunError> {
    let parse = &parse;
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| field(|| name(i), text, parse))
        .collect()
}

impl TryFrom<TunnelConfig> for config::TunnelConfig {
    type Error = FerrotunError;

    /// Parses every field into the checked core types, then builds the
    /// config through [`config::TunnelConfig::new`].
    fn try_from(value: TunnelConfig) -> Result<Self, FerrotunError> {
        let private_key = key(
            || "privateKey".into(),
            &value.private_key,
            PrivateKey::from_base64,
        )?;
        let mtu = value
            .mtu
            .map(|mtu| Mtu::try_from(mtu).map_err(|e| invalid("mtu", format!("`{mtu}`: {e}"))))
            .transpose()?;
        let addresses = list(
            |i| format!("addresses[{i}]"),
            &value.addresses,
            parse_prefix,
        )?;
        let dns = list(
            |i| format!("dns[{i}]"),
            &value.dns,
            |d| d.parse::<IpAddr>().map_err(|_| "not an IP address"),
        )?;
        let dns_search = list(|i| format!("dnsSearch[{i}]"), &value.dns_search, str::parse)?;
        let peers = value
            .peers
            .into_iter()
            .enumerate()
            .map(|(i, p)| peer_from_ffi(i, p))
            .collect::<Result<_, _>>()?;
        Ok(config::TunnelConfig::new(private_key, peers)?
            .with_listen_port(value.listen_port.and_then(NonZeroU16::new))
            .with_mtu(mtu)
            .with_addresses(addresses)
            .with_dns(dns)
            .with_dns_search(dns_search))
    }
}

fn peer_from_ffi(index: usize, peer: PeerConfig) -> Result<config::PeerConfig, FerrotunError> {
    let name = |name: &str| format!("peers[{index}].{name}");
    Ok(config::PeerConfig {
        public_key: key(
            || name("publicKey"),
            &peer.public_key,
            PublicKey::from_base64,
        )?,
        preshared_key: peer
            .preshared_key
            .map(|k| key(|| name("presharedKey"), &k, PresharedKey::from_base64))
            .transpose()?,
        endpoint: peer
            .endpoint
            .as_deref()
            .map(|t| field(|| name("endpoint"), t, str::parse::<Endpoint>))
            .transpose()?,
        allowed_ips: list(
            |i| name(&format!("allowedIps[{i}]")),
            &peer.allowed_ips,
            parse_prefix,
        )?,
        persistent_keepalive: peer.persistent_keepalive.and_then(NonZeroU16::new),
        resolved_endpoint: peer
            .resolved_endpoint
            .as_deref()
            .map(|t| {
                field(
                    || name("resolvedEndpoint"),
                    t,
                    |t| {
                        t.parse::<SocketAddr>()
                            .map_err(|_| "not a.b.c.d:port or [v6]:port")
                    },
                )
            })
            .transpose()?,
    })
}

impl From<&config::TunnelConfig> for TunnelConfig {
    fn from(value: &config::TunnelConfig) -> Self {
        TunnelConfig {
            private_key: value.private_key().to_base64(),
            listen_port: value.listen_port().map(NonZeroU16::get),
            mtu: value.mtu().map(Mtu::get),
            addresses: strings(value.addresses()),
            dns: strings(value.dns()),
            dns_search: strings(value.dns_search()),
            peers: value.peers().iter().map(PeerConfig::from).collect(),
        }
    }
}

impl From<&config::PeerConfig> for PeerConfig {
    fn from(value: &config::PeerConfig) -> Self {
        PeerConfig {
            public_key: value.public_key.to_base64(),
            preshared_key: value.preshared_key.as_ref().map(PresharedKey::to_base64),
            endpoint: value.endpoint.as_ref().map(ToString::to_string),
            allowed_ips: strings(&value.allowed_ips),
            persistent_keepalive: value.persistent_keepalive.map(NonZeroU16::get),
            resolved_endpoint: value.resolved_endpoint.map(|a| a.to_string()),
        }
    }
}

fn strings(items: &[impl ToString]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
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
        assert_eq!(core.addresses()[1].to_string(), "fd00::2/128");
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
            core.peers()[0].initial_endpoint(),
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
    fn fields_are_checked_by_the_wg_quick_rules() {
        let field_of = |ffi: TunnelConfig| match config::TunnelConfig::try_from(ffi) {
            Err(FerrotunError::InvalidField { field, reason }) => (field, reason),
            other => panic!("{other:?}"),
        };
        for (endpoint, reason) in [
            ("vpn.example.com:0", "port must be"),
            ("2001:db8::1:51820", "brackets"),
            ("a b:1", "host is not"),
        ] {
            let mut ffi = sample();
            ffi.peers[0].endpoint = Some(endpoint.into());
            let (field, message) = field_of(ffi);
            assert_eq!(field, "peers[0].endpoint");
            assert!(
                message.contains(reason) && message.contains(endpoint),
                "{message}"
            );
        }
        let mut ffi = sample();
        ffi.mtu = Some(100);
        assert_eq!(
            field_of(ffi),
            (
                "mtu".into(),
                "`100`: expected a number from 576 to 9000".into()
            )
        );
        let mut ffi = sample();
        ffi.dns_search.push("10.0.0.1".into());
        assert_eq!(field_of(ffi).0, "dnsSearch[1]");
    }

    #[test]
    fn peers_that_clash_are_a_config_error() {
        let mut ffi = sample();
        ffi.peers.push(ffi.peers[0].clone());
        let err = config::TunnelConfig::try_from(ffi).unwrap_err();
        assert!(
            matches!(&err, FerrotunError::Config { line: 0, reason } if reason == "peer #2 has the same PublicKey as peer #1"),
            "{err:?}"
        );
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

//! Single values: numbers, prefixes, DNS entries, endpoints, and quoting
//! user text into errors without leaking secrets.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::str::FromStr;

use ipnet::IpNet;

use super::ConfigErrorKind;
use crate::config::Endpoint;

pub(super) use crate::config::quote::shown;

/// The non-empty, trimmed entries of a comma-separated list. Empty entries
/// (`a,,b`, a trailing comma, an empty value) are skipped, as wg-quick does.
pub(super) fn list(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
}

/// A decimal number of ASCII digits only (no sign, no spaces) that fits a u16.
pub(super) fn parse_u16(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// An `Address` or `AllowedIPs` entry. A bare address is a host prefix
/// (/32 or /128); the prefix is kept as written, host bits included.
pub(super) fn parse_prefix(key: &'static str, item: &str) -> Result<IpNet, ConfigErrorKind> {
    item.parse::<IpNet>()
        .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| ConfigErrorKind::BadCidr {
            key,
            value: shown(item),
        })
}

/// True for text wg-quick treats as an address rather than a name: only
/// digits and dots, or any colon. Such text must parse as an IP address.
pub(super) fn is_ip_like(text: &str) -> bool {
    text.contains(':') || text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// A DNS host name: dot-separated labels of 1 to 63 ASCII letters, digits,
/// `-` or `_`, at most 253 characters, optionally ending in a dot. Does not
/// reject IP-like text; combine with [`is_ip_like`].
pub(super) fn is_domain_name(text: &str) -> bool {
    let name = text.strip_suffix('.').unwrap_or(text);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// One `DNS` entry, classified the way wg-quick does.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum DnsEntry {
    /// A resolver address.
    Server(IpAddr),
    /// A search domain.
    Search(String),
}

/// Classifies one `DNS` entry: IP-like text must be an address, anything else
/// must be a domain name.
pub(super) fn parse_dns(item: &str) -> Result<DnsEntry, ConfigErrorKind> {
    if is_ip_like(item) {
        item.parse()
            .map(DnsEntry::Server)
            .map_err(|_| ConfigErrorKind::BadDns { value: shown(item) })
    } else if is_domain_name(item) {
        Ok(DnsEntry::Search(item.to_owned()))
    } else {
        Err(ConfigErrorKind::BadDns { value: shown(item) })
    }
}

/// Parses `host:port`, `192.0.2.1:port` or `[2001:db8::1]:port`. Literal IPs
/// become [`Endpoint::Addr`], names [`Endpoint::Host`]. Port 0 is rejected:
/// nothing can be sent to it.
pub(super) fn parse_endpoint(value: &str) -> Result<Endpoint, ConfigErrorKind> {
    let missing_port = || ConfigErrorKind::EndpointMissingPort {
        value: shown(value),
    };
    let bad_port = || ConfigErrorKind::EndpointBadPort {
        value: shown(value),
    };
    let bad_host = || ConfigErrorKind::EndpointBadHost {
        value: shown(value),
    };

    if let Some(bracketed) = value.strip_prefix('[') {
        let (host, rest) = bracketed.split_once(']').ok_or_else(bad_host)?;
        let port = rest.strip_prefix(':').ok_or_else(missing_port)?;
        let port = parse_u16(port).filter(|&p| p != 0).ok_or_else(bad_port)?;
        let ip = host.parse::<Ipv6Addr>().map_err(|_| bad_host())?;
        return Ok(Endpoint::Addr(SocketAddr::V6(SocketAddrV6::new(
            ip, port, 0, 0,
        ))));
    }

    let (host, port) = value.rsplit_once(':').ok_or_else(missing_port)?;
    if host.contains(':') {
        return Err(ConfigErrorKind::EndpointUnbracketedIpv6 {
            value: shown(value),
        });
    }
    let port = parse_u16(port).filter(|&p| p != 0).ok_or_else(bad_port)?;
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok(Endpoint::Addr(SocketAddr::new(IpAddr::V4(ip), port)));
    }
    if is_ip_like(host) || !is_domain_name(host) {
        return Err(bad_host());
    }
    Ok(Endpoint::Host {
        host: host.to_owned(),
        port,
    })
}

impl FromStr for Endpoint {
    type Err = ConfigErrorKind;

    /// Parses an endpoint as written after `Endpoint =` in wg-quick text.
    ///
    /// # Errors
    /// One of the `Endpoint*` variants of [`ConfigErrorKind`].
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse_endpoint(text.trim())
    }
}

impl fmt::Display for Endpoint {
    /// As wg-quick writes it: `192.0.2.1:51820`, `[2001:db8::1]:51820`,
    /// `vpn.example.com:51820`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Addr(addr) => write!(f, "{addr}"),
            Endpoint::Host { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> Endpoint {
        Endpoint::Addr(text.parse().unwrap())
    }

    #[test]
    fn endpoint_ipv4_literal_is_addr() {
        assert_eq!(
            parse_endpoint("192.0.2.1:51820"),
            Ok(addr("192.0.2.1:51820"))
        );
    }

    #[test]
    fn endpoint_bracketed_ipv6_is_addr() {
        assert_eq!(
            parse_endpoint("[2001:db8::1]:51820"),
            Ok(addr("[2001:db8::1]:51820"))
        );
    }

    #[test]
    fn endpoint_name_is_host() {
        assert_eq!(
            parse_endpoint("vpn.example.com:443"),
            Ok(Endpoint::Host {
                host: "vpn.example.com".into(),
                port: 443
            })
        );
    }

    #[test]
    fn endpoint_unbracketed_ipv6_is_rejected() {
        assert!(matches!(
            parse_endpoint("2001:db8::1:51820"),
            Err(ConfigErrorKind::EndpointUnbracketedIpv6 { .. })
        ));
    }

    #[test]
    fn endpoint_without_port_is_rejected() {
        for text in ["192.0.2.1", "vpn.example.com", "[2001:db8::1]"] {
            assert!(
                matches!(
                    parse_endpoint(text),
                    Err(ConfigErrorKind::EndpointMissingPort { .. })
                ),
                "{text}"
            );
        }
    }

    #[test]
    fn endpoint_port_zero_overflow_or_text_is_rejected() {
        for text in [
            "h.example:0",
            "h.example:65536",
            "h.example:x",
            "h.example:",
            "[::1]:+1",
        ] {
            assert!(
                matches!(
                    parse_endpoint(text),
                    Err(ConfigErrorKind::EndpointBadPort { .. })
                ),
                "{text}"
            );
        }
    }

    #[test]
    fn endpoint_bad_host_is_rejected() {
        for text in [
            "[1.2.3.4]:1",
            "[::1:1",
            "999.1.1.1:1",
            "bad host:1",
            "a..b:1",
            ":1",
            "[fe80::1%2]:1",
        ] {
            assert!(
                matches!(
                    parse_endpoint(text),
                    Err(ConfigErrorKind::EndpointBadHost { .. })
                ),
                "{text}"
            );
        }
    }

    #[test]
    fn endpoint_display_is_parseable_text() {
        for text in [
            "192.0.2.1:51820",
            "[2001:db8::1]:51820",
            "vpn.example.com:51820",
        ] {
            let endpoint: Endpoint = text.parse().unwrap();
            assert_eq!(endpoint.to_string(), text);
        }
    }

    #[test]
    fn bare_address_is_host_prefix_and_host_bits_are_kept() {
        assert_eq!(
            parse_prefix("Address", "10.0.0.1"),
            Ok("10.0.0.1/32".parse().unwrap())
        );
        assert_eq!(
            parse_prefix("Address", "fd00::1"),
            Ok("fd00::1/128".parse().unwrap())
        );
        assert_eq!(
            parse_prefix("Address", "10.0.0.1/24").unwrap().to_string(),
            "10.0.0.1/24"
        );
    }

    #[test]
    fn bad_prefix_quotes_the_entry() {
        assert_eq!(
            parse_prefix("AllowedIPs", "10.0.0.0/33"),
            Err(ConfigErrorKind::BadCidr {
                key: "AllowedIPs",
                value: "10.0.0.0/33".into()
            })
        );
    }

    #[test]
    fn dns_entries_split_into_servers_and_search_domains() {
        assert_eq!(
            parse_dns("1.1.1.1"),
            Ok(DnsEntry::Server("1.1.1.1".parse().unwrap()))
        );
        assert_eq!(
            parse_dns("2606:4700::1111"),
            Ok(DnsEntry::Server("2606:4700::1111".parse().unwrap()))
        );
        assert_eq!(
            parse_dns("corp.example"),
            Ok(DnsEntry::Search("corp.example".into()))
        );
        assert!(matches!(
            parse_dns("1.1.1"),
            Err(ConfigErrorKind::BadDns { .. })
        ));
        assert!(matches!(
            parse_dns("no spaces.example"),
            Err(ConfigErrorKind::BadDns { .. })
        ));
    }

    #[test]
    fn numbers_are_plain_digits_in_range() {
        assert_eq!(parse_u16("0"), Some(0));
        assert_eq!(parse_u16("065535"), Some(65535));
        for text in ["", "65536", "+1", "-1", " 1", "1e3", "0x10"] {
            assert_eq!(parse_u16(text), None, "{text}");
        }
    }

    #[test]
    fn list_trims_and_skips_empty_entries() {
        assert_eq!(list(" a , b,,c , ").collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(list("").count(), 0);
    }
}

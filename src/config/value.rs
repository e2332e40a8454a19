//! Checked values: a config can only hold what these types let through, so
//! nothing downstream re-validates. wg-quick text and the FFI records both
//! parse through here.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::num::NonZeroU16;
use std::str::FromStr;

use ipnet::IpNet;

use super::{MAX_MTU, MIN_MTU};

/// Why a value was rejected, as a phrase (`expected a number from 576 to
/// 9000`). Never contains the value itself; callers quote it (redacted as
/// in `config::quote`) where that is safe.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(Cow<'static, str>);

impl Invalid {
    pub(crate) const fn new(reason: &'static str) -> Self {
        Self(Cow::Borrowed(reason))
    }
}

impl From<super::KeyError> for Invalid {
    fn from(error: super::KeyError) -> Self {
        Self(Cow::Owned(error.to_string()))
    }
}

/// Spells out [`MIN_MTU`] and [`MAX_MTU`] (a test keeps them in step).
const BAD_MTU: Invalid = Invalid::new("expected a number from 576 to 9000");
const BAD_PREFIX: Invalid = Invalid::new("not an IP address or CIDR prefix");
const BAD_DOMAIN: Invalid = Invalid::new("not a domain name");
const MISSING_PORT: Invalid = Invalid::new("missing `:port` (write `host:port` or `[IPv6]:port`)");
const BAD_PORT: Invalid = Invalid::new("port must be a number from 1 to 65535");
const UNBRACKETED_IPV6: Invalid =
    Invalid::new("put IPv6 addresses in brackets, e.g. `[2001:db8::1]:51820`");
const BAD_HOST: Invalid = Invalid::new("host is not an IP address or a valid host name");

/// A decimal number of ASCII digits only (no sign, no spaces) that fits a u16.
pub(crate) fn parse_u16(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// True for text wg-quick treats as an address rather than a name: only
/// digits and dots, or any colon.
pub(crate) fn is_ip_like(text: &str) -> bool {
    text.contains(':') || text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// An interface address or allowed-IPs entry. A bare address is a host
/// prefix (/32 or /128); the prefix is kept as written, host bits included.
///
/// # Errors
/// Text that is neither a prefix nor an address.
pub fn parse_prefix(text: &str) -> Result<IpNet, Invalid> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| BAD_PREFIX)
}

/// A tunnel MTU in [`MIN_MTU`]`..=`[`MAX_MTU`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mtu(u16);

impl Mtu {
    /// The MTU in bytes.
    pub fn get(self) -> u16 {
        self.0
    }
}

impl TryFrom<u16> for Mtu {
    type Error = Invalid;

    fn try_from(mtu: u16) -> Result<Self, Invalid> {
        if (MIN_MTU..=MAX_MTU).contains(&mtu) {
            Ok(Self(mtu))
        } else {
            Err(BAD_MTU)
        }
    }
}

impl FromStr for Mtu {
    type Err = Invalid;

    fn from_str(text: &str) -> Result<Self, Invalid> {
        parse_u16(text).ok_or(BAD_MTU).and_then(Self::try_from)
    }
}

impl fmt::Display for Mtu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A DNS name (a search domain, or an endpoint's host): dot-separated labels
/// of 1 to 63 ASCII letters, digits, `-` or `_`, at most 253 characters,
/// optionally ending in a dot, and not text that looks like an IP address
/// (so it prints as a name and parses back as one).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainName(String);

impl DomainName {
    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for DomainName {
    type Err = Invalid;

    fn from_str(text: &str) -> Result<Self, Invalid> {
        let name = text.strip_suffix('.').unwrap_or(text);
        let valid = !is_ip_like(text)
            && !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|label| {
                (1..=63).contains(&label.len())
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(BAD_DOMAIN)
        }
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A peer's configured endpoint: an IP address or a host name, and a port
/// that is not 0. Always expressible in wg-quick text (no IPv6 scope id or
/// flow label).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint(EndpointInner);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum EndpointInner {
    Addr(SocketAddr),
    /// Resolved before the tunnel starts and again after network changes
    /// ([`crate::io::resolve`]).
    Host(DomainName, NonZeroU16),
}

impl Endpoint {
    /// The address, if the endpoint is a literal IP address.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match &self.0 {
            EndpointInner::Addr(addr) => Some(*addr),
            EndpointInner::Host(..) => None,
        }
    }

    /// The host name, if the endpoint is one.
    pub fn host_name(&self) -> Option<&DomainName> {
        match &self.0 {
            EndpointInner::Host(host, _) => Some(host),
            EndpointInner::Addr(_) => None,
        }
    }

    /// True when the endpoint is a host name (which must be resolved).
    pub fn is_host_name(&self) -> bool {
        self.host_name().is_some()
    }

    /// The UDP port; never 0.
    pub fn port(&self) -> NonZeroU16 {
        match &self.0 {
            EndpointInner::Addr(addr) => NonZeroU16::new(addr.port()).expect("checked on creation"),
            EndpointInner::Host(_, port) => *port,
        }
    }

    /// A host-name endpoint.
    pub fn from_host(host: DomainName, port: NonZeroU16) -> Self {
        Self(EndpointInner::Host(host, port))
    }
}

impl TryFrom<SocketAddr> for Endpoint {
    type Error = Invalid;

    /// # Errors
    /// Port 0, or an IPv6 scope id or flow label (wg-quick cannot write them).
    fn try_from(addr: SocketAddr) -> Result<Self, Invalid> {
        match addr {
            _ if addr.port() == 0 => Err(BAD_PORT),
            SocketAddr::V6(v6) if v6.scope_id() != 0 || v6.flowinfo() != 0 => Err(BAD_HOST),
            _ => Ok(Self(EndpointInner::Addr(addr))),
        }
    }
}

impl FromStr for Endpoint {
    type Err = Invalid;

    /// Parses `host:port`, `192.0.2.1:port` or `[2001:db8::1]:port`, as
    /// written after `Endpoint =` in wg-quick text.
    fn from_str(text: &str) -> Result<Self, Invalid> {
        let text = text.trim();
        let port = |text: &str| parse_u16(text).and_then(NonZeroU16::new).ok_or(BAD_PORT);
        if let Some(bracketed) = text.strip_prefix('[') {
            let (host, rest) = bracketed.split_once(']').ok_or(BAD_HOST)?;
            let port = port(rest.strip_prefix(':').ok_or(MISSING_PORT)?)?;
            let ip = host.parse::<Ipv6Addr>().map_err(|_| BAD_HOST)?;
            let addr = SocketAddrV6::new(ip, port.get(), 0, 0);
            return Ok(Self(EndpointInner::Addr(addr.into())));
        }
        let (host, port_text) = text.rsplit_once(':').ok_or(MISSING_PORT)?;
        if host.contains(':') {
            return Err(UNBRACKETED_IPV6);
        }
        let port = port(port_text)?;
        if let Ok(ip) = host.parse::<Ipv4Addr>() {
            let addr = SocketAddr::new(ip.into(), port.get());
            return Ok(Self(EndpointInner::Addr(addr)));
        }
        let host = host.parse().map_err(|_| BAD_HOST)?;
        Ok(Self::from_host(host, port))
    }
}

impl fmt::Display for Endpoint {
    /// As wg-quick writes it: `192.0.2.1:51820`, `[2001:db8::1]:51820`,
    /// `vpn.example.com:51820`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            EndpointInner::Addr(addr) => write!(f, "{addr}"),
            EndpointInner::Host(host, port) => write!(f, "{host}:{port}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(text: &str) -> Result<Endpoint, Invalid> {
        text.parse()
    }

    #[test]
    fn mtu_reason_names_the_bounds() {
        assert_eq!(
            BAD_MTU.to_string(),
            format!("expected a number from {MIN_MTU} to {MAX_MTU}")
        );
    }

    #[test]
    fn mtu_accepts_its_bounds_only() {
        for mtu in [MIN_MTU, MAX_MTU] {
            assert_eq!(Mtu::try_from(mtu).map(Mtu::get), Ok(mtu));
        }
        for mtu in [0, MIN_MTU - 1, MAX_MTU + 1, u16::MAX] {
            assert_eq!(Mtu::try_from(mtu), Err(BAD_MTU));
        }
        for text in ["big", "+1280", " 1280", ""] {
            assert_eq!(text.parse::<Mtu>(), Err(BAD_MTU), "{text}");
        }
    }

    #[test]
    fn endpoint_literals_are_addresses_and_names_are_hosts() {
        let v4 = endpoint("192.0.2.1:51820").unwrap();
        assert_eq!(v4.socket_addr(), Some("192.0.2.1:51820".parse().unwrap()));
        let v6 = endpoint("[2001:db8::1]:51820").unwrap();
        assert_eq!(
            v6.socket_addr(),
            Some("[2001:db8::1]:51820".parse().unwrap())
        );
        let host = endpoint("vpn.example.com:443").unwrap();
        assert!(host.is_host_name());
        assert_eq!(host.socket_addr(), None);
        assert_eq!(host.host_name().unwrap().as_str(), "vpn.example.com");
        assert_eq!(host.port().get(), 443);
    }

    #[test]
    fn endpoint_errors_say_what_is_wrong() {
        let cases: &[(&[&str], Invalid)] = &[
            (
                &["192.0.2.1", "vpn.example.com", "[2001:db8::1]"],
                MISSING_PORT,
            ),
            (
                &[
                    "h.example:0",
                    "h.example:65536",
                    "h.example:x",
                    "h.example:",
                    "[::1]:+1",
                ],
                BAD_PORT,
            ),
            (&["2001:db8::1:51820"], UNBRACKETED_IPV6),
            (
                &[
                    "[1.2.3.4]:1",
                    "[::1:1",
                    "999.1.1.1:1",
                    "bad host:1",
                    "a..b:1",
                    ":1",
                    "[fe80::1%2]:1",
                ],
                BAD_HOST,
            ),
        ];
        for (texts, reason) in cases {
            for text in *texts {
                assert_eq!(endpoint(text).as_ref(), Err(reason), "{text}");
            }
        }
    }

    #[test]
    fn endpoint_from_socket_addr_rejects_what_wg_quick_cannot_write() {
        assert_eq!(
            Endpoint::try_from("192.0.2.1:0".parse::<SocketAddr>().unwrap()),
            Err(BAD_PORT)
        );
        for (flow, scope) in [(0, 3), (9, 0)] {
            let addr = SocketAddrV6::new(Ipv6Addr::LOCALHOST, 1, flow, scope);
            assert_eq!(Endpoint::try_from(SocketAddr::V6(addr)), Err(BAD_HOST));
        }
    }

    #[test]
    fn endpoint_display_is_parseable_text() {
        for text in [
            "192.0.2.1:51820",
            "[2001:db8::1]:51820",
            "vpn.example.com:51820",
        ] {
            assert_eq!(endpoint(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn domain_names_exclude_addresses_and_garbage() {
        for name in ["corp.example", "internal.", "a_b-c"] {
            assert_eq!(name.parse::<DomainName>().unwrap().as_str(), name);
        }
        for name in ["1.2.3.4", "fd00::1", "", ".", "two words", "a,b", "a..b"] {
            assert_eq!(name.parse::<DomainName>(), Err(BAD_DOMAIN), "{name:?}");
        }
    }

    #[test]
    fn bare_address_is_host_prefix_and_host_bits_are_kept() {
        assert_eq!(parse_prefix("10.0.0.1"), Ok("10.0.0.1/32".parse().unwrap()));
        assert_eq!(parse_prefix("fd00::1"), Ok("fd00::1/128".parse().unwrap()));
        assert_eq!(
            parse_prefix("10.0.0.1/24").unwrap().to_string(),
            "10.0.0.1/24"
        );
        assert_eq!(parse_prefix("10.0.0.0/33"), Err(BAD_PREFIX));
    }

    #[test]
    fn numbers_are_plain_digits_in_range() {
        assert_eq!(parse_u16("0"), Some(0));
        assert_eq!(parse_u16("065535"), Some(65535));
        for text in ["", "65536", "+1", "-1", " 1", "1e3", "0x10"] {
            assert_eq!(parse_u16(text), None, "{text}");
        }
    }
}

//! How core types cross the FFI, so the core's records and enums
//! ([`crate::runtime::TunnelStats`], [`crate::runtime::TunnelEvent`],
//! [`crate::settings::InterfaceSettings`], ...) are exported as they are,
//! without mirror types.
//!
//! - [`PublicKey`]: standard base64 text, as `wg` prints keys.
//! - [`SocketAddr`]: `"192.0.2.1:51820"` / `"[2001:db8::1]:51820"`.
//! - [`IpAddr`]: `"10.0.0.1"` / `"fd00::1"`.
//! - [`IpNet`]: an [`IpPrefix`] record, address and prefix length apart,
//!   as `VpnService.Builder` and `NEIPv4Settings` take them.
//!
//! Generated Kotlin and Swift see the text types as aliases of `String`
//! (`PublicKey`, `SocketAddr`, `IpAddr`) and `IpNet` as an alias of `IpPrefix`.
//! Text handed in from Kotlin or Swift that does not parse fails the call.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ipnet::IpNet;

use crate::config::PublicKey;
use crate::config::quote::shown;

/// An IP prefix: an interface address with its prefix length, or a route.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct IpPrefix {
    /// The address, e.g. `"10.0.0.2"` or `"fd00::"`.
    pub address: String,
    /// The prefix length, 0..=32 (IPv4) or 0..=128 (IPv6).
    pub prefix_len: u8,
    /// For IPv4, the prefix as a dotted subnet mask (`"255.255.255.0"`),
    /// which `NEIPv4Settings` and `NEIPv4Route` want; `null` for IPv6.
    /// Ignored when a prefix is handed in.
    pub subnet_mask: Option<String>,
}

impl From<IpNet> for IpPrefix {
    fn from(value: IpNet) -> Self {
        let subnet_mask = match value.netmask() {
            IpAddr::V4(mask) => Some(Ipv4Addr::to_string(&mask)),
            IpAddr::V6(_) => None,
        };
        IpPrefix {
            address: value.addr().to_string(),
            prefix_len: value.prefix_len(),
            subnet_mask,
        }
    }
}

/// Reads a prefix handed in from Kotlin or Swift; `subnet_mask` is ignored.
fn prefix_from_record(value: IpPrefix) -> uniffi::Result<IpNet> {
    let addr = parse_text::<IpAddr>(&value.address, "an IP address")?;
    IpNet::new(addr, value.prefix_len).map_err(|_| {
        uniffi::deps::anyhow::Error::msg(format!("prefix length {} is too long", value.prefix_len))
    })
}

/// Parses `text`, naming what was expected (`what`) when it does not parse.
fn parse_text<T: std::str::FromStr>(text: &str, what: &str) -> uniffi::Result<T> {
    text.trim()
        .parse()
        .map_err(|_| uniffi::deps::anyhow::Error::msg(format!("`{}` is not {what}", shown(text))))
}

uniffi::custom_type!(
    /// A WireGuard public key: standard base64 (44 characters), as `wg pubkey` prints it.
    PublicKey, String, {
    lower: |key| key.to_base64(),
    try_lift: |text| Ok(PublicKey::from_base64(&text)?),
});

uniffi::custom_type!(
    /// An IP address and port: `"192.0.2.1:51820"` or `"[2001:db8::1]:51820"`.
    SocketAddr, String, {
    remote,
    lower: |addr| addr.to_string(),
    try_lift: |text| parse_text(&text, "a.b.c.d:port or [v6]:port"),
});

uniffi::custom_type!(
    /// An IP address: `"10.0.0.1"` or `"fd00::1"`.
    IpAddr, String, {
    remote,
    lower: |addr| addr.to_string(),
    try_lift: |text| parse_text(&text, "an IP address"),
});

uniffi::custom_type!(
    /// An IP prefix (interface address or route), as an [`IpPrefix`] record.
    IpNet, IpPrefix, {
    remote,
    lower: |net| IpPrefix::from(net),
    try_lift: |prefix| prefix_from_record(prefix),
});

#[cfg(test)]
mod tests {
    use uniffi::{Lift, Lower};

    use super::*;
    use crate::UniFfiTag;

    /// Writes `value` as Kotlin/Swift would receive it and reads it back as `B`.
    fn cross<A: Lower<UniFfiTag>, B: Lift<UniFfiTag>>(value: A) -> uniffi::Result<B> {
        let mut buf = Vec::new();
        A::write(value, &mut buf);
        B::try_read(&mut buf.as_slice())
    }

    #[test]
    fn prefixes_carry_address_length_and_ipv4_mask() {
        let v4: IpNet = "10.0.0.2/24".parse().unwrap();
        assert_eq!(
            cross::<IpNet, IpPrefix>(v4).unwrap(),
            IpPrefix {
                address: "10.0.0.2".into(),
                prefix_len: 24,
                subnet_mask: Some("255.255.255.0".into()),
            }
        );
        let v6: IpNet = "fd00::/64".parse().unwrap();
        assert_eq!(cross::<IpNet, IpPrefix>(v6).unwrap().subnet_mask, None);
        assert_eq!(cross::<IpNet, IpNet>(v4).unwrap(), v4);
        assert_eq!(cross::<IpNet, IpNet>(v6).unwrap(), v6);
    }

    #[test]
    fn text_types_cross_as_text_and_back() {
        let key = crate::config::PrivateKey::generate().public_key();
        assert_eq!(cross::<PublicKey, String>(key).unwrap(), key.to_base64());
        assert_eq!(cross::<PublicKey, PublicKey>(key).unwrap(), key);
        let addr: SocketAddr = "[2001:db8::1]:51820".parse().unwrap();
        assert_eq!(
            cross::<SocketAddr, String>(addr).unwrap(),
            "[2001:db8::1]:51820"
        );
        assert_eq!(cross::<SocketAddr, SocketAddr>(addr).unwrap(), addr);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(cross::<IpAddr, String>(ip).unwrap(), "10.0.0.1");
        assert_eq!(cross::<IpAddr, IpAddr>(ip).unwrap(), ip);
    }

    #[test]
    fn text_that_does_not_parse_is_refused() {
        assert!(cross::<String, SocketAddr>("vpn.example.com:51820".into()).is_err());
        assert!(cross::<String, IpAddr>("10.0.0.300".into()).is_err());
        assert!(cross::<String, PublicKey>("c2hvcnQ=".into()).is_err());
        let too_long = IpPrefix {
            address: "10.0.0.0".into(),
            prefix_len: 33,
            subnet_mask: None,
        };
        assert!(cross::<IpPrefix, IpNet>(too_long).is_err());
    }
}

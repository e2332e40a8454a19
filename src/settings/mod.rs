//! Interface settings from a config: what the OS must be told about the
//! tunnel interface (addresses, routes, DNS, MTU per address family) and the
//! rules that keep traffic from leaking around the tunnel.
//!
//! Pure: one function, [`interface_settings`], shared by the Android and
//! Apple glue through the FFI. The platforms differ only in the explicit
//! [`SettingsOptions`] they pass ([`SettingsOptions::android`],
//! [`SettingsOptions::apple`]).
//!
//! The leak rules, per address family:
//! - routed by some peer's `AllowedIPs`: the family's routes go into the
//!   tunnel even when the interface has no address of that family (on Apple,
//!   which needs an address for a family to carry routes, a placeholder);
//! - routed by no peer: left to the system or blocked, as
//!   [`SettingsOptions::unrouted_family`] says.

#[cfg(test)]
mod tests;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::config::{MAX_MTU, MIN_MTU, TunnelConfig};

/// The MTU WireGuard's Android and iOS apps use when a config has none: the
/// IPv6 minimum link MTU, safe over mobile paths with extra encapsulation.
pub const MOBILE_DEFAULT_MTU: u16 = 1280;

/// Largest IPv6 interface prefix Apple's network stack acts on: longer
/// prefixes (such as a /128 host address) are clamped to /120, as WireGuard's
/// iOS app does.
pub const APPLE_IPV6_MAX_PREFIX_LEN: u8 = 120;

/// Interface address given to a family that carries routes but has no address
/// of its own on a platform that requires one (Apple): the IPv4 "dummy
/// address" reserved by RFC 7600 for exactly this case.
pub const PLACEHOLDER_IPV4: Ipv4Addr = Ipv4Addr::new(192, 0, 0, 8);

/// The IPv6 placeholder address: a fixed unique-local address (RFC 4193,
/// `fd` + a 40-bit global ID chosen for Ferrotun), never routed on the internet.
pub const PLACEHOLDER_IPV6: Ipv6Addr = Ipv6Addr::new(0xfd66, 0x7274, 0x756e, 0, 0, 0, 0, 1);

/// What to do with an address family that no peer routes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum UnroutedFamily {
    /// The family keeps using the device's other networks (Android:
    /// `allowFamily`; Apple: no routes for it).
    LeaveToSystem,
    /// The family's traffic is dropped while the tunnel is up (a kill switch
    /// for the family the config does not cover).
    Block,
}

/// The platform differences of [`interface_settings`], as explicit options.
/// Apps start from `androidSettingsOptions()` or `appleSettingsOptions()` and
/// change `unroutedFamily` as their "block untunneled traffic" setting says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SettingsOptions {
    /// What happens to a family that no peer routes.
    pub unrouted_family: UnroutedFamily,
    /// The OS itself blocks a family for which the interface has neither an
    /// address nor a route (Android `VpnService`). When false (Apple), a
    /// blocked family needs a default route into the tunnel, where no peer
    /// takes it and the core drops it.
    pub os_blocks_unconfigured_family: bool,
    /// Every family that carries routes needs an interface address (Apple's
    /// `NEIPv4Settings`/`NEIPv6Settings`); a family without one gets the
    /// placeholder `192.0.0.8/32` or `fd66:7274:756e::1/128` (clamped).
    pub requires_address_per_family: bool,
    /// IPv6 interface addresses with a longer prefix are shortened to this
    /// length (Apple: 120; 128 leaves them alone).
    pub ipv6_max_prefix_len: u8,
    /// MTU when the config has none (1280 on phones, as WireGuard's mobile apps use).
    pub default_mtu: u16,
}

impl SettingsOptions {
    /// Android `VpnService.Builder`: unrouted families left to the system.
    pub const fn android() -> Self {
        SettingsOptions {
            unrouted_family: UnroutedFamily::LeaveToSystem,
            os_blocks_unconfigured_family: true,
            requires_address_per_family: false,
            ipv6_max_prefix_len: 128,
            default_mtu: MOBILE_DEFAULT_MTU,
        }
    }

    /// Apple `NEPacketTunnelNetworkSettings`: unrouted families left to the system.
    pub const fn apple() -> Self {
        SettingsOptions {
            unrouted_family: UnroutedFamily::LeaveToSystem,
            os_blocks_unconfigured_family: false,
            requires_address_per_family: true,
            ipv6_max_prefix_len: APPLE_IPV6_MAX_PREFIX_LEN,
            default_mtu: MOBILE_DEFAULT_MTU,
        }
    }
}

/// How one address family is handled; see [`FamilySettings`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum FamilyMode {
    /// Some peer routes this family: its routes go into the tunnel.
    Routed,
    /// No peer routes it and it is left to the device's other networks.
    /// Android: add the addresses and call `allowFamily`. Apple: settings for
    /// the family only if it has addresses, with no routes.
    LeftToSystem,
    /// No peer routes it and its traffic must not leave the device outside
    /// the tunnel: either the OS blocks it (no address, no route) or a
    /// default route sends it into the tunnel, where it is dropped.
    Blocked,
}

/// Settings for one address family.
///
/// Mapping: Android: `addAddress` each address, `addRoute` each route, and
/// `allowFamily` when `mode` is `LeftToSystem`. Apple: when `addresses` is
/// not empty, `NEIPv4Settings`/`NEIPv6Settings` with the addresses and
/// `includedRoutes` = `routes`; otherwise no settings for the family.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct FamilySettings {
    /// How the family is handled.
    pub mode: FamilyMode,
    /// Interface addresses, in config order, host bits kept (possibly a placeholder).
    pub addresses: Vec<IpNet>,
    /// Routes into the tunnel: network addresses (host bits cleared, as
    /// `VpnService.Builder.addRoute` requires), overlaps and adjacent
    /// prefixes merged, sorted.
    pub routes: Vec<IpNet>,
}

/// What the OS must be told about the tunnel interface.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct InterfaceSettings {
    /// Interface MTU (the config's, else `SettingsOptions.default_mtu`).
    pub mtu: u16,
    /// IPv4 addresses, routes and mode.
    pub ipv4: FamilySettings,
    /// IPv6 addresses, routes and mode.
    pub ipv6: FamilySettings,
    /// DNS servers, in config order.
    pub dns_servers: Vec<IpAddr>,
    /// DNS search domains, in config order.
    pub dns_search_domains: Vec<String>,
}

/// Options that no platform can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// `ipv6_max_prefix_len` above 128.
    #[error("ipv6MaxPrefixLen {0} is not an IPv6 prefix length (0..=128)")]
    Ipv6PrefixLen(u8),
    /// `default_mtu` outside the MTUs a tunnel accepts.
    #[error("defaultMtu {0} is outside {MIN_MTU}..={MAX_MTU}")]
    DefaultMtu(u16),
}

/// The interface settings for `config` on the platform `options` describe.
///
/// # Errors
/// [`SettingsError`] for options out of range. The config is taken as
/// already validated (it comes from the parser or the FFI conversion).
pub fn interface_settings(
    config: &TunnelConfig,
    options: &SettingsOptions,
) -> Result<InterfaceSettings, SettingsError> {
    if options.ipv6_max_prefix_len > 128 {
        return Err(SettingsError::Ipv6PrefixLen(options.ipv6_max_prefix_len));
    }
    if !(MIN_MTU..=MAX_MTU).contains(&options.default_mtu) {
        return Err(SettingsError::DefaultMtu(options.default_mtu));
    }
    let allowed: Vec<IpNet> = config
        .peers()
        .iter()
        .flat_map(|p| p.allowed_ips.iter().copied())
        .collect();
    Ok(InterfaceSettings {
        mtu: config
            .mtu()
            .map_or(options.default_mtu, crate::config::Mtu::get),
        ipv4: family_settings(Family::V4, config.addresses(), &allowed, options),
        ipv6: family_settings(Family::V6, config.addresses(), &allowed, options),
        dns_servers: config.dns().to_vec(),
        dns_search_domains: config
            .dns_search()
            .iter()
            .map(ToString::to_string)
            .collect(),
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

impl Family {
    fn of(net: &IpNet) -> Family {
        match net {
            IpNet::V4(_) => Family::V4,
            IpNet::V6(_) => Family::V6,
        }
    }

    fn default_route(self) -> IpNet {
        match self {
            Family::V4 => IpNet::V4(Ipv4Net::default()),
            Family::V6 => IpNet::V6(Ipv6Net::default()),
        }
    }

    fn placeholder(self) -> IpNet {
        match self {
            Family::V4 => IpNet::from(IpAddr::V4(PLACEHOLDER_IPV4)),
            Family::V6 => IpNet::from(IpAddr::V6(PLACEHOLDER_IPV6)),
        }
    }
}

fn family_settings(
    family: Family,
    config_addresses: &[IpNet],
    allowed_ips: &[IpNet],
    options: &SettingsOptions,
) -> FamilySettings {
    let mut addresses: Vec<IpNet> = Vec::new();
    for address in config_addresses.iter().filter(|a| Family::of(a) == family) {
        let address = clamp(*address, options.ipv6_max_prefix_len);
        if !addresses.contains(&address) {
            addresses.push(address);
        }
    }
    let routes = merge_routes(allowed_ips.iter().filter(|a| Family::of(a) == family));

    let (mode, routes) = if !routes.is_empty() {
        (FamilyMode::Routed, routes)
    } else {
        match options.unrouted_family {
            UnroutedFamily::LeaveToSystem => (FamilyMode::LeftToSystem, Vec::new()),
            // The OS blocks a family with neither address nor route by itself.
            UnroutedFamily::Block
                if addresses.is_empty() && options.os_blocks_unconfigured_family =>
            {
                (FamilyMode::Blocked, Vec::new())
            }
            UnroutedFamily::Block => (FamilyMode::Blocked, vec![family.default_route()]),
        }
    };
    if addresses.is_empty() && !routes.is_empty() && options.requires_address_per_family {
        addresses.push(clamp(family.placeholder(), options.ipv6_max_prefix_len));
    }
    FamilySettings {
        mode,
        addresses,
        routes,
    }
}

/// Shortens an IPv6 interface prefix to at most `max_len`; IPv4 is left alone.
fn clamp(address: IpNet, max_len: u8) -> IpNet {
    match address {
        IpNet::V6(net) if net.prefix_len() > max_len => {
            IpNet::V6(Ipv6Net::new(net.addr(), max_len).unwrap_or(net))
        }
        other => other,
    }
}

/// Routes as network addresses, with covered and adjacent prefixes merged
/// (every route leads into the same interface, so this changes nothing but
/// the count), sorted.
fn merge_routes<'a>(prefixes: impl Iterator<Item = &'a IpNet>) -> Vec<IpNet> {
    let networks: Vec<IpNet> = prefixes.map(IpNet::trunc).collect();
    let mut merged = IpNet::aggregate(&networks);
    merged.sort();
    merged
}

//! FFI records for [`crate::settings`]: the interface settings an app hands
//! to `VpnService.Builder` (Android) or `NEPacketTunnelNetworkSettings` (Apple).

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use crate::settings;

use super::{FerrotunError, TunnelConfig, guard};

/// What to do with an address family that no peer's `allowedIps` route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum UnroutedFamily {
    /// Leave it to the device's other networks (Android: `allowFamily`).
    LeaveToSystem,
    /// Drop its traffic while the tunnel is up.
    Block,
}

/// The platform differences of [`interface_settings`]. Start from
/// [`android_settings_options`] or [`apple_settings_options`] and change
/// `unrouted_family` as the app's "block untunneled traffic" setting says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SettingsOptions {
    /// What happens to a family that no peer routes.
    pub unrouted_family: UnroutedFamily,
    /// The OS blocks a family with no address and no route by itself (Android).
    /// When false (Apple) a blocked family gets a default route into the tunnel.
    pub os_blocks_unconfigured_family: bool,
    /// A family with routes needs an interface address (Apple); one without
    /// gets the placeholder `192.0.0.8/32` or `fd66:7274:756e::1/128` (clamped).
    pub requires_address_per_family: bool,
    /// IPv6 interface prefixes longer than this are shortened to it (Apple: 120; Android: 128).
    pub ipv6_max_prefix_len: u8,
    /// MTU when the config has none (1280 on phones, as WireGuard's mobile apps use).
    pub default_mtu: u16,
}

/// An IP prefix.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct IpPrefix {
    /// The address, e.g. `"10.0.0.2"` or `"fd00::"`.
    pub address: String,
    /// The prefix length, 0..=32 (IPv4) or 0..=128 (IPv6).
    pub prefix_len: u8,
    /// For IPv4, the prefix as a dotted subnet mask (`"255.255.255.0"`),
    /// which `NEIPv4Settings` and `NEIPv4Route` want; `null` for IPv6.
    pub subnet_mask: Option<String>,
}

/// How one address family is handled; see [`FamilySettings`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum FamilyMode {
    /// Some peer routes this family: add its addresses and routes.
    Routed,
    /// No peer routes it; left to the device's other networks. Android: add
    /// the addresses and call `allowFamily`. Apple: settings for the family
    /// only if it has addresses, with no routes.
    LeftToSystem,
    /// No peer routes it; its traffic is dropped. Add the addresses and routes
    /// as given: either none (the OS blocks the family) or a default route
    /// into the tunnel, where the core drops it.
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
    /// Interface addresses, in config order, host bits kept.
    pub addresses: Vec<IpPrefix>,
    /// Routes into the tunnel: network addresses (host bits cleared, as
    /// `VpnService.Builder.addRoute` requires), overlaps merged, sorted.
    pub routes: Vec<IpPrefix>,
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
    pub dns_servers: Vec<String>,
    /// DNS search domains, in config order.
    pub dns_search_domains: Vec<String>,
}

impl From<UnroutedFamily> for settings::UnroutedFamily {
    fn from(value: UnroutedFamily) -> Self {
        match value {
            UnroutedFamily::LeaveToSystem => settings::UnroutedFamily::LeaveToSystem,
            UnroutedFamily::Block => settings::UnroutedFamily::Block,
        }
    }
}

impl From<settings::UnroutedFamily> for UnroutedFamily {
    fn from(value: settings::UnroutedFamily) -> Self {
        match value {
            settings::UnroutedFamily::LeaveToSystem => UnroutedFamily::LeaveToSystem,
            settings::UnroutedFamily::Block => UnroutedFamily::Block,
        }
    }
}

impl From<SettingsOptions> for settings::SettingsOptions {
    fn from(value: SettingsOptions) -> Self {
        settings::SettingsOptions {
            unrouted_family: value.unrouted_family.into(),
            os_blocks_unconfigured_family: value.os_blocks_unconfigured_family,
            requires_address_per_family: value.requires_address_per_family,
            ipv6_max_prefix_len: value.ipv6_max_prefix_len,
            default_mtu: value.default_mtu,
        }
    }
}

impl From<settings::SettingsOptions> for SettingsOptions {
    fn from(value: settings::SettingsOptions) -> Self {
        SettingsOptions {
            unrouted_family: value.unrouted_family.into(),
            os_blocks_unconfigured_family: value.os_blocks_unconfigured_family,
            requires_address_per_family: value.requires_address_per_family,
            ipv6_max_prefix_len: value.ipv6_max_prefix_len,
            default_mtu: value.default_mtu,
        }
    }
}

impl From<&IpNet> for IpPrefix {
    fn from(value: &IpNet) -> Self {
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

impl From<settings::FamilySettings> for FamilySettings {
    fn from(value: settings::FamilySettings) -> Self {
        FamilySettings {
            mode: match value.mode {
                settings::FamilyMode::Routed => FamilyMode::Routed,
                settings::FamilyMode::LeftToSystem => FamilyMode::LeftToSystem,
                settings::FamilyMode::Blocked => FamilyMode::Blocked,
            },
            addresses: value.addresses.iter().map(IpPrefix::from).collect(),
            routes: value.routes.iter().map(IpPrefix::from).collect(),
        }
    }
}

impl From<settings::InterfaceSettings> for InterfaceSettings {
    fn from(value: settings::InterfaceSettings) -> Self {
        InterfaceSettings {
            mtu: value.mtu,
            ipv4: value.ipv4.into(),
            ipv6: value.ipv6.into(),
            dns_servers: value.dns_servers.iter().map(ToString::to_string).collect(),
            dns_search_domains: value.dns_search_domains,
        }
    }
}

/// The options for Android's `VpnService.Builder`: unrouted families left to
/// the system, the OS blocks a family without address or route, no address
/// needed per family, IPv6 prefixes unchanged, MTU 1280 by default.
///
/// # Errors
/// Only [`FerrotunError::Internal`] (every export can throw; none is expected).
#[uniffi::export]
pub fn android_settings_options() -> Result<SettingsOptions, FerrotunError> {
    guard("androidSettingsOptions", || {
        Ok(settings::SettingsOptions::android().into())
    })
}

/// The options for Apple's `NEPacketTunnelNetworkSettings`: unrouted families
/// left to the system, blocking needs a default route, every family with
/// routes needs an address (placeholder if the config has none), IPv6
/// prefixes clamped to /120, MTU 1280 by default.
///
/// # Errors
/// Only [`FerrotunError::Internal`] (every export can throw; none is expected).
#[uniffi::export]
pub fn apple_settings_options() -> Result<SettingsOptions, FerrotunError> {
    guard("appleSettingsOptions", || {
        Ok(settings::SettingsOptions::apple().into())
    })
}

/// What the OS must be told about the tunnel interface for `config`:
/// addresses, routes and DNS per address family, MTU, and the leak rules
/// (a family some peer routes gets its routes even without an address; a
/// family no peer routes is left to the system or blocked per
/// `options.unrouted_family`). Pure and quick; call it before establishing
/// the interface and again after every config change (routes may change).
///
/// # Errors
/// [`FerrotunError::InvalidField`] / [`FerrotunError::Config`] for a bad
/// config; [`FerrotunError::InvalidField`] (field `options.…`) for options
/// out of range (`ipv6MaxPrefixLen` > 128, `defaultMtu` outside 576..=9000).
#[uniffi::export]
pub fn interface_settings(
    config: TunnelConfig,
    options: SettingsOptions,
) -> Result<InterfaceSettings, FerrotunError> {
    guard("interfaceSettings", || {
        let config = crate::config::TunnelConfig::try_from(config)?;
        let settings = settings::interface_settings(&config, &options.into()).map_err(|e| {
            let field = match e {
                settings::SettingsError::Ipv6PrefixLen(_) => "options.ipv6MaxPrefixLen",
                settings::SettingsError::DefaultMtu(_) => "options.defaultMtu",
            };
            FerrotunError::InvalidField {
                field: field.into(),
                reason: e.to_string(),
            }
        })?;
        Ok(settings.into())
    })
}

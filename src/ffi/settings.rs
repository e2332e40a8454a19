//! The exports of [`crate::settings`]: the interface settings an app hands
//! to `VpnService.Builder` (Android) or `NEPacketTunnelNetworkSettings`
//! (Apple). The records are the core's own ([`super::types`] says how their
//! addresses cross).

use crate::settings::{self, InterfaceSettings, SettingsOptions};

use super::{FerrotunError, TunnelConfig, guard};

/// The options for Android's `VpnService.Builder`: unrouted families left to
/// the system, the OS blocks a family without address or route, no address
/// needed per family, IPv6 prefixes unchanged, MTU 1280 by default.
///
/// # Errors
/// Only [`FerrotunError::Internal`] (every export can throw; none is expected).
#[uniffi::export]
pub fn android_settings_options() -> Result<SettingsOptions, FerrotunError> {
    guard("androidSettingsOptions", || Ok(SettingsOptions::android()))
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
    guard("appleSettingsOptions", || Ok(SettingsOptions::apple()))
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
        let settings = settings::interface_settings(&config, &options).map_err(|e| {
            let field = match e {
                settings::SettingsError::Ipv6PrefixLen(_) => "options.ipv6MaxPrefixLen",
                settings::SettingsError::DefaultMtu(_) => "options.defaultMtu",
            };
            FerrotunError::InvalidField {
                field: field.into(),
                reason: e.to_string(),
            }
        })?;
        Ok(settings)
    })
}

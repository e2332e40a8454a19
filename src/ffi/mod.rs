//! The UniFFI surface that Kotlin and Swift apps call.
//!
//! Thin by design: the config records mirror [`crate::config`] with strings
//! for keys, prefixes and endpoints, and conversions parse them into the
//! checked core types; stats, events, framing and interface settings are the
//! core's own types, exported as they are (`types.rs` says how keys and
//! addresses cross); [`Tunnel`] forwards to [`crate::runtime::Tunnel`].
//!
//! Every export returns `Result<_, FerrotunError>` and runs inside
//! [`std::panic::catch_unwind`], so a bug surfaces as
//! `FerrotunException.Internal` (Kotlin) / `FerrotunError.Internal` (Swift)
//! rather than UniFFI's generic panic error, which generated Swift turns into
//! a `try!` crash in non-throwing functions.
//!
//! No key material is logged, and the `Debug` impls of the config records
//! redact private and preshared keys.

// The UniFFI scaffolding and the handover of the raw TUN fd need `unsafe`;
// every block carries a `// SAFETY:` comment.
#![allow(unsafe_code)]

mod config;
mod settings;
mod tunnel;
mod types;

use std::any::Any;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

pub use self::config::{PeerConfig, TunnelConfig};
pub use self::settings::{android_settings_options, apple_settings_options, interface_settings};
pub use self::tunnel::{ProtectError, SocketProtector, Tunnel};
pub use self::types::IpPrefix;

use crate::config::{ConfigError, PrivateKey};
use crate::io::resolve::{self, ResolveError, SystemResolver};
use crate::runtime::RuntimeError;

/// Every failure an FFI call can report. Becomes the sealed
/// `FerrotunException` in Kotlin and the `FerrotunError` enum in Swift.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum FerrotunError {
    /// The config is unusable: from wg-quick text (`line` is 1-based) or a
    /// config built in code (`line` is 0).
    #[error("{}", config_message(*line, reason))]
    Config {
        /// 1-based line of the wg-quick text; 0 when the config did not come from text.
        line: u32,
        /// What is wrong, e.g. "PublicKey: not valid base64".
        reason: String,
    },
    /// A field of a config record could not be parsed.
    #[error("invalid {field}: {reason}")]
    InvalidField {
        /// Which field, e.g. `peers[0].allowedIps[1]`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The TUN file descriptor handed to `start` is not an open fd.
    #[error("invalid TUN fd {fd}: {reason}")]
    InvalidFd {
        /// The fd as given.
        fd: i32,
        /// Why it was refused.
        reason: String,
    },
    /// A peer's endpoint did not resolve (from `resolveEndpoints`, after its retries).
    #[error("cannot resolve endpoint {host} of peer {public_key}: {reason}")]
    Resolve {
        /// The peer's public key, base64.
        public_key: String,
        /// The endpoint as configured, `host:port`.
        host: String,
        /// The resolver's error.
        reason: String,
    },
    /// The `SocketProtector` returned false or threw; the tunnel refused to
    /// send, since traffic would have looped into the tunnel itself.
    #[error("the UDP socket could not be protected from the tunnel: {reason}")]
    ProtectFailed {
        /// What the protector did.
        reason: String,
    },
    /// An OS call failed.
    #[error("{context}: {reason}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        reason: String,
    },
    /// The tunnel has stopped; start a new one.
    #[error("the tunnel is stopped")]
    Stopped,
    /// A bug in Ferrotun (a caught panic). Please report it.
    #[error("internal error in {call}: {reason}")]
    Internal {
        /// The FFI call that failed.
        call: String,
        /// The panic message.
        reason: String,
    },
}

fn config_message(line: u32, reason: &str) -> String {
    if line == 0 {
        format!("invalid config: {reason}")
    } else {
        format!("invalid config, line {line}: {reason}")
    }
}

impl From<ConfigError> for FerrotunError {
    fn from(value: ConfigError) -> Self {
        FerrotunError::Config {
            line: u32::try_from(value.line).unwrap_or(u32::MAX),
            reason: value.kind.to_string(),
        }
    }
}

impl From<ResolveError> for FerrotunError {
    fn from(value: ResolveError) -> Self {
        FerrotunError::Resolve {
            public_key: value.public_key,
            host: value.host,
            reason: value.reason,
        }
    }
}

impl From<RuntimeError> for FerrotunError {
    fn from(value: RuntimeError) -> Self {
        match value {
            RuntimeError::ProtectFailed => FerrotunError::ProtectFailed {
                reason: "the protector refused the socket".into(),
            },
            RuntimeError::Io { context, source } => FerrotunError::Io {
                context: context.into(),
                reason: source.to_string(),
            },
            RuntimeError::Stopped => FerrotunError::Stopped,
        }
    }
}

/// Log verbosity for [`set_log_level`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum LogLevel {
    /// Nothing.
    Off,
    /// Failures only.
    Error,
    /// Failures and recoverable problems (the default).
    Warn,
    /// Lifecycle: start, stop, handshakes, network changes.
    Info,
    /// Per-peer detail; may include peer IP addresses, never keys.
    Debug,
    /// Per-packet detail; slow.
    Trace,
}

impl From<LogLevel> for tracing_subscriber::filter::LevelFilter {
    fn from(value: LogLevel) -> Self {
        use tracing_subscriber::filter::LevelFilter;
        match value {
            LogLevel::Off => LevelFilter::OFF,
            LogLevel::Error => LevelFilter::ERROR,
            LogLevel::Warn => LevelFilter::WARN,
            LogLevel::Info => LevelFilter::INFO,
            LogLevel::Debug => LevelFilter::DEBUG,
            LogLevel::Trace => LevelFilter::TRACE,
        }
    }
}

/// Runs `f`, turning a panic into [`FerrotunError::Internal`].
fn guard<T>(
    call: &'static str,
    f: impl FnOnce() -> Result<T, FerrotunError>,
) -> Result<T, FerrotunError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| Err(panic_error(call, &*payload)))
}

fn panic_error(call: &'static str, payload: &(dyn Any + Send)) -> FerrotunError {
    let reason = PanicMessage(payload).to_string();
    tracing::error!(call, %reason, "panic caught at the FFI boundary");
    FerrotunError::Internal {
        call: call.into(),
        reason,
    }
}

struct PanicMessage<'a>(&'a (dyn Any + Send));

impl fmt::Display for PanicMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = self.0.downcast_ref::<&str>() {
            f.write_str(s)
        } else if let Some(s) = self.0.downcast_ref::<String>() {
            f.write_str(s)
        } else {
            f.write_str("panic with a non-string payload")
        }
    }
}

/// Parses wg-quick text (`[Interface]` / `[Peer]`).
///
/// # Errors
/// [`FerrotunError::Config`] with the 1-based line and the reason.
#[uniffi::export]
pub fn parse_wg_quick(text: String) -> Result<TunnelConfig, FerrotunError> {
    guard("parseWgQuick", || {
        let config = crate::config::TunnelConfig::parse_wg_quick(&text)?;
        Ok(TunnelConfig::from(&config))
    })
}

/// Prints a config as wg-quick text that [`parse_wg_quick`] reads back to an equal config.
///
/// # Errors
/// [`FerrotunError::InvalidField`] or [`FerrotunError::Config`] when the record is invalid.
#[uniffi::export]
pub fn to_wg_quick(config: TunnelConfig) -> Result<String, FerrotunError> {
    guard("toWgQuick", || {
        let config = crate::config::TunnelConfig::try_from(config)?;
        Ok(config.to_wg_quick())
    })
}

/// A new random private key in standard base64, like `wg genkey`.
///
/// # Errors
/// Only [`FerrotunError::Internal`].
#[uniffi::export]
pub fn generate_private_key() -> Result<String, FerrotunError> {
    guard("generatePrivateKey", || {
        Ok(PrivateKey::generate().to_base64())
    })
}

/// The public key for a base64 private key, like `wg pubkey`.
///
/// # Errors
/// [`FerrotunError::InvalidField`] (field `privateKey`) for bad base64 or a wrong length.
#[uniffi::export]
pub fn public_key(private_key: String) -> Result<String, FerrotunError> {
    guard("publicKey", || {
        let key =
            PrivateKey::from_base64(&private_key).map_err(|e| FerrotunError::InvalidField {
                field: "privateKey".into(),
                reason: e.to_string(),
            })?;
        Ok(key.public_key().to_base64())
    })
}

/// Resolves every peer endpoint through the system resolver and returns the
/// config with each peer's `resolvedEndpoint` filled in (`endpoint` keeps the
/// host name, so the tunnel can resolve it again after network changes).
///
/// Blocking, with bounded retries (4 lookups over about 3.5 s per failing
/// name): call it off the main thread, after the app has decided to connect
/// and before it establishes the VPN interface, so the lookup goes over the
/// device's real network. IPv4 literals go through the resolver too, so an
/// IPv6-only network with NAT64 yields a synthesized address (Apple).
///
/// # Errors
/// [`FerrotunError::Resolve`] naming the first peer (public key) and host that
/// did not resolve; [`FerrotunError::InvalidField`] / [`FerrotunError::Config`]
/// for a bad config.
#[uniffi::export]
pub fn resolve_endpoints(config: TunnelConfig) -> Result<TunnelConfig, FerrotunError> {
    guard("resolveEndpoints", || {
        let config = crate::config::TunnelConfig::try_from(config)?;
        let resolved = resolve::resolve_config(
            config,
            &SystemResolver,
            &resolve::DEFAULT_RETRY,
            &mut std::thread::sleep,
        )?;
        Ok(TunnelConfig::from(&resolved))
    })
}

/// Sets the log level (logcat on Android, os_log on Apple, stderr elsewhere),
/// installing the log sink on first use. Takes effect at once, also for running tunnels.
///
/// # Errors
/// Only [`FerrotunError::Internal`].
#[uniffi::export]
pub fn set_log_level(level: LogLevel) -> Result<(), FerrotunError> {
    guard("setLogLevel", || {
        crate::platform::log::set_level(level.into());
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_internal_errors() {
        let err = guard::<()>("test", || panic!("boom {}", 1)).unwrap_err();
        assert!(
            matches!(&err, FerrotunError::Internal { call, reason } if call == "test" && reason == "boom 1"),
            "{err:?}"
        );
    }

    #[test]
    fn known_key_vector_matches_wg() {
        // RFC 7748 §6.1 Alice: private key and the public key it derives.
        let private = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=";
        assert_eq!(
            public_key(private.into()).unwrap(),
            "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="
        );
        let generated = generate_private_key().unwrap();
        assert_eq!(public_key(generated.clone()).unwrap().len(), 44);
        assert_ne!(generated, generate_private_key().unwrap());
    }

    #[test]
    fn bad_private_key_names_the_field() {
        let err = public_key("nope".into()).unwrap_err();
        assert!(
            matches!(err, FerrotunError::InvalidField { ref field, .. } if field == "privateKey")
        );
    }

    #[test]
    fn config_errors_carry_line_and_reason() {
        let err = FerrotunError::Config {
            line: 3,
            reason: "bad".into(),
        };
        assert_eq!(err.to_string(), "invalid config, line 3: bad");
        assert_eq!(config_message(0, "bad"), "invalid config: bad");
    }
}

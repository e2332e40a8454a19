//! Config errors: where (a line) and what (a kind carrying key, value and
//! reason).
//!
//! Secrets: no message ever carries a private or preshared key. Keys are
//! never quoted, and any other quoted value that could hold one is redacted
//! (see [`super::quote::shown`]).

use super::value::Invalid;

/// A config that could not be used, with the 1-based line it was found on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ConfigError {
    /// 1-based line number in the text. 0 when the config did not come from
    /// text ([`super::TunnelConfig::new`]) or the problem is not on any one
    /// line (no `[Interface]` at all).
    pub line: usize,
    /// What is wrong.
    pub kind: ConfigErrorKind,
}

/// What is wrong with a config. Never holds a private or preshared key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigErrorKind {
    /// The line is neither blank, a comment, a `[Section]` header nor
    /// `Key = value`.
    #[error("{0}")]
    Syntax(&'static str),
    /// A section is unknown, repeated, or missing.
    #[error("{0}")]
    Section(String),
    /// A key is unknown, outside any section, repeated, without a value, or
    /// missing from its section (then reported on the section header).
    #[error("{0}")]
    Key(String),
    /// A value is not valid for its key.
    #[error("bad {key}{}: {reason}", shown_value(key, value.as_deref()))]
    Value {
        /// Canonical key name, e.g. `MTU`.
        key: &'static str,
        /// The value as written, redacted if it may hold a key and shortened
        /// if long; `None` for key values, which are never shown.
        value: Option<String>,
        /// Why it is not valid.
        reason: Invalid,
    },
    /// A peer conflicts with another peer or with this interface (reported
    /// on its `PublicKey` line).
    #[error("peer #{peer} {reason}")]
    Peer {
        /// 1-based index of the peer, in file order.
        peer: usize,
        /// What conflicts.
        reason: String,
    },
}

impl ConfigErrorKind {
    /// Attaches a line number.
    pub(crate) fn at(self, line: usize) -> ConfigError {
        ConfigError { line, kind: self }
    }
}

/// The value part of `bad MTU `100`: …` and `bad Address entry `x`: …`;
/// empty for key values (`bad PrivateKey: …`), which are never shown.
fn shown_value(key: &str, value: Option<&str>) -> String {
    let Some(value) = value else {
        return String::new();
    };
    // List keys name one entry of the list.
    let entry = if matches!(key, "Address" | "AllowedIPs" | "DNS") {
        " entry"
    } else {
        ""
    };
    format!("{entry} `{value}`")
}

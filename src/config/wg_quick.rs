//! The wg-quick text format: parse, print, and the rules both share.
//!
//! One job per submodule: [`lexer`] splits a line into a header or a
//! `key = value` pair, [`value`] turns single values into typed data,
//! [`parser`] tracks sections and builds a [`TunnelConfig`], [`rules`] holds
//! the checks that span fields (shared with [`TunnelConfig::validate`]), and
//! [`printer`] writes canonical text.
//!
//! Secrets: no error message or log line ever carries a private or preshared
//! key. Errors name keys, not their values, and any quoted value that decodes
//! as a 32-byte key is redacted (see [`value::shown`]).

mod lexer;
mod parser;
mod printer;
mod rules;
mod value;

use super::TunnelConfig;
use super::key::KeyError;
use super::{MAX_MTU, MIN_MTU};

/// A config that could not be used, with the 1-based line it was found on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ConfigError {
    /// 1-based line number in the text. 0 when the config did not come from
    /// text ([`TunnelConfig::validate`]) or the problem is not on any one line
    /// (no `[Interface]` at all).
    pub line: usize,
    /// What is wrong.
    pub kind: ConfigErrorKind,
}

/// What is wrong with a config. Never holds a private or preshared key.
///
/// Quoted `value`s are the text as written, except that anything decoding as
/// a 32-byte key is replaced by a placeholder and long values are shortened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigErrorKind {
    /// A line that is neither blank, a comment, a `[Section]` header nor `key = value`.
    #[error("expected `Key = value` or a `[Section]` header, found a line without `=`")]
    MissingEquals,
    /// The text before `=` is not a key name (empty, or not letters and
    /// digits), or is an unknown name with nothing after `=`. The text is not
    /// quoted: it is often a misplaced or split key.
    #[error("the text before `=` is not a key name")]
    BadKeyName,
    /// A line starting with `[` that is not `[Name]`.
    #[error("malformed section header, expected `[Interface]` or `[Peer]`")]
    BadSectionHeader,
    /// A well-formed header for a section other than `[Interface]` or `[Peer]`.
    #[error("unknown section `[{name}]`, expected `[Interface]` or `[Peer]`")]
    UnknownSection {
        /// The section name as written.
        name: String,
    },
    /// A `key = value` line before the first section header.
    #[error("`{key}` is outside any section; put it under `[Interface]` or `[Peer]`")]
    KeyOutsideSection {
        /// The key as written.
        key: String,
    },
    /// A second `[Interface]` section.
    #[error("second `[Interface]` section (the first is on line {first_line})")]
    DuplicateInterface {
        /// Line of the first `[Interface]` header.
        first_line: usize,
    },
    /// The text has no `[Interface]` section.
    #[error("no `[Interface]` section")]
    MissingInterface,
    /// A key that neither wg-quick nor Ferrotun knows in this section.
    #[error("unknown key `{key}` in `[{section}]`")]
    UnknownKey {
        /// The key as written.
        key: String,
        /// `Interface` or `Peer`.
        section: &'static str,
    },
    /// A key that takes one value appears twice in one section.
    #[error("{key} is given twice in one section (first on line {first_line})")]
    DuplicateKey {
        /// Canonical key name, e.g. `PrivateKey`.
        key: &'static str,
        /// Line of the first occurrence.
        first_line: usize,
    },
    /// A key that takes one value has nothing after `=`.
    #[error("{key} has no value")]
    EmptyValue {
        /// Canonical key name.
        key: &'static str,
    },
    /// `[Interface]` without `PrivateKey` (reported on the header line).
    #[error("`[Interface]` has no PrivateKey")]
    MissingPrivateKey,
    /// `[Peer]` without `PublicKey` (reported on the header line).
    #[error("`[Peer]` has no PublicKey")]
    MissingPublicKey,
    /// `PrivateKey`, `PublicKey` or `PresharedKey` is not a base64 32-byte key.
    /// The value is never included.
    #[error("bad {key}: {reason}")]
    BadKey {
        /// Canonical key name.
        key: &'static str,
        /// Why the text is not a key.
        reason: KeyError,
    },
    /// An `Address` or `AllowedIPs` entry that is not an IP address or CIDR prefix.
    #[error("bad {key} entry `{value}`: not an IP address or CIDR prefix")]
    BadCidr {
        /// `Address` or `AllowedIPs`.
        key: &'static str,
        /// The entry as written.
        value: String,
    },
    /// A `DNS` entry that looks like an address but is not one, or is neither
    /// an address nor a domain name (also: a search domain, built in code, that
    /// is not a domain name or looks like an address).
    #[error("bad DNS entry `{value}`: not an IP address or a domain name")]
    BadDns {
        /// The entry as written.
        value: String,
    },
    /// `ListenPort` is not a number from 0 to 65535.
    #[error("bad ListenPort `{value}`: expected a port number from 0 to 65535")]
    BadListenPort {
        /// The value as written.
        value: String,
    },
    /// `MTU` is not a number in [`MIN_MTU`]`..=`[`MAX_MTU`].
    #[error("bad MTU `{value}`: expected a number from {MIN_MTU} to {MAX_MTU}")]
    BadMtu {
        /// The value as written.
        value: String,
    },
    /// `PersistentKeepalive` is neither `off` nor a number from 0 to 65535.
    #[error("bad PersistentKeepalive `{value}`: expected seconds from 0 to 65535, or `off`")]
    BadKeepalive {
        /// The value as written.
        value: String,
    },
    /// `Endpoint` has no `:port`.
    #[error("bad Endpoint `{value}`: missing `:port` (write `host:port` or `[IPv6]:port`)")]
    EndpointMissingPort {
        /// The value as written.
        value: String,
    },
    /// `Endpoint` port is not a number from 1 to 65535.
    #[error("bad Endpoint `{value}`: port must be a number from 1 to 65535")]
    EndpointBadPort {
        /// The value as written.
        value: String,
    },
    /// `Endpoint` is an IPv6 address without brackets.
    #[error("bad Endpoint `{value}`: put IPv6 addresses in brackets, e.g. `[2001:db8::1]:51820`")]
    EndpointUnbracketedIpv6 {
        /// The value as written.
        value: String,
    },
    /// `Endpoint` host is neither an IP address nor a valid host name
    /// (also: brackets around something that is not IPv6, or an IPv6 scope id).
    #[error("bad Endpoint `{value}`: host is not an IP address or a valid host name")]
    EndpointBadHost {
        /// The value as written.
        value: String,
    },
    /// Two peers have the same public key (reported on the second one's `PublicKey` line).
    #[error("peer #{peer} has the same PublicKey as peer #{first}")]
    DuplicatePeer {
        /// 1-based index of the later peer, in file order.
        peer: usize,
        /// 1-based index of the earlier peer.
        first: usize,
    },
    /// A peer's public key is this interface's own public key.
    #[error("peer #{peer} has this interface's own public key")]
    PeerIsSelf {
        /// 1-based index of the peer, in file order.
        peer: usize,
    },
}

impl ConfigErrorKind {
    /// Attaches a line number.
    pub(crate) fn at(self, line: usize) -> ConfigError {
        ConfigError { line, kind: self }
    }
}

impl TunnelConfig {
    /// Parses wg-quick text (the `.conf` files `wg-quick` and the WireGuard
    /// apps use).
    ///
    /// Keys and section names are case-insensitive; `#` starts a comment;
    /// `Address`, `DNS` and `AllowedIPs` take comma-separated lists and may
    /// repeat. wg-quick keys Ferrotun does not act on (`Table`, `FwMark`,
    /// `SaveConfig`, `PreUp`, `PostUp`, `PreDown`, `PostDown`) are accepted,
    /// logged at WARN by name only, and dropped. The result has passed
    /// [`TunnelConfig::validate`].
    ///
    /// # Errors
    /// The first problem in file order, as a [`ConfigError`] naming the
    /// 1-based line; problems that span peers (duplicate keys, a peer with our
    /// own key) come after all line-level problems.
    pub fn parse_wg_quick(text: &str) -> Result<Self, ConfigError> {
        parser::parse(text)
    }

    /// Prints canonical wg-quick text: `[Interface]` then one `[Peer]` per
    /// peer, keys in a fixed order, lists on one line, unset values omitted.
    ///
    /// For a config that passes [`TunnelConfig::validate`],
    /// `parse_wg_quick(&c.to_wg_quick()) == Ok(c)` except that
    /// `listen_port`/`persistent_keepalive` of `Some(0)` come back as `None`
    /// (the same meaning), and DNS servers are printed before search domains.
    ///
    /// The output contains the private and preshared keys: treat it as a secret.
    pub fn to_wg_quick(&self) -> String {
        printer::print(self)
    }

    /// Checks a config built in code (e.g. over FFI) with the same semantic
    /// rules the parser applies: MTU in [`MIN_MTU`]`..=`[`MAX_MTU`], DNS
    /// search domains that are domain names, endpoints that can be written
    /// in wg-quick text (port not 0, valid host name), no two peers with one
    /// public key, and no peer with this interface's own public key.
    ///
    /// # Errors
    /// The first problem found, as a [`ConfigError`] with `line` 0.
    pub fn validate(&self) -> Result<(), ConfigError> {
        rules::check(self).map_err(|(kind, _site)| kind.at(0))
    }
}

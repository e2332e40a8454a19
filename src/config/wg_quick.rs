//! The wg-quick text format: parse and print.
//!
//! [`lexer`] splits a line into a header or a `key = value` pair, [`parser`]
//! tracks sections and turns values into the checked types of
//! [`crate::config`], and [`printer`] writes canonical text.
//!
//! Secrets: no error message or log line ever carries a private or preshared
//! key (see [`super::error`]).

mod lexer;
mod parser;
mod printer;

use super::{ConfigError, TunnelConfig};

impl TunnelConfig {
    /// Parses wg-quick text (the `.conf` files `wg-quick` and the WireGuard
    /// apps use).
    ///
    /// Keys and section names are case-insensitive; `#` starts a comment;
    /// `Address`, `DNS` and `AllowedIPs` take comma-separated lists and may
    /// repeat. wg-quick keys Ferrotun does not act on (`Table`, `FwMark`,
    /// `SaveConfig`, `PreUp`, `PostUp`, `PreDown`, `PostDown`) are accepted,
    /// logged at WARN by name only, and dropped.
    ///
    /// # Errors
    /// The first problem in file order, as a [`ConfigError`] naming the
    /// 1-based line; problems between peers (a repeated public key, a peer
    /// with our own key) come after all line-level problems.
    pub fn parse_wg_quick(text: &str) -> Result<Self, ConfigError> {
        parser::parse(text)
    }

    /// Prints canonical wg-quick text: `[Interface]` then one `[Peer]` per
    /// peer, keys in a fixed order, lists on one line, unset values omitted.
    ///
    /// `parse_wg_quick(&c.to_wg_quick()) == Ok(c)`, except that DNS servers
    /// are printed before search domains and resolved endpoints are not
    /// printed.
    ///
    /// The output contains the private and preshared keys: treat it as a secret.
    pub fn to_wg_quick(&self) -> String {
        printer::print(self)
    }
}

//! The `wg_quick` target: the wg-quick text parser and printer.
//!
//! Invariants, on arbitrary text (bytes that are not UTF-8 are replaced, as
//! an app reading a file lossily would):
//! - parsing never panics;
//! - a config that parses prints to text that parses back to the same config
//!   (up to a port or keepalive of 0, which the text cannot tell from unset);
//! - printing is canonical: the reparsed config prints the same text;
//! - an error message holds no control characters (issue 9, defect 6, fixed
//!   on the `hostile` branch).

use ferrotun::config::TunnelConfig;

use crate::ffi_config::normalized;

/// Runs one input. Panics (the fuzzer's crash) when an invariant breaks.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let config = match TunnelConfig::parse_wg_quick(&text) {
        Ok(config) => config,
        Err(error) => {
            let message = error.to_string();
            assert!(
                !message.chars().any(char::is_control),
                "control character in error message: {message:?}"
            );
            return;
        }
    };
    let printed = config.to_wg_quick();
    let reparsed = TunnelConfig::parse_wg_quick(&printed)
        .unwrap_or_else(|e| panic!("printed config does not parse: {e}\n{printed}"));
    assert_eq!(reparsed, normalized(config), "parse -> print -> parse");
    assert_eq!(reparsed.to_wg_quick(), printed, "printing is canonical");
}

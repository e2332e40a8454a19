//! The `wg_quick` target: the wg-quick text parser and printer.
//!
//! Invariants, on arbitrary text (bytes that are not UTF-8 are replaced, as
//! an app reading a file lossily would):
//! - parsing never panics;
//! - a config that parses prints to text that parses back to the same config
//!   (up to a port or keepalive of 0, which the text cannot tell from unset);
//! - printing is canonical: the reparsed config prints the same text;
//! - an error message holds no control characters and no 16 characters in a
//!   row of any private or preshared key the text sets (a key pasted, whole
//!   or damaged, into another field; issue 9, defect 6).

use ferrotun::config::{PresharedKey, TunnelConfig};

use crate::ffi_config::{assert_no_secret, normalized};

/// The values of `PrivateKey =` and `PresharedKey =` lines that are keys,
/// wherever they stand, in canonical base64.
fn secrets(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once('=')?;
            let key = key.trim().to_ascii_lowercase();
            let value = value.split('#').next()?.trim();
            (key == "privatekey" || key == "presharedkey")
                .then(|| PresharedKey::from_base64(value).ok())
                .flatten()
                .map(|k| k.to_base64())
        })
        .collect()
}

/// Runs one input. Panics (the fuzzer's crash) when an invariant breaks.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let config = match TunnelConfig::parse_wg_quick(&text) {
        Ok(config) => config,
        Err(error) => {
            let message = error.to_string();
            assert_no_secret(&message, &secrets(&text), "error message");
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

//! Quoting user text into error messages without leaking secrets or
//! letting control characters reach a terminal or a log.
//!
//! A key pasted into the wrong field (an address, an endpoint) must not come
//! back in an error that apps log, whether whole, cut short, or with spaces
//! or other characters inside. So a value is shown only while it holds fewer
//! than [`MIN_KEY_LIKE_CHARS`] characters of the base64 alphabet in total,
//! wherever they are; anything with more is replaced by a placeholder.

/// Longest user value quoted in an error, in characters; longer ones are cut.
const MAX_SHOWN_CHARS: usize = 64;

/// Values with this many base64-alphabet characters (in any arrangement) are
/// never shown. A key is 43 such characters plus `=`; showing at most 15 of
/// them leaves at least 28 (168 bits) unknown. Ordinary values stay visible:
/// `10.0.0.300/24`, `2001:db8::/129`, `vpn.example.com` have fewer. Longer
/// host names merely go unquoted.
pub const MIN_KEY_LIKE_CHARS: usize = 16;

/// What replaces a value that may contain a key.
pub const REDACTED: &str = "<not shown: may contain a key>";

/// User text as it may appear in an error: redacted if it could hold (part
/// of) a key, control characters escaped (`\u{1b}`), shortened if long.
pub fn shown(value: &str) -> String {
    let is_base64_char =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '-' | '_');
    if value.chars().filter(|&c| is_base64_char(c)).count() >= MIN_KEY_LIKE_CHARS {
        return REDACTED.to_owned();
    }
    let mut out = String::new();
    for (i, c) in value.chars().enumerate() {
        if i == MAX_SHOWN_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";

    #[test]
    fn a_key_is_never_shown_whole_cut_or_spaced() {
        for text in [
            SECRET.to_owned(),
            format!("{SECRET}:51820"),
            format!("[{}]", &SECRET[..39]),
            SECRET[..16].to_owned(),
            format!("{} {}", &SECRET[..20], &SECRET[20..]),
            SECRET.chars().flat_map(|c| [c, ' ']).collect(),
            SECRET.chars().flat_map(|c| [c, '.']).collect(),
            format!("{}{SECRET}", "1.".repeat(40)),
        ] {
            assert_eq!(shown(&text), REDACTED, "{text}");
        }
    }

    #[test]
    fn ordinary_values_are_quoted_and_long_ones_cut() {
        assert_eq!(shown("10.0.0.0/33"), "10.0.0.0/33");
        assert_eq!(shown("vpn.example.com:0"), "vpn.example.com:0");
        let long = ".:".repeat(50);
        assert_eq!(shown(&long).chars().count(), MAX_SHOWN_CHARS + 1);
        assert!(shown(&long).ends_with('…'));
    }

    #[test]
    fn control_characters_are_escaped() {
        let shown = shown("10.0.0.1\u{1b}[2J\u{7}\r\n");
        assert_eq!(shown, "10.0.0.1\\u{1b}[2J\\u{7}\\u{d}\\u{a}");
        assert!(!shown.chars().any(char::is_control));
    }
}

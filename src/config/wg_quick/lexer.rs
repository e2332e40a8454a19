//! Splits wg-quick text into numbered lines and each line into a section
//! header or a `key = value` pair. Knows nothing about which keys exist.

use crate::config::ConfigErrorKind;

/// Longest key or section name taken as a name. Longer "names" are usually a
/// pasted key (44 characters) and are never echoed into an error.
const MAX_NAME_LEN: usize = 32;

/// A line without `=` that is not a header or comment.
pub(super) const MISSING_EQUALS: &str =
    "expected `Key = value` or a `[Section]` header, found a line without `=`";
/// The text before `=` is not a key name; not quoted, as it is often a
/// misplaced or split key.
pub(super) const BAD_KEY_NAME: &str = "the text before `=` is not a key name";
/// A line starting with `[` that is not `[Name]`.
pub(super) const BAD_SECTION_HEADER: &str =
    "malformed section header, expected `[Interface]` or `[Peer]`";

/// One meaningful line.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Line<'a> {
    /// Blank, or only a comment.
    Blank,
    /// `[Name]`, with the name trimmed.
    Section(&'a str),
    /// `key = value`, both trimmed, comment removed.
    Entry {
        /// The key as written.
        key: &'a str,
        /// The value as written; may be empty.
        value: &'a str,
    },
}

/// The lines of `text` with 1-based numbers. A leading UTF-8 byte order mark
/// is dropped; `\n` and `\r\n` endings both work.
pub(super) fn numbered_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line))
}

/// Classifies one line. `#` starts a comment anywhere (base64 never contains it).
///
/// # Errors
/// [`ConfigErrorKind::Syntax`].
pub(super) fn lex(line: &str) -> Result<Line<'_>, ConfigErrorKind> {
    let line = line
        .split_once('#')
        .map_or(line, |(before, _comment)| before)
        .trim();
    if line.is_empty() {
        return Ok(Line::Blank);
    }
    if let Some(header) = line.strip_prefix('[') {
        let name = header
            .strip_suffix(']')
            .ok_or(ConfigErrorKind::Syntax(BAD_SECTION_HEADER))?
            .trim();
        return if is_name(name) {
            Ok(Line::Section(name))
        } else {
            Err(ConfigErrorKind::Syntax(BAD_SECTION_HEADER))
        };
    }
    let (key, value) = line
        .split_once('=')
        .ok_or(ConfigErrorKind::Syntax(MISSING_EQUALS))?;
    let key = key.trim();
    if !is_name(key) {
        return Err(ConfigErrorKind::Syntax(BAD_KEY_NAME));
    }
    Ok(Line::Entry {
        key,
        value: value.trim(),
    })
}

/// A plausible key or section name: an ASCII letter, then letters, digits,
/// `_` or `-`, at most [`MAX_NAME_LEN`] long. Only such text is ever quoted
/// back in an error, which keeps a misplaced key out of messages.
fn is_name(text: &str) -> bool {
    let mut bytes = text.bytes();
    text.len() <= MAX_NAME_LEN
        && bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_lex_to_blank_header_entry_or_syntax_error() {
        let entry = |key, value| Ok(Line::Entry { key, value });
        let syntax = |reason| Err(ConfigErrorKind::Syntax(reason));
        let cases = [
            ("", Ok(Line::Blank)),
            ("   ", Ok(Line::Blank)),
            ("\t", Ok(Line::Blank)),
            ("# comment", Ok(Line::Blank)),
            ("   # indented comment", Ok(Line::Blank)),
            // Key, value and trailing comment are trimmed.
            (
                "  ListenPort\t=  51820   # the port",
                entry("ListenPort", "51820"),
            ),
            // Split at the first `=`, so base64 padding survives.
            ("PublicKey = abc=", entry("PublicKey", "abc=")),
            ("AllowedIPs =", entry("AllowedIPs", "")),
            ("[ Peer ]  # next", Ok(Line::Section("Peer"))),
            ("[Peer", syntax(BAD_SECTION_HEADER)),
            ("[]", syntax(BAD_SECTION_HEADER)),
            ("[Peer] x", syntax(BAD_SECTION_HEADER)),
            ("[a b]", syntax(BAD_SECTION_HEADER)),
            ("PrivateKey", syntax(MISSING_EQUALS)),
            ("= 1", syntax(BAD_KEY_NAME)),
            (
                "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=",
                syntax(BAD_KEY_NAME),
            ),
            ("Private Key = x", syntax(BAD_KEY_NAME)),
            ("1Key = 2", syntax(BAD_KEY_NAME)),
        ];
        for (line, expected) in cases {
            assert_eq!(lex(line), expected, "{line:?}");
        }
    }

    #[test]
    fn lines_are_numbered_from_one_without_bom_or_cr() {
        let lines: Vec<_> = numbered_lines("\u{feff}[Interface]\r\nMTU = 1\r\n").collect();
        assert_eq!(lines, [(1, "[Interface]"), (2, "MTU = 1")]);
    }
}

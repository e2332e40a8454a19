//! No config error ever echoes a key or a raw control character: a key pasted
//! into any field of wg-quick text or of an FFI config record, whole, cut
//! short, or with spaces or other characters inside, never comes back in the
//! error message (which apps log), and ESC/BEL/CR never reach a terminal.

use ferrotun::config::{PresharedKey, PrivateKey, TunnelConfig};
use ferrotun::ffi::{self, FerrotunError};
use proptest::prelude::*;

/// Fewer characters of a key than this may be shown; see `config::quote`.
const WINDOW: usize = 16;

fn is_base64_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '-' | '_')
}

/// Checks one error message (Display and Debug) against the key characters
/// that were put into the input.
fn assert_clean(message: &str, key_chars: &str) {
    assert!(
        !message.chars().any(char::is_control),
        "raw control character in {message:?}"
    );
    // Whatever separates the characters, the message must not carry WINDOW of
    // them in a row.
    let base64_only: String = message.chars().filter(|&c| is_base64_char(c)).collect();
    let key: Vec<char> = key_chars.chars().collect();
    for window in key.windows(WINDOW) {
        let window: String = window.iter().collect();
        assert!(
            !base64_only.contains(&window),
            "{message:?} holds {window:?} of the key"
        );
    }
}

fn check_error(error: &FerrotunError, key_chars: &str) {
    assert_clean(&error.to_string(), key_chars);
    assert_clean(&format!("{error:?}"), key_chars);
}

fn wg_quick_with(slot: &str, value: &str) -> String {
    let private = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
    let public = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=";
    let interface = |extra: &str| format!("[Interface]\nPrivateKey = {private}\n{extra}\n");
    let peer = |extra: &str| {
        format!(
            "{}[Peer]\nPublicKey = {public}\nAllowedIPs = 10.0.0.2/32\n{extra}\n",
            interface("")
        )
    };
    match slot {
        "PrivateKey" => format!("[Interface]\nPrivateKey = {value}\n"),
        "PublicKey" => format!("{}[Peer]\nPublicKey = {value}\n", interface("")),
        "Address" | "DNS" | "ListenPort" | "MTU" => interface(&format!("{slot} = {value}")),
        "PresharedKey" | "Endpoint" | "AllowedIPs" | "PersistentKeepalive" => {
            peer(&format!("{slot} = {value}"))
        }
        "key name" => interface(&format!("{value} = 1")),
        "section" => format!("{}[{value}]\n", interface("")),
        "line" => interface(value),
        "before any section" => format!("{value} = 1\n"),
        other => unreachable!("{other}"),
    }
}

const WG_QUICK_SLOTS: &[&str] = &[
    "PrivateKey",
    "PublicKey",
    "Address",
    "DNS",
    "ListenPort",
    "MTU",
    "PresharedKey",
    "Endpoint",
    "AllowedIPs",
    "PersistentKeepalive",
    "key name",
    "section",
    "line",
    "before any section",
];

fn valid_record() -> ffi::TunnelConfig {
    ffi::TunnelConfig {
        private_key: PrivateKey::generate().to_base64(),
        listen_port: None,
        mtu: None,
        addresses: vec!["10.0.0.1/32".into()],
        dns: vec!["10.0.0.53".into()],
        dns_search: vec![],
        peers: vec![ffi::PeerConfig {
            public_key: PrivateKey::generate().public_key().to_base64(),
            preshared_key: None,
            endpoint: Some("192.0.2.1:51820".into()),
            allowed_ips: vec!["10.0.0.2/32".into()],
            persistent_keepalive: None,
            resolved_endpoint: None,
        }],
    }
}

const RECORD_SLOTS: usize = 10;

fn record_with(slot: usize, value: &str) -> ffi::TunnelConfig {
    let mut record = valid_record();
    let value = value.to_owned();
    match slot {
        0 => record.private_key = value,
        1 => record.addresses.push(value),
        2 => record.dns.push(value),
        3 => record.dns_search.push(value),
        4 => record.peers[0].public_key = value,
        5 => record.peers[0].preshared_key = Some(value),
        6 => record.peers[0].endpoint = Some(value),
        7 => record.peers[0].allowed_ips.push(value),
        8 => record.peers[0].resolved_endpoint = Some(value),
        _ => record.addresses[0] = value,
    }
    record
}

/// A key (as `wg genkey` prints it), the part of it used, and that part
/// with separator or control characters inserted and text around it.
fn hostile_value(allow_newlines: bool) -> impl Strategy<Value = (String, String)> {
    let separators = if allow_newlines {
        vec![
            ' ', '\t', '.', ':', '/', ',', '\u{1b}', '\u{7}', '\r', '\n', '\0', 'é',
        ]
    } else {
        vec![
            ' ', '\t', '.', ':', '/', ',', '\u{1b}', '\u{7}', '\r', '\0', 'é',
        ]
    };
    let separator = proptest::sample::select(separators);
    (
        any::<[u8; 32]>(),
        0usize..=28,
        WINDOW..=44usize,
        proptest::collection::vec(proptest::option::of(separator), 44),
        proptest::collection::vec(any::<char>(), 0..6),
        proptest::collection::vec(any::<char>(), 0..6),
    )
        .prop_map(move |(bytes, start, len, seps, prefix, suffix)| {
            let key = PresharedKey::from_bytes(bytes).to_base64();
            let end = (start + len).min(key.len());
            let part = key[start..end].to_owned();
            let mut value: String = prefix
                .into_iter()
                .filter(|&c| allow_newlines || c != '\n')
                .collect();
            for (c, sep) in part.chars().zip(&seps) {
                value.push(c);
                value.extend(*sep);
            }
            value.extend(suffix.into_iter().filter(|&c| allow_newlines || c != '\n'));
            (value, part)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn no_wg_quick_error_echoes_a_key_or_a_control_character(
        (value, part) in hostile_value(false),
        slot in proptest::sample::select(WG_QUICK_SLOTS),
    ) {
        let text = wg_quick_with(slot, &value);
        if let Err(error) = ffi::parse_wg_quick(text.clone()) {
            check_error(&error, &part);
        }
        if let Err(error) = TunnelConfig::parse_wg_quick(&text) {
            assert_clean(&error.to_string(), &part);
            assert_clean(&format!("{error:?}"), &part);
        }
    }

    #[test]
    fn no_ffi_config_error_echoes_a_key_or_a_control_character(
        (value, part) in hostile_value(true),
        slot in 0..RECORD_SLOTS,
    ) {
        if let Err(error) = TunnelConfig::try_from(record_with(slot, &value)) {
            check_error(&error, &part);
        }
    }
}

/// The cases the issue reported, one by one.
#[test]
fn a_key_in_the_wrong_field_is_not_echoed_however_it_is_spaced() {
    let key = PrivateKey::generate().to_base64();
    for value in [
        key.clone(),
        format!("{} {}", &key[..22], &key[22..]),
        key[..39].to_owned(),
        format!("{key}:51820"),
    ] {
        for slot in 0..RECORD_SLOTS {
            if let Err(error) = TunnelConfig::try_from(record_with(slot, &value)) {
                check_error(&error, &key);
            }
        }
        for slot in WG_QUICK_SLOTS {
            if let Err(error) = ffi::parse_wg_quick(wg_quick_with(slot, &value)) {
                check_error(&error, &key);
            }
        }
    }
}

#[test]
fn control_characters_in_values_are_escaped() {
    let value = "10.0.0.1\u{1b}]0;pwned\u{7}\r";
    let error = TunnelConfig::try_from(record_with(1, value)).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("\\u{1b}"), "{message}");
    check_error(&error, "");
    let error = ffi::parse_wg_quick(wg_quick_with("Address", value)).unwrap_err();
    check_error(&error, "");
}

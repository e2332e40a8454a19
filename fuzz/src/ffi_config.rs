//! The `ffi_config` target: the conversion of the FFI config records (what
//! Kotlin and Swift apps build) into the checked core config.
//!
//! The input is decoded with `arbitrary` into [`Tunnel`], a mirror of the FFI
//! records whose string fields are either free text or text shaped like what
//! the field expects (prefixes, endpoints, keys), or a secret key pasted into
//! the wrong field, whole or damaged the ways pasted keys get damaged.
//!
//! Invariants:
//! - the conversion never panics;
//! - an error names no secret: no 16 characters in a row of the private key or
//!   a preshared key (as base64) appear in its message or `Debug`, and the
//!   message holds no control characters (issue 9, defect 6);
//! - a config that converts comes back unchanged through the FFI records and
//!   through wg-quick text.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use arbitrary::{Arbitrary, Unstructured};
use ferrotun::config::{PresharedKey, PrivateKey, TunnelConfig as CoreConfig};
use ferrotun::ffi;

/// Characters of a key's base64 that, appearing in a row, count as a leak.
pub const LEAK_WINDOW: usize = 16;

/// Mirror of [`ffi::TunnelConfig`].
#[derive(Arbitrary, Debug)]
pub struct Tunnel {
    private_key: KeyText,
    listen_port: Option<u16>,
    mtu: Option<u16>,
    addresses: Vec<Text>,
    dns: Vec<Text>,
    dns_search: Vec<Text>,
    peers: Vec<Peer>,
}

/// Mirror of [`ffi::PeerConfig`].
#[derive(Arbitrary, Debug)]
pub struct Peer {
    public_key: KeyText,
    preshared_key: Option<KeyText>,
    endpoint: Option<Text>,
    allowed_ips: Vec<Text>,
    persistent_keepalive: Option<u16>,
    resolved_endpoint: Option<Text>,
}

/// A key field: one of a few fixed keys (by number), possibly damaged, or free text.
#[derive(Arbitrary, Debug)]
enum KeyText {
    Key(u8, Damage),
    Free(String),
}

/// How a pasted key gets damaged.
#[derive(Arbitrary, Debug)]
enum Damage {
    None,
    /// Only the first `n` characters (mod the length).
    Cut(u8),
    /// A character inserted at a position (mod the length).
    Insert(u8, char),
    /// Surrounded by text, e.g. quotes or `PrivateKey = `.
    Wrapped(String, String),
}

/// A string field other than a key.
#[derive(Arbitrary, Debug)]
enum Text {
    Free(String),
    Prefix(Ip, u8),
    Address(Ip),
    Endpoint(Ip, u16),
    Host(String, u16),
    /// The tunnel's private key, pasted into the wrong field.
    PrivateKey(Damage),
    /// Preshared key number `n`, pasted into the wrong field.
    PresharedKey(u8, Damage),
}

#[derive(Arbitrary, Debug)]
enum Ip {
    V4([u8; 4]),
    V6([u8; 16]),
}

impl Ip {
    fn addr(&self) -> IpAddr {
        match self {
            Ip::V4(b) => Ipv4Addr::from(*b).into(),
            Ip::V6(b) => Ipv6Addr::from(*b).into(),
        }
    }
}

/// Private key number `n` of a small fixed set (so peers can collide).
fn private_key(n: u8) -> PrivateKey {
    PrivateKey::from_bytes([n % 4 + 1; 32])
}

fn preshared_key(n: u8) -> PresharedKey {
    PresharedKey::from_bytes([n % 4 + 0x50; 32])
}

impl Damage {
    fn apply(&self, text: String) -> String {
        match self {
            Damage::None => text,
            Damage::Cut(n) => text
                .chars()
                .take(usize::from(*n) % (text.len() + 1))
                .collect(),
            Damage::Insert(at, c) => {
                let mut text = text;
                text.insert(usize::from(*at) % (text.len() + 1), *c);
                text
            }
            Damage::Wrapped(before, after) => format!("{before}{text}{after}"),
        }
    }
}

/// Builds the FFI records and the list of secrets that went into them.
struct Builder {
    secrets: Vec<String>,
}

impl Builder {
    fn tunnel(&mut self, t: &Tunnel) -> ffi::TunnelConfig {
        let private_key = match &t.private_key {
            KeyText::Key(n, damage) => {
                let text = private_key(*n).to_base64();
                self.secrets.push(text.clone());
                damage.apply(text)
            }
            KeyText::Free(s) => s.clone(),
        };
        ffi::TunnelConfig {
            private_key,
            listen_port: t.listen_port,
            mtu: t.mtu,
            addresses: t.addresses.iter().map(|x| self.text(x, t)).collect(),
            dns: t.dns.iter().map(|x| self.text(x, t)).collect(),
            dns_search: t.dns_search.iter().map(|x| self.text(x, t)).collect(),
            peers: t.peers.iter().map(|p| self.peer(p, t)).collect(),
        }
    }

    fn peer(&mut self, p: &Peer, t: &Tunnel) -> ffi::PeerConfig {
        ffi::PeerConfig {
            public_key: match &p.public_key {
                KeyText::Key(n, damage) => damage.apply(private_key(*n).public_key().to_base64()),
                KeyText::Free(s) => s.clone(),
            },
            preshared_key: p.preshared_key.as_ref().map(|k| match k {
                KeyText::Key(n, damage) => self.preshared(*n, damage),
                KeyText::Free(s) => s.clone(),
            }),
            endpoint: p.endpoint.as_ref().map(|x| self.text(x, t)),
            allowed_ips: p.allowed_ips.iter().map(|x| self.text(x, t)).collect(),
            persistent_keepalive: p.persistent_keepalive,
            resolved_endpoint: p.resolved_endpoint.as_ref().map(|x| self.text(x, t)),
        }
    }

    fn preshared(&mut self, n: u8, damage: &Damage) -> String {
        let text = preshared_key(n).to_base64();
        self.secrets.push(text.clone());
        damage.apply(text)
    }

    fn text(&mut self, x: &Text, t: &Tunnel) -> String {
        match x {
            Text::Free(s) => s.clone(),
            Text::Prefix(ip, len) => format!("{}/{len}", ip.addr()),
            Text::Address(ip) => ip.addr().to_string(),
            Text::Endpoint(ip, port) => std::net::SocketAddr::new(ip.addr(), *port).to_string(),
            Text::Host(host, port) => format!("{host}:{port}"),
            Text::PrivateKey(damage) => {
                let n = match &t.private_key {
                    KeyText::Key(n, _) => *n,
                    KeyText::Free(_) => 0,
                };
                let text = private_key(n).to_base64();
                self.secrets.push(text.clone());
                damage.apply(text)
            }
            Text::PresharedKey(n, damage) => self.preshared(*n, damage),
        }
    }
}

/// The same config without what wg-quick text does not carry (a resolved
/// endpoint).
pub fn normalized(mut config: CoreConfig) -> CoreConfig {
    let keys: Vec<_> = config.peers().iter().map(|p| p.public_key).collect();
    for key in keys {
        config.set_resolved_endpoint(&key, None);
    }
    config
}

/// Panics if `text` carries `LEAK_WINDOW` characters in a row of a secret.
pub fn assert_no_secret(text: &str, secrets: &[String], what: &str) {
    for secret in secrets {
        for window in secret.as_bytes().windows(LEAK_WINDOW) {
            let window = std::str::from_utf8(window).expect("base64 is ASCII");
            assert!(
                !text.contains(window),
                "{what} leaks part of a secret key ({window}): {text}"
            );
        }
    }
}

/// Runs one input. Panics (the fuzzer's crash) when an invariant breaks.
pub fn run(data: &[u8]) {
    let Ok(mirror) = Tunnel::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let mut builder = Builder {
        secrets: Vec::new(),
    };
    let record = builder.tunnel(&mirror);
    match CoreConfig::try_from(record) {
        Err(error) => {
            let message = error.to_string();
            // Issue 9, defect 6: FFI errors once echoed the offending value verbatim.
            assert_no_secret(&message, &builder.secrets, "error message");
            assert_no_secret(&format!("{error:?}"), &builder.secrets, "error Debug");
            assert!(
                !message.chars().any(char::is_control),
                "control character in error message: {message:?}"
            );
        }
        Ok(core) => {
            let back = CoreConfig::try_from(ffi::TunnelConfig::from(&core))
                .expect("a converted config converts again");
            assert_eq!(back, core, "FFI records round-trip");
            let text = core.to_wg_quick();
            let parsed = CoreConfig::parse_wg_quick(&text)
                .unwrap_or_else(|e| panic!("printed config does not parse: {e}"));
            assert_eq!(parsed, normalized(core), "wg-quick text round-trip");
        }
    }
}

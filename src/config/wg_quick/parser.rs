//! Sections and keys: turns lexed lines into a [`TunnelConfig`], checking
//! each value as it is read and the peers against each other at the end,
//! each failure on its own line.

use std::num::NonZeroU16;

use super::lexer::{BAD_KEY_NAME, Line, lex, numbered_lines};
use crate::config::quote::shown;
use crate::config::value::{Invalid, is_ip_like, parse_u16};
use crate::config::{
    ConfigError, ConfigErrorKind, IpNet, KeyError, PeerConfig, PresharedKey, PrivateKey, PublicKey,
    TunnelConfig, check_peers, parse_prefix,
};

/// A key of `[Interface]` (the first six) or `[Peer]`.
#[derive(Debug, Clone, Copy)]
enum Field {
    PrivateKey,
    ListenPort,
    Address,
    Dns,
    Mtu,
    /// Known to wg-quick, no effect in Ferrotun: accepted and dropped.
    Ignored,
    PublicKey,
    PresharedKey,
    Endpoint,
    AllowedIps,
    PersistentKeepalive,
}

impl Field {
    fn in_peer(self) -> bool {
        matches!(
            self,
            Self::PublicKey
                | Self::PresharedKey
                | Self::Endpoint
                | Self::AllowedIps
                | Self::PersistentKeepalive
        )
    }

    /// Lists (which accumulate) and dropped keys may repeat in a section.
    fn may_repeat(self) -> bool {
        matches!(
            self,
            Self::Address | Self::Dns | Self::AllowedIps | Self::Ignored
        )
    }
}

/// Canonical spellings (used in errors and logs) of the keys.
const KEYS: [(&str, Field); 17] = [
    ("PrivateKey", Field::PrivateKey),
    ("ListenPort", Field::ListenPort),
    ("Address", Field::Address),
    ("DNS", Field::Dns),
    ("MTU", Field::Mtu),
    ("Table", Field::Ignored),
    ("FwMark", Field::Ignored),
    ("SaveConfig", Field::Ignored),
    ("PreUp", Field::Ignored),
    ("PostUp", Field::Ignored),
    ("PreDown", Field::Ignored),
    ("PostDown", Field::Ignored),
    ("PublicKey", Field::PublicKey),
    ("PresharedKey", Field::PresharedKey),
    ("Endpoint", Field::Endpoint),
    ("AllowedIPs", Field::AllowedIps),
    ("PersistentKeepalive", Field::PersistentKeepalive),
];

const BAD_LISTEN_PORT: Invalid = Invalid::new("expected a port number from 0 to 65535");
const BAD_KEEPALIVE: Invalid = Invalid::new("expected seconds from 0 to 65535, or `off`");
const BAD_DNS: Invalid = Invalid::new("not an IP address or a domain name");

/// The non-empty, trimmed entries of a comma-separated list. Empty entries
/// (`a,,b`, a trailing comma, an empty value) are skipped, as wg-quick does.
fn list(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
}

/// The section whose lines are being read.
#[derive(Debug, Default)]
enum Open {
    /// Before the first header.
    #[default]
    Nothing,
    Interface,
    /// A `[Peer]`; its public key is a placeholder until `PublicKey` is read.
    Peer {
        header_line: usize,
        peer: PeerConfig,
    },
}

/// Parser state. The `[Interface]` fields are filled into `config` in
/// place, since there is only one. Its private key is a placeholder until
/// `PrivateKey` is read; [`Parser::finish`] returns the config only after an
/// `[Interface]`, and an `[Interface]` only closes with its `PrivateKey`.
#[derive(Debug)]
struct Parser {
    config: TunnelConfig,
    open: Open,
    /// Single-value keys already set in the open section, with their lines;
    /// also how [`Parser::close`] finds the required ones.
    seen: Vec<(&'static str, usize)>,
    interface_line: Option<usize>,
    /// `PublicKey` line of each peer in `config.peers`.
    peer_lines: Vec<usize>,
}

impl Parser {
    fn new() -> Self {
        Self {
            config: TunnelConfig::unchecked(PrivateKey::from_bytes([0; 32]), Vec::new()),
            open: Open::Nothing,
            seen: Vec::new(),
            interface_line: None,
            peer_lines: Vec::new(),
        }
    }

    fn section(&mut self, name: &str, line: usize) -> Result<(), ConfigError> {
        self.close()?;
        self.open = if name.eq_ignore_ascii_case("Interface") {
            if let Some(first) = self.interface_line {
                let reason = format!("second `[Interface]` section (the first is on line {first})");
                return Err(ConfigErrorKind::Section(reason).at(line));
            }
            self.interface_line = Some(line);
            Open::Interface
        } else if name.eq_ignore_ascii_case("Peer") {
            let peer = PeerConfig::new(PublicKey::from_bytes([0; 32]));
            Open::Peer {
                header_line: line,
                peer,
            }
        } else {
            let reason = format!(
                "unknown section `[{}]`, expected `[Interface]` or `[Peer]`",
                shown(name)
            );
            return Err(ConfigErrorKind::Section(reason).at(line));
        };
        Ok(())
    }

    fn entry(&mut self, key: &str, value: &str, line: usize) -> Result<(), ConfigErrorKind> {
        let section = match self.open {
            Open::Nothing => None,
            Open::Interface => Some("Interface"),
            Open::Peer { .. } => Some("Peer"),
        };
        let found = section.and_then(|section| {
            // Case-insensitive, as `wg` does.
            KEYS.iter().copied().find(|&(name, field)| {
                field.in_peer() == (section == "Peer") && name.eq_ignore_ascii_case(key)
            })
        });
        let Some((name, field)) = found else {
            // An unknown name with nothing after `=` is more often the tail
            // of a key split across lines (the `=` being its padding) than a
            // typo, so it is not echoed.
            if value.is_empty() {
                return Err(ConfigErrorKind::Syntax(BAD_KEY_NAME));
            }
            let key = shown(key);
            return Err(ConfigErrorKind::Key(match section {
                None => format!(
                    "`{key}` is outside any section; put it under `[Interface]` or `[Peer]`"
                ),
                Some(section) => format!("unknown key `{key}` in `[{section}]`"),
            }));
        };
        if !field.may_repeat() {
            self.once(name, value, line)?;
        }
        let bad = |reason| bad_value(name, value, reason);
        let config = &mut self.config;
        match (field, &mut self.open) {
            (Field::PrivateKey, _) => {
                config.private_key = PrivateKey::from_base64(value).map_err(bad_key(name))?;
            }
            (Field::ListenPort, _) => {
                let port = parse_u16(value).ok_or_else(|| bad(BAD_LISTEN_PORT))?;
                // 0 asks the OS to choose, which is what `None` means.
                config.listen_port = NonZeroU16::new(port);
            }
            (Field::Mtu, _) => config.mtu = Some(value.parse().map_err(bad)?),
            (Field::Address, _) => push_prefixes(name, value, &mut config.addresses)?,
            (Field::Dns, _) => {
                for item in list(value) {
                    let bad = || bad_value(name, item, BAD_DNS);
                    if is_ip_like(item) {
                        config.dns.push(item.parse().map_err(|_| bad())?);
                    } else {
                        config.dns_search.push(item.parse().map_err(|_| bad())?);
                    }
                }
            }
            (Field::Ignored, _) => {
                // The value may hold secrets (PostUp scripts often do): log the name only.
                tracing::warn!(
                    key = name,
                    line,
                    "ignoring wg-quick key that Ferrotun does not act on"
                );
            }
            (Field::PublicKey, Open::Peer { peer, .. }) => {
                peer.public_key = PublicKey::from_base64(value).map_err(bad_key(name))?;
            }
            (Field::PresharedKey, Open::Peer { peer, .. }) => {
                let key = PresharedKey::from_base64(value).map_err(bad_key(name))?;
                peer.preshared_key = Some(key);
            }
            (Field::Endpoint, Open::Peer { peer, .. }) => {
                peer.endpoint = Some(value.parse().map_err(bad)?);
            }
            (Field::AllowedIps, Open::Peer { peer, .. }) => {
                push_prefixes(name, value, &mut peer.allowed_ips)?;
            }
            (Field::PersistentKeepalive, Open::Peer { peer, .. }) => {
                let seconds = if value.eq_ignore_ascii_case("off") {
                    0
                } else {
                    parse_u16(value).ok_or_else(|| bad(BAD_KEEPALIVE))?
                };
                peer.persistent_keepalive = NonZeroU16::new(seconds);
            }
            // Peer keys are only found while a `[Peer]` is open.
            (_, _) => {}
        }
        Ok(())
    }

    /// The line single-value key `name` was set on in the open section.
    fn seen(&self, name: &str) -> Option<usize> {
        let (_, line) = self.seen.iter().find(|(seen, _)| *seen == name)?;
        Some(*line)
    }

    /// Claims single-value key `name` for `line` in the open section.
    fn once(
        &mut self,
        name: &'static str,
        value: &str,
        line: usize,
    ) -> Result<(), ConfigErrorKind> {
        if let Some(first) = self.seen(name) {
            return Err(ConfigErrorKind::Key(format!(
                "{name} is given twice in one section (first on line {first})"
            )));
        }
        self.seen.push((name, line));
        if value.is_empty() {
            return Err(ConfigErrorKind::Key(format!("{name} has no value")));
        }
        Ok(())
    }

    /// Ends the open section, checking that its required key is there (a
    /// key in `seen` was read without error).
    fn close(&mut self) -> Result<(), ConfigError> {
        let missing = match std::mem::take(&mut self.open) {
            Open::Nothing => None,
            Open::Interface => self.seen("PrivateKey").is_none().then(|| {
                let line = self.interface_line.unwrap_or(0);
                ("`[Interface]` has no PrivateKey", line)
            }),
            Open::Peer { header_line, peer } => match self.seen("PublicKey") {
                Some(key_line) => {
                    self.config.peers.push(peer);
                    self.peer_lines.push(key_line);
                    None
                }
                None => Some(("`[Peer]` has no PublicKey", header_line)),
            },
        };
        self.seen.clear();
        match missing {
            Some((reason, line)) => Err(ConfigErrorKind::Key(reason.to_owned()).at(line)),
            None => Ok(()),
        }
    }

    /// Returns the config once every line has been read.
    fn finish(mut self) -> Result<TunnelConfig, ConfigError> {
        self.close()?;
        // A closed `[Interface]` had its `PrivateKey`.
        if self.interface_line.is_none() {
            return Err(ConfigErrorKind::Section("no `[Interface]` section".into()).at(0));
        }
        check_peers(&self.config.private_key, &self.config.peers)
            .map_err(|(index, kind)| kind.at(self.peer_lines[index]))?;
        Ok(self.config)
    }
}

/// Appends the entries of list key `name` to `prefixes`.
fn push_prefixes(
    name: &'static str,
    value: &str,
    prefixes: &mut Vec<IpNet>,
) -> Result<(), ConfigErrorKind> {
    for item in list(value) {
        prefixes.push(parse_prefix(item).map_err(|reason| bad_value(name, item, reason))?);
    }
    Ok(())
}

fn bad_value(key: &'static str, value: &str, reason: Invalid) -> ConfigErrorKind {
    ConfigErrorKind::Value {
        key,
        value: Some(shown(value)),
        reason,
    }
}

/// A bad key value, which is never shown.
fn bad_key(key: &'static str) -> impl Fn(KeyError) -> ConfigErrorKind {
    move |reason| ConfigErrorKind::Value {
        key,
        value: None,
        reason: reason.into(),
    }
}

/// Parses wg-quick text; see [`TunnelConfig::parse_wg_quick`].
pub(super) fn parse(text: &str) -> Result<TunnelConfig, ConfigError> {
    let mut parser = Parser::new();
    for (line, raw) in numbered_lines(text) {
        match lex(raw).map_err(|kind| kind.at(line))? {
            Line::Blank => {}
            Line::Section(name) => parser.section(name, line)?,
            Line::Entry { key, value } => parser
                .entry(key, value, line)
                .map_err(|kind| kind.at(line))?,
        }
    }
    parser.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Mtu;
    use std::net::IpAddr;

    /// `wg genkey` output; its public key is [`OWN_PUBLIC`] (checked in key.rs).
    const OWN_PRIVATE: &str = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
    const OWN_PUBLIC: &str = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=";
    const PEER_A: &str = "MDr7NDyG0lawzPEJOyZT/nVedFwRfuWx8+L3hwgMJSE=";
    const PEER_B: &str = "9l3U+jH/zYvUw4FZBNkZaXqt8Qsfl4B4aXuYnjYR3EU=";
    const PSK: &str = "zKqIAT4QwZVy3OW1zjyiSvOWcWgchG9pOM6dyfRZy+Y=";

    const REALISTIC: &str = "\
# Laptop: office (by name) and home (IPv6)

[Interface]
PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=
ListenPort = 51820
Address = 10.8.0.2/24, fd00:8::2/64   # host bits kept
Address = 192.168.77.5
DNS = 10.8.0.1,fd00:8::1 , corp.example
DNS = lab.corp.example
MTU = 1380
PostUp = iptables -A FORWARD -i %i -j ACCEPT

[Peer]
# office
PublicKey = MDr7NDyG0lawzPEJOyZT/nVedFwRfuWx8+L3hwgMJSE=
PresharedKey = zKqIAT4QwZVy3OW1zjyiSvOWcWgchG9pOM6dyfRZy+Y=
Endpoint = vpn.corp.example:51820
AllowedIPs = 10.8.0.0/24, fd00:8::/64
AllowedIPs = 172.16.0.0/12
PersistentKeepalive = 25

[Peer]
PublicKey = 9l3U+jH/zYvUw4FZBNkZaXqt8Qsfl4B4aXuYnjYR3EU=
Endpoint = [2001:db8::10]:443
AllowedIPs = 0.0.0.0/0, ::/0
";

    fn nets(items: &[&str]) -> Vec<IpNet> {
        items.iter().map(|item| item.parse().unwrap()).collect()
    }

    fn ips(items: &[&str]) -> Vec<IpAddr> {
        items.iter().map(|item| item.parse().unwrap()).collect()
    }

    fn port(n: u16) -> Option<NonZeroU16> {
        NonZeroU16::new(n)
    }

    #[test]
    fn parses_a_full_realistic_config() {
        let config = parse(REALISTIC).unwrap();
        let expected = TunnelConfig {
            private_key: PrivateKey::from_base64(OWN_PRIVATE).unwrap(),
            listen_port: port(51820),
            mtu: Some(Mtu::try_from(1380).unwrap()),
            addresses: nets(&["10.8.0.2/24", "fd00:8::2/64", "192.168.77.5/32"]),
            dns: ips(&["10.8.0.1", "fd00:8::1"]),
            dns_search: vec![
                "corp.example".parse().unwrap(),
                "lab.corp.example".parse().unwrap(),
            ],
            peers: vec![
                PeerConfig {
                    public_key: PublicKey::from_base64(PEER_A).unwrap(),
                    preshared_key: Some(PresharedKey::from_base64(PSK).unwrap()),
                    endpoint: Some("vpn.corp.example:51820".parse().unwrap()),
                    allowed_ips: nets(&["10.8.0.0/24", "fd00:8::/64", "172.16.0.0/12"]),
                    persistent_keepalive: port(25),
                    resolved_endpoint: None,
                },
                PeerConfig {
                    public_key: PublicKey::from_base64(PEER_B).unwrap(),
                    preshared_key: None,
                    endpoint: Some("[2001:db8::10]:443".parse().unwrap()),
                    allowed_ips: nets(&["0.0.0.0/0", "::/0"]),
                    persistent_keepalive: None,
                    resolved_endpoint: None,
                },
            ],
        };
        assert_eq!(config, expected);
        assert_eq!(
            config.addresses[0].to_string(),
            "10.8.0.2/24",
            "host bits are kept"
        );
    }

    /// Each text and its canonical print, which shows every field the
    /// parser sets (after the `[Interface]` and `PrivateKey` lines).
    #[test]
    fn values_parse_to_what_they_mean() {
        let own = format!("[Interface]\nPrivateKey = {OWN_PRIVATE}\n");
        let iface = |rest: &str| format!("{own}{rest}");
        let peer_a = format!("\n[Peer]\nPublicKey = {PEER_A}\n");
        let mut cases: Vec<(String, String)> = vec![
            // Keys and section names are case-insensitive.
            (
                format!(
                    "[INTERFACE]\nprivatekey = {OWN_PRIVATE}\nlistenPORT = 1\naddress = 10.0.0.1/32\ndns = 1.1.1.1\nmtu = 1280\n\
                     [peer]\npublickey = {PEER_A}\npresharedKEY = {PSK}\nENDPOINT = h.example:2\nallowedips = ::/0\npersistentkeepalive = 5\n"
                ),
                format!(
                    "ListenPort = 1\nAddress = 10.0.0.1/32\nDNS = 1.1.1.1\nMTU = 1280\n{peer_a}\
                     PresharedKey = {PSK}\nAllowedIPs = ::/0\nEndpoint = h.example:2\nPersistentKeepalive = 5\n"
                ),
            ),
            // Whitespace, comments, CRLF and a byte order mark are tolerated.
            (
                format!(
                    "\u{feff}# header comment\r\n\r\n  [Interface]  # trailing\r\n\tPrivateKey\t=\t{OWN_PRIVATE}   # key\r\n   \r\nMTU=1400\r\n"
                ),
                "MTU = 1400\n".into(),
            ),
            // List keys accumulate across repeats and skip empty entries.
            (
                iface(&format!(
                    "Address = 10.0.0.1/32 ,\nAddress =\nAddress = fd00::1/128,, 10.0.0.2/32\n[Peer]\nPublicKey = {PEER_A}\nAllowedIPs = 10.0.0.0/8\nAllowedIPs = \nAllowedIPs = ::/0\n"
                )),
                format!(
                    "Address = 10.0.0.1/32, fd00::1/128, 10.0.0.2/32\n{peer_a}AllowedIPs = 10.0.0.0/8, ::/0\n"
                ),
            ),
            // Bare IPs become host prefixes.
            (
                iface(&format!(
                    "Address = 10.0.0.1, fd00::1\n[Peer]\nPublicKey = {PEER_A}\nAllowedIPs = 192.0.2.7\n"
                )),
                format!("Address = 10.0.0.1/32, fd00::1/128\n{peer_a}AllowedIPs = 192.0.2.7/32\n"),
            ),
            // DNS addresses are servers, names are search domains (printed
            // after the servers).
            (
                iface("DNS = 1.1.1.1, example.com, 2606:4700:4700::1111, internal.\n"),
                "DNS = 1.1.1.1, 2606:4700:4700::1111, example.com, internal.\n".into(),
            ),
            // ListenPort 0 means the OS chooses.
            (iface("ListenPort = 0\n"), String::new()),
            (iface("ListenPort = 65535\n"), "ListenPort = 65535\n".into()),
            // wg-quick-only keys are accepted and dropped.
            (
                iface(
                    "Table = off\nFwMark = 0x1234\nSaveConfig = true\nPreUp = a\nPostUp = b\nPostUp = c\nPreDown = d\nPostDown = e\n",
                ),
                String::new(),
            ),
            // `[Interface]` may come after the peers.
            (
                format!("[Peer]\nPublicKey = {PEER_A}\n[Interface]\nPrivateKey = {OWN_PRIVATE}\n"),
                peer_a.clone(),
            ),
        ];
        // PersistentKeepalive 0 and off mean none.
        for value in ["0", "off", "OFF"] {
            let text = format!("[Peer]\nPublicKey = {PEER_A}\nPersistentKeepalive = {value}\n");
            cases.push((iface(&text), peer_a.clone()));
        }
        for (text, printed) in cases {
            let config = parse(&text).unwrap_or_else(|error| panic!("{error}\n{text}"));
            assert_eq!(config.to_wg_quick(), format!("{own}{printed}"), "{text}");
        }
    }

    // The warning for an ignored key: tests/config_warnings.rs (its own process).

    // --- Bad input: every case names its line and cause. ---

    /// (text after `[Interface]` + `PrivateKey` on lines 1-2, line, message)
    fn after_interface_cases() -> Vec<(String, usize, String)> {
        let peer = |rest: &str| format!("[Peer]\nPublicKey = {PEER_A}\n{rest}\n");
        let mut cases: Vec<(String, usize, String)> = vec![
            (
                peer("PresharedKey = AAAA"),
                5,
                "bad PresharedKey: decodes to 3 bytes, a key has 32".into(),
            ),
            (
                "[Peer]\nPublicKey = AAAAAAAA\n".into(),
                4,
                "bad PublicKey: decodes to 6 bytes, a key has 32".into(),
            ),
            (
                "Address = 10.0.0.1/32, 10.0.0.300/24\n".into(),
                3,
                "bad Address entry `10.0.0.300/24`: not an IP address or CIDR prefix".into(),
            ),
            (
                peer("AllowedIPs = ::/0\nAllowedIPs = 10.0.0.0/33"),
                6,
                "bad AllowedIPs entry `10.0.0.0/33`: not an IP address or CIDR prefix".into(),
            ),
            (
                format!(
                    "[Peer]\nPublicKey = {PEER_A}\n\n[Peer]\nAllowedIPs = ::/0\n[Peer]\nPublicKey = {PEER_B}\n"
                ),
                6,
                "`[Peer]` has no PublicKey".into(),
            ),
            (
                format!(
                    "[Peer]\nPublicKey = {PEER_A}\n[Peer]\nPublicKey = {PEER_B}\n[Peer]\nAllowedIPs = ::/0\nPublicKey = {PEER_A}\n"
                ),
                9,
                "peer #3 has the same PublicKey as peer #1".into(),
            ),
            (
                format!("[Peer]\nPublicKey = {OWN_PUBLIC}\n"),
                4,
                "peer #1 has this interface's own public key".into(),
            ),
            (
                "Adress = 10.0.0.1\n".into(),
                3,
                "unknown key `Adress` in `[Interface]`".into(),
            ),
            (
                peer("ListenPort = 1"),
                5,
                "unknown key `ListenPort` in `[Peer]`".into(),
            ),
            (
                "[Peer]\nPostUp = x\n".into(),
                4,
                "unknown key `PostUp` in `[Peer]`".into(),
            ),
            (
                "[Peers]\n".into(),
                3,
                "unknown section `[Peers]`, expected `[Interface]` or `[Peer]`".into(),
            ),
            (
                "\n[Peer\n".into(),
                4,
                "malformed section header, expected `[Interface]` or `[Peer]`".into(),
            ),
            (
                "MTU 1400\n".into(),
                3,
                "expected `Key = value` or a `[Section]` header, found a line without `=`".into(),
            ),
            (
                "= 1400\n".into(),
                3,
                "the text before `=` is not a key name".into(),
            ),
            // Looks like the tail of a key split across lines, `=` being its padding.
            (
                "ji3zlMNqhd2rYUIgJBgB3fBmk=\n".into(),
                3,
                "the text before `=` is not a key name".into(),
            ),
            (
                "DNS = 1.1.1.1, 10.0.0\n".into(),
                3,
                "bad DNS entry `10.0.0`: not an IP address or a domain name".into(),
            ),
            (
                "[Peer]\nPublicKey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n[Interface]\n"
                    .into(),
                6,
                "second `[Interface]` section (the first is on line 1)".into(),
            ),
            (peer("Endpoint = # none"), 5, "Endpoint has no value".into()),
        ];
        for value in ["65536", "port", "-1", "1.5"] {
            cases.push((
                format!("ListenPort = {value}\n"),
                3,
                format!("bad ListenPort `{value}`: expected a port number from 0 to 65535"),
            ));
        }
        for value in ["100", "575", "9001", "0", "70000", "big"] {
            cases.push((
                format!("MTU = {value}\n"),
                3,
                format!("bad MTU `{value}`: expected a number from 576 to 9000"),
            ));
        }
        for value in ["65536", "sometimes", "-1", "on"] {
            cases.push((
                peer(&format!("PersistentKeepalive = {value}")),
                5,
                format!(
                    "bad PersistentKeepalive `{value}`: expected seconds from 0 to 65535, or `off`"
                ),
            ));
        }
        for (value, reason) in [
            (
                "192.0.2.1",
                "missing `:port` (write `host:port` or `[IPv6]:port`)",
            ),
            ("h.example:0", "port must be a number from 1 to 65535"),
            (
                "2001:db8::1:51820",
                "put IPv6 addresses in brackets, e.g. `[2001:db8::1]:51820`",
            ),
            (
                "bad_host!:1",
                "host is not an IP address or a valid host name",
            ),
        ] {
            cases.push((
                peer(&format!("Endpoint = {value}")),
                5,
                format!("bad Endpoint `{value}`: {reason}"),
            ));
        }
        for (key, lines, first) in [
            ("PrivateKey", format!("PrivateKey = {OWN_PRIVATE}\n"), 2),
            ("ListenPort", "ListenPort = 1\nListenPort = 1\n".into(), 3),
            ("MTU", "MTU = 1400\nMTU = 1400\n".into(), 3),
            ("PublicKey", peer(&format!("PublicKey = {PEER_B}")), 4),
            (
                "PresharedKey",
                peer(&format!("PresharedKey = {PSK}\nPresharedKey = {PSK}")),
                5,
            ),
            (
                "Endpoint",
                peer("Endpoint = h.example:1\nEndpoint = h.example:2"),
                5,
            ),
            (
                "PersistentKeepalive",
                peer("PersistentKeepalive = 1\npersistentkeepalive = off"),
                5,
            ),
        ] {
            cases.push((
                lines,
                first + 1,
                format!("{key} is given twice in one section (first on line {first})"),
            ));
        }
        cases
    }

    #[test]
    fn bad_input_is_reported_with_line_and_reason() {
        let structure = [
            (
                "[Interface]\nPrivateKey = not*base64\n".to_owned(),
                2,
                "bad PrivateKey: not valid base64",
            ),
            (
                "[Interface]\nPrivateKey = AAAA\n".into(),
                2,
                "bad PrivateKey: decodes to 3 bytes, a key has 32",
            ),
            (
                "# x\n[Interface]\nMTU = 1400\n".into(),
                2,
                "`[Interface]` has no PrivateKey",
            ),
            (
                format!("[Interface]\nMTU = 1400\n[Peer]\nPublicKey = {PEER_A}\n"),
                1,
                "`[Interface]` has no PrivateKey",
            ),
            ("".into(), 0, "no `[Interface]` section"),
            (
                format!("[Peer]\nPublicKey = {PEER_A}\n"),
                0,
                "no `[Interface]` section",
            ),
            (
                "# comment\nMTU = 1400\n[Interface]\n".into(),
                2,
                "`MTU` is outside any section; put it under `[Interface]` or `[Peer]`",
            ),
            (
                "ji3zlMNqhd2rYUIgJBgB3fBmk=\n[Interface]\n".into(),
                1,
                "the text before `=` is not a key name",
            ),
            (
                "[Interface]\nPrivateKey =\n".into(),
                2,
                "PrivateKey has no value",
            ),
        ];
        let after_interface = after_interface_cases()
            .into_iter()
            .map(|(rest, line, message)| {
                let text = format!("[Interface]\nPrivateKey = {OWN_PRIVATE}\n{rest}");
                (text, line, message)
            });
        let structure = structure
            .into_iter()
            .map(|(text, line, message)| (text, line, message.to_owned()));
        for (text, line, message) in after_interface.chain(structure) {
            let error = parse(&text).expect_err(&text);
            assert_eq!(
                (error.line, error.kind.to_string()),
                (line, message.clone()),
                "{text}"
            );
            assert_eq!(error.to_string(), format!("line {line}: {message}"));
        }
    }

    #[test]
    fn errors_never_contain_private_or_preshared_keys() {
        let secrets = [OWN_PRIVATE, PSK];
        let mut texts = Vec::new();
        for secret in secrets {
            let unpadded = secret.trim_end_matches('=');
            for line in [
                format!("PrivateKey = {secret}x"),
                format!("PrivateKey = {unpadded}"),
                format!("PrivateKey = {secret}{secret}"),
                format!("PrivateKey {secret}"),
                secret.to_string(),
                unpadded.to_string(),
                format!("Address = {secret}"),
                format!("DNS = {secret}"),
                format!("DNS = {unpadded}"),
                format!("MTU = {secret}"),
                format!("ListenPort = {secret}"),
                format!("Table = {secret}"),
                format!("[{secret}]"),
                format!("[{unpadded}]"),
            ] {
                texts.push(format!("[Interface]\n{line}\n"));
            }
            for line in [
                format!("PresharedKey = {secret} x"),
                format!("Endpoint = {secret}"),
                format!("Endpoint = {secret}:51820"),
                format!("Endpoint = [{secret}]:51820"),
                format!("Endpoint = {unpadded}:51820"),
                format!("AllowedIPs = 10.0.0.0/8, {secret}"),
                format!("PersistentKeepalive = {secret}"),
                format!("{unpadded} = 1"),
                secret[20..].to_string(),
                format!("{}=", secret[20..].replace(['+', '/', '='], "")),
            ] {
                texts.push(format!("[Interface]\nPrivateKey = {OWN_PRIVATE}\n[Peer]\nPublicKey = {PEER_A}\n{line}\n"));
            }
        }
        for secret in secrets {
            texts.push(format!(
                "{}=\n[Interface]\n",
                secret[20..].replace(['+', '/', '='], "")
            ));
        }
        for text in texts {
            let error = parse(&text).expect_err(&text);
            for shown in [
                error.to_string(),
                format!("{error:?}"),
                format!("{error:#}"),
            ] {
                for secret in secrets {
                    for window in secret.as_bytes().windows(12) {
                        let window = std::str::from_utf8(window).unwrap();
                        assert!(!shown.contains(window), "{shown}");
                    }
                }
            }
        }
    }
}

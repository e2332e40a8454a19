//! Sections and keys: turns lexed lines into a [`TunnelConfig`], then runs
//! the shared [`rules`] and maps any failure back to its line.

use std::net::IpAddr;

use ipnet::IpNet;

use super::lexer::{Line, lex, numbered_lines};
use super::rules::{self, Site, check_mtu};
use super::value::{DnsEntry, list, parse_dns, parse_endpoint, parse_prefix, parse_u16, shown};
use super::{ConfigError, ConfigErrorKind};
use crate::config::{Endpoint, PeerConfig, PresharedKey, PrivateKey, PublicKey, TunnelConfig};

/// Keys of `[Interface]`.
#[derive(Debug, Clone, Copy)]
enum InterfaceKey {
    PrivateKey,
    ListenPort,
    Address,
    Dns,
    Mtu,
    /// Known to wg-quick, no effect in Ferrotun: accepted and dropped.
    Ignored,
}

/// Canonical spellings (used in errors and logs) of the `[Interface]` keys.
const INTERFACE_KEYS: [(&str, InterfaceKey); 12] = [
    ("PrivateKey", InterfaceKey::PrivateKey),
    ("ListenPort", InterfaceKey::ListenPort),
    ("Address", InterfaceKey::Address),
    ("DNS", InterfaceKey::Dns),
    ("MTU", InterfaceKey::Mtu),
    ("Table", InterfaceKey::Ignored),
    ("FwMark", InterfaceKey::Ignored),
    ("SaveConfig", InterfaceKey::Ignored),
    ("PreUp", InterfaceKey::Ignored),
    ("PostUp", InterfaceKey::Ignored),
    ("PreDown", InterfaceKey::Ignored),
    ("PostDown", InterfaceKey::Ignored),
];

/// Keys of `[Peer]`.
#[derive(Debug, Clone, Copy)]
enum PeerKey {
    PublicKey,
    PresharedKey,
    Endpoint,
    AllowedIps,
    PersistentKeepalive,
}

/// Canonical spellings of the `[Peer]` keys.
const PEER_KEYS: [(&str, PeerKey); 5] = [
    ("PublicKey", PeerKey::PublicKey),
    ("PresharedKey", PeerKey::PresharedKey),
    ("Endpoint", PeerKey::Endpoint),
    ("AllowedIPs", PeerKey::AllowedIps),
    ("PersistentKeepalive", PeerKey::PersistentKeepalive),
];

/// Looks a key up case-insensitively, as `wg` does.
fn lookup<K: Copy>(table: &[(&'static str, K)], key: &str) -> Option<(&'static str, K)> {
    table
        .iter()
        .copied()
        .find(|(name, _)| name.eq_ignore_ascii_case(key))
}

/// Single-value keys already set in the current section, with their lines.
#[derive(Debug, Default)]
struct SeenOnce(Vec<(&'static str, usize)>);

impl SeenOnce {
    /// Claims `key` for `line` and returns its non-empty value.
    fn take<'v>(
        &mut self,
        key: &'static str,
        line: usize,
        value: &'v str,
    ) -> Result<&'v str, ConfigErrorKind> {
        if let Some(&(_, first_line)) = self.0.iter().find(|(seen, _)| *seen == key) {
            return Err(ConfigErrorKind::DuplicateKey { key, first_line });
        }
        self.0.push((key, line));
        if value.is_empty() {
            Err(ConfigErrorKind::EmptyValue { key })
        } else {
            Ok(value)
        }
    }
}

/// The error for a key not in this section's table. An unknown name with
/// nothing after `=` is more often the tail of a key split across lines (the
/// `=` being its padding) than a typo, so it is not echoed.
fn unknown_key(key: &str, value: &str, section: &'static str) -> ConfigErrorKind {
    if value.is_empty() {
        ConfigErrorKind::BadKeyName
    } else {
        ConfigErrorKind::UnknownKey {
            key: shown(key),
            section,
        }
    }
}

/// Parses a key without ever putting its text into the error.
fn parse_key<K>(
    key: &'static str,
    value: &str,
    from_base64: fn(&str) -> Result<K, crate::config::KeyError>,
) -> Result<K, ConfigErrorKind> {
    from_base64(value).map_err(|reason| ConfigErrorKind::BadKey { key, reason })
}

/// `[Interface]` while its lines are being read.
#[derive(Debug, Default)]
struct InterfaceDraft {
    header_line: usize,
    seen: SeenOnce,
    private_key: Option<PrivateKey>,
    listen_port: Option<u16>,
    mtu: Option<u16>,
    mtu_line: usize,
    addresses: Vec<IpNet>,
    dns: Vec<IpAddr>,
    dns_search: Vec<String>,
    dns_search_lines: Vec<usize>,
}

impl InterfaceDraft {
    fn entry(&mut self, key: &str, value: &str, line: usize) -> Result<(), ConfigErrorKind> {
        let Some((name, field)) = lookup(&INTERFACE_KEYS, key) else {
            return Err(unknown_key(key, value, "Interface"));
        };
        match field {
            InterfaceKey::PrivateKey => {
                let value = self.seen.take(name, line, value)?;
                self.private_key = Some(parse_key(name, value, PrivateKey::from_base64)?);
            }
            InterfaceKey::ListenPort => {
                let value = self.seen.take(name, line, value)?;
                let port = parse_u16(value).ok_or_else(|| ConfigErrorKind::BadListenPort {
                    value: shown(value),
                })?;
                // 0 asks the OS to choose, which is what `None` means.
                self.listen_port = Some(port).filter(|&p| p != 0);
            }
            InterfaceKey::Mtu => {
                let value = self.seen.take(name, line, value)?;
                let mtu = parse_u16(value).ok_or_else(|| ConfigErrorKind::BadMtu {
                    value: shown(value),
                })?;
                check_mtu(mtu)?;
                self.mtu = Some(mtu);
                self.mtu_line = line;
            }
            InterfaceKey::Address => {
                for item in list(value) {
                    self.addresses.push(parse_prefix(name, item)?);
                }
            }
            InterfaceKey::Dns => {
                for item in list(value) {
                    match parse_dns(item)? {
                        DnsEntry::Server(ip) => self.dns.push(ip),
                        DnsEntry::Search(domain) => {
                            self.dns_search.push(domain);
                            self.dns_search_lines.push(line);
                        }
                    }
                }
            }
            InterfaceKey::Ignored => {
                // The value may hold secrets (PostUp scripts often do): log the name only.
                tracing::warn!(
                    key = name,
                    line,
                    "ignoring wg-quick key that Ferrotun does not act on"
                );
            }
        }
        Ok(())
    }
}

/// `[Peer]` while its lines are being read.
#[derive(Debug, Default)]
struct PeerDraft {
    header_line: usize,
    seen: SeenOnce,
    public_key: Option<PublicKey>,
    public_key_line: usize,
    preshared_key: Option<PresharedKey>,
    endpoint: Option<Endpoint>,
    endpoint_line: usize,
    allowed_ips: Vec<IpNet>,
    persistent_keepalive: Option<u16>,
}

impl PeerDraft {
    fn entry(&mut self, key: &str, value: &str, line: usize) -> Result<(), ConfigErrorKind> {
        let Some((name, field)) = lookup(&PEER_KEYS, key) else {
            return Err(unknown_key(key, value, "Peer"));
        };
        match field {
            PeerKey::PublicKey => {
                let value = self.seen.take(name, line, value)?;
                self.public_key = Some(parse_key(name, value, PublicKey::from_base64)?);
                self.public_key_line = line;
            }
            PeerKey::PresharedKey => {
                let value = self.seen.take(name, line, value)?;
                self.preshared_key = Some(parse_key(name, value, PresharedKey::from_base64)?);
            }
            PeerKey::Endpoint => {
                let value = self.seen.take(name, line, value)?;
                self.endpoint = Some(parse_endpoint(value)?);
                self.endpoint_line = line;
            }
            PeerKey::AllowedIps => {
                for item in list(value) {
                    self.allowed_ips.push(parse_prefix(name, item)?);
                }
            }
            PeerKey::PersistentKeepalive => {
                let value = self.seen.take(name, line, value)?;
                let seconds = if value.eq_ignore_ascii_case("off") {
                    0
                } else {
                    parse_u16(value).ok_or_else(|| ConfigErrorKind::BadKeepalive {
                        value: shown(value),
                    })?
                };
                self.persistent_keepalive = Some(seconds).filter(|&s| s != 0);
            }
        }
        Ok(())
    }
}

/// Lines of an `[Interface]` that passed its section checks.
#[derive(Debug)]
struct InterfaceLines {
    header: usize,
    mtu: usize,
    dns_search: Vec<usize>,
}

/// Lines of a `[Peer]` that passed its section checks.
#[derive(Debug)]
struct PeerLines {
    public_key: usize,
    endpoint: usize,
}

/// The section whose lines are being read.
#[derive(Debug, Default)]
enum Open {
    /// Before the first header.
    #[default]
    Nothing,
    Interface(InterfaceDraft),
    Peer(PeerDraft),
}

/// Parser state: the open section plus the sections already closed.
#[derive(Debug, Default)]
struct Parser {
    open: Open,
    /// The closed `[Interface]`, with `peers` still empty.
    interface: Option<(TunnelConfig, InterfaceLines)>,
    /// Line of the first `[Interface]` header, open or closed.
    interface_header: Option<usize>,
    peers: Vec<(PeerConfig, PeerLines)>,
}

impl Parser {
    fn section(&mut self, name: &str, line: usize) -> Result<(), ConfigError> {
        self.close()?;
        self.open = if name.eq_ignore_ascii_case("Interface") {
            if let Some(first_line) = self.interface_header {
                return Err(ConfigErrorKind::DuplicateInterface { first_line }.at(line));
            }
            self.interface_header = Some(line);
            Open::Interface(InterfaceDraft {
                header_line: line,
                ..InterfaceDraft::default()
            })
        } else if name.eq_ignore_ascii_case("Peer") {
            Open::Peer(PeerDraft {
                header_line: line,
                ..PeerDraft::default()
            })
        } else {
            return Err(ConfigErrorKind::UnknownSection { name: shown(name) }.at(line));
        };
        Ok(())
    }

    fn entry(&mut self, key: &str, value: &str, line: usize) -> Result<(), ConfigErrorKind> {
        match &mut self.open {
            Open::Nothing if value.is_empty() => Err(ConfigErrorKind::BadKeyName),
            Open::Nothing => Err(ConfigErrorKind::KeyOutsideSection { key: shown(key) }),
            Open::Interface(draft) => draft.entry(key, value, line),
            Open::Peer(draft) => draft.entry(key, value, line),
        }
    }

    /// Ends the open section, checking that its required key is there.
    fn close(&mut self) -> Result<(), ConfigError> {
        match std::mem::take(&mut self.open) {
            Open::Nothing => {}
            Open::Interface(draft) => {
                let Some(private_key) = draft.private_key else {
                    return Err(ConfigErrorKind::MissingPrivateKey.at(draft.header_line));
                };
                let config = TunnelConfig {
                    private_key,
                    listen_port: draft.listen_port,
                    mtu: draft.mtu,
                    addresses: draft.addresses,
                    dns: draft.dns,
                    dns_search: draft.dns_search,
                    peers: Vec::new(),
                };
                let lines = InterfaceLines {
                    header: draft.header_line,
                    mtu: draft.mtu_line,
                    dns_search: draft.dns_search_lines,
                };
                self.interface = Some((config, lines));
            }
            Open::Peer(draft) => {
                let Some(public_key) = draft.public_key else {
                    return Err(ConfigErrorKind::MissingPublicKey.at(draft.header_line));
                };
                let peer = PeerConfig {
                    public_key,
                    preshared_key: draft.preshared_key,
                    endpoint: draft.endpoint,
                    allowed_ips: draft.allowed_ips,
                    persistent_keepalive: draft.persistent_keepalive,
                    resolved_endpoint: None,
                };
                self.peers.push((
                    peer,
                    PeerLines {
                        public_key: draft.public_key_line,
                        endpoint: draft.endpoint_line,
                    },
                ));
            }
        }
        Ok(())
    }

    /// Assembles the config and applies the whole-config rules.
    fn finish(mut self) -> Result<TunnelConfig, ConfigError> {
        self.close()?;
        let Some((mut config, interface_lines)) = self.interface else {
            return Err(ConfigErrorKind::MissingInterface.at(0));
        };
        let (peers, peer_lines): (Vec<_>, Vec<_>) = self.peers.into_iter().unzip();
        config.peers = peers;
        rules::check(&config).map_err(|(kind, site)| {
            let line = match site {
                Site::Mtu => interface_lines.mtu,
                Site::DnsSearch(index) => {
                    interface_lines.dns_search.get(index).copied().unwrap_or(0)
                }
                Site::PeerPublicKey(index) => {
                    peer_lines.get(index).map_or(0, |lines| lines.public_key)
                }
                Site::PeerEndpoint(index) => {
                    peer_lines.get(index).map_or(0, |lines| lines.endpoint)
                }
            };
            // Per-value rules already ran during parsing; this is a backstop
            // that still points somewhere useful.
            kind.at(if line == 0 {
                interface_lines.header
            } else {
                line
            })
        })?;
        Ok(config)
    }
}

/// Parses wg-quick text; see [`TunnelConfig::parse_wg_quick`].
pub(super) fn parse(text: &str) -> Result<TunnelConfig, ConfigError> {
    let mut parser = Parser::default();
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
    use crate::config::KeyError;

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

    /// Parses `[Interface]` + `PrivateKey` (lines 1-2) followed by `rest`.
    fn with_interface(rest: &str) -> Result<TunnelConfig, ConfigError> {
        parse(&format!("[Interface]\nPrivateKey = {OWN_PRIVATE}\n{rest}"))
    }

    /// The error for `text`, as (line, kind).
    fn err(text: &str) -> (usize, ConfigErrorKind) {
        let error = parse(text).expect_err("text should be rejected");
        (error.line, error.kind)
    }

    /// The error for `with_interface(rest)`, as (line, kind).
    fn err_after_interface(rest: &str) -> (usize, ConfigErrorKind) {
        let error = with_interface(rest).expect_err("text should be rejected");
        (error.line, error.kind)
    }

    #[test]
    fn parses_a_full_realistic_config() {
        let config = parse(REALISTIC).unwrap();
        let expected = TunnelConfig {
            private_key: PrivateKey::from_base64(OWN_PRIVATE).unwrap(),
            listen_port: Some(51820),
            mtu: Some(1380),
            addresses: nets(&["10.8.0.2/24", "fd00:8::2/64", "192.168.77.5/32"]),
            dns: ips(&["10.8.0.1", "fd00:8::1"]),
            dns_search: vec!["corp.example".into(), "lab.corp.example".into()],
            peers: vec![
                PeerConfig {
                    public_key: PublicKey::from_base64(PEER_A).unwrap(),
                    preshared_key: Some(PresharedKey::from_base64(PSK).unwrap()),
                    endpoint: Some(Endpoint::Host {
                        host: "vpn.corp.example".into(),
                        port: 51820,
                    }),
                    allowed_ips: nets(&["10.8.0.0/24", "fd00:8::/64", "172.16.0.0/12"]),
                    persistent_keepalive: Some(25),
                    resolved_endpoint: None,
                },
                PeerConfig {
                    public_key: PublicKey::from_base64(PEER_B).unwrap(),
                    preshared_key: None,
                    endpoint: Some(Endpoint::Addr("[2001:db8::10]:443".parse().unwrap())),
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

    #[test]
    fn keys_and_section_names_are_case_insensitive() {
        let text = format!(
            "[INTERFACE]\nprivatekey = {OWN_PRIVATE}\nlistenPORT = 1\naddress = 10.0.0.1/32\ndns = 1.1.1.1\nmtu = 1280\n\
             [peer]\npublickey = {PEER_A}\npresharedKEY = {PSK}\nENDPOINT = h.example:2\nallowedips = ::/0\npersistentkeepalive = 5\n"
        );
        let config = parse(&text).unwrap();
        assert_eq!(config.listen_port, Some(1));
        assert_eq!(config.mtu, Some(1280));
        assert_eq!(config.peers[0].persistent_keepalive, Some(5));
        assert!(config.peers[0].preshared_key.is_some());
    }

    #[test]
    fn whitespace_comments_crlf_and_bom_are_tolerated() {
        let text = format!(
            "\u{feff}# header comment\r\n\r\n  [Interface]  # trailing\r\n\tPrivateKey\t=\t{OWN_PRIVATE}   # key\r\n   \r\nMTU=1400\r\n"
        );
        let config = parse(&text).unwrap();
        assert_eq!(config.mtu, Some(1400));
        assert_eq!(
            config.private_key,
            PrivateKey::from_base64(OWN_PRIVATE).unwrap()
        );
    }

    #[test]
    fn list_keys_accumulate_across_repeats_and_skip_empty_entries() {
        let config = with_interface(&format!(
            "Address = 10.0.0.1/32 ,\nAddress =\nAddress = fd00::1/128,, 10.0.0.2/32\n[Peer]\nPublicKey = {PEER_A}\nAllowedIPs = 10.0.0.0/8\nAllowedIPs = \nAllowedIPs = ::/0\n"
        ))
        .unwrap();
        assert_eq!(
            config.addresses,
            nets(&["10.0.0.1/32", "fd00::1/128", "10.0.0.2/32"])
        );
        assert_eq!(config.peers[0].allowed_ips, nets(&["10.0.0.0/8", "::/0"]));
    }

    #[test]
    fn bare_ips_become_host_prefixes() {
        let config = with_interface(&format!(
            "Address = 10.0.0.1, fd00::1\n[Peer]\nPublicKey = {PEER_A}\nAllowedIPs = 192.0.2.7\n"
        ))
        .unwrap();
        assert_eq!(config.addresses, nets(&["10.0.0.1/32", "fd00::1/128"]));
        assert_eq!(config.peers[0].allowed_ips, nets(&["192.0.2.7/32"]));
    }

    #[test]
    fn dns_addresses_are_servers_and_names_are_search_domains() {
        let config =
            with_interface("DNS = 1.1.1.1, example.com, 2606:4700:4700::1111, internal.\n")
                .unwrap();
        assert_eq!(config.dns, ips(&["1.1.1.1", "2606:4700:4700::1111"]));
        assert_eq!(config.dns_search, ["example.com", "internal."]);
    }

    #[test]
    fn listen_port_zero_means_os_chooses() {
        assert_eq!(
            with_interface("ListenPort = 0\n").unwrap().listen_port,
            None
        );
        assert_eq!(
            with_interface("ListenPort = 65535\n").unwrap().listen_port,
            Some(65535)
        );
    }

    #[test]
    fn keepalive_zero_and_off_mean_none() {
        for value in ["0", "off", "OFF"] {
            let config = with_interface(&format!(
                "[Peer]\nPublicKey = {PEER_A}\nPersistentKeepalive = {value}\n"
            ))
            .unwrap();
            assert_eq!(config.peers[0].persistent_keepalive, None, "{value}");
        }
    }

    #[test]
    fn wg_quick_only_keys_are_accepted_and_dropped() {
        let config = with_interface(
            "Table = off\nFwMark = 0x1234\nSaveConfig = true\nPreUp = a\nPostUp = b\nPostUp = c\nPreDown = d\nPostDown = e\n",
        )
        .unwrap();
        assert_eq!(config, with_interface("").unwrap());
    }

    #[test]
    fn ignored_key_warning_names_the_key_but_not_the_value() {
        use std::io::Write;
        use std::sync::{Arc, Mutex};

        #[derive(Clone, Default)]
        struct Capture(Arc<Mutex<Vec<u8>>>);
        impl Write for Capture {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            with_interface(&format!(
                "postup = wg set %i private-key <(echo {OWN_PRIVATE})\n"
            ))
            .unwrap();
        });
        let log = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        assert!(log.contains("WARN") && log.contains("PostUp"), "{log}");
        assert!(!log.contains(OWN_PRIVATE) && !log.contains("echo"), "{log}");
    }

    #[test]
    fn interface_may_come_after_peers() {
        let config = parse(&format!(
            "[Peer]\nPublicKey = {PEER_A}\n[Interface]\nPrivateKey = {OWN_PRIVATE}\n"
        ))
        .unwrap();
        assert_eq!(config.peers.len(), 1);
    }

    // --- Bad input: every case names its line and cause. ---

    #[test]
    fn bad_private_key_base64_is_reported_without_the_value() {
        let (line, kind) = err("[Interface]\nPrivateKey = not*base64\n");
        assert_eq!(
            (line, &kind),
            (
                2,
                &ConfigErrorKind::BadKey {
                    key: "PrivateKey",
                    reason: KeyError::Base64
                }
            )
        );
        assert_eq!(kind.to_string(), "bad PrivateKey: not valid base64");
    }

    #[test]
    fn wrong_key_length_names_the_key() {
        assert_eq!(
            err("[Interface]\nPrivateKey = AAAA\n"),
            (
                2,
                ConfigErrorKind::BadKey {
                    key: "PrivateKey",
                    reason: KeyError::Length(3)
                }
            )
        );
        assert_eq!(
            err_after_interface("[Peer]\nPublicKey = AAAAAAAA\n"),
            (
                4,
                ConfigErrorKind::BadKey {
                    key: "PublicKey",
                    reason: KeyError::Length(6)
                }
            )
        );
        assert_eq!(
            err_after_interface(&format!(
                "[Peer]\nPublicKey = {PEER_A}\nPresharedKey = AAAA\n"
            )),
            (
                5,
                ConfigErrorKind::BadKey {
                    key: "PresharedKey",
                    reason: KeyError::Length(3)
                }
            )
        );
    }

    #[test]
    fn bad_cidr_quotes_the_entry() {
        assert_eq!(
            err_after_interface("Address = 10.0.0.1/32, 10.0.0.300/24\n"),
            (
                3,
                ConfigErrorKind::BadCidr {
                    key: "Address",
                    value: "10.0.0.300/24".into()
                }
            )
        );
        assert_eq!(
            err_after_interface(&format!(
                "[Peer]\nPublicKey = {PEER_A}\nAllowedIPs = ::/0\nAllowedIPs = 10.0.0.0/33\n"
            )),
            (
                6,
                ConfigErrorKind::BadCidr {
                    key: "AllowedIPs",
                    value: "10.0.0.0/33".into()
                }
            )
        );
    }

    #[test]
    fn missing_public_key_is_reported_on_the_peer_header() {
        assert_eq!(
            err_after_interface(&format!(
                "[Peer]\nPublicKey = {PEER_A}\n\n[Peer]\nAllowedIPs = ::/0\n[Peer]\nPublicKey = {PEER_B}\n"
            )),
            (6, ConfigErrorKind::MissingPublicKey)
        );
    }

    #[test]
    fn missing_private_key_is_reported_on_the_interface_header() {
        assert_eq!(
            err("# x\n[Interface]\nMTU = 1400\n"),
            (2, ConfigErrorKind::MissingPrivateKey)
        );
        assert_eq!(
            err(&format!(
                "[Interface]\nMTU = 1400\n[Peer]\nPublicKey = {PEER_A}\n"
            )),
            (1, ConfigErrorKind::MissingPrivateKey)
        );
    }

    #[test]
    fn missing_interface_is_reported_on_line_zero() {
        assert_eq!(err(""), (0, ConfigErrorKind::MissingInterface));
        assert_eq!(
            err(&format!("[Peer]\nPublicKey = {PEER_A}\n")),
            (0, ConfigErrorKind::MissingInterface)
        );
    }

    #[test]
    fn duplicate_peer_is_reported_on_the_second_public_key() {
        assert_eq!(
            err_after_interface(&format!(
                "[Peer]\nPublicKey = {PEER_A}\n[Peer]\nPublicKey = {PEER_B}\n[Peer]\nAllowedIPs = ::/0\nPublicKey = {PEER_A}\n"
            )),
            (9, ConfigErrorKind::DuplicatePeer { peer: 3, first: 1 })
        );
    }

    #[test]
    fn peer_with_own_public_key_is_rejected() {
        assert_eq!(
            err_after_interface(&format!("[Peer]\nPublicKey = {OWN_PUBLIC}\n")),
            (4, ConfigErrorKind::PeerIsSelf { peer: 1 })
        );
    }

    #[test]
    fn unknown_key_is_named_with_its_section() {
        assert_eq!(
            err_after_interface("Adress = 10.0.0.1\n"),
            (
                3,
                ConfigErrorKind::UnknownKey {
                    key: "Adress".into(),
                    section: "Interface"
                }
            )
        );
        assert_eq!(
            err_after_interface(&format!("[Peer]\nPublicKey = {PEER_A}\nListenPort = 1\n")),
            (
                5,
                ConfigErrorKind::UnknownKey {
                    key: "ListenPort".into(),
                    section: "Peer"
                }
            )
        );
        assert_eq!(
            err_after_interface("[Peer]\nPostUp = x\n"),
            (
                4,
                ConfigErrorKind::UnknownKey {
                    key: "PostUp".into(),
                    section: "Peer"
                }
            )
        );
    }

    #[test]
    fn unknown_section_is_named() {
        assert_eq!(
            err_after_interface("[Peers]\n"),
            (
                3,
                ConfigErrorKind::UnknownSection {
                    name: "Peers".into()
                }
            )
        );
    }

    #[test]
    fn malformed_section_header_is_rejected() {
        assert_eq!(
            err_after_interface("\n[Peer\n"),
            (4, ConfigErrorKind::BadSectionHeader)
        );
    }

    #[test]
    fn key_outside_any_section_is_rejected() {
        assert_eq!(
            err("# comment\nMTU = 1400\n[Interface]\n"),
            (2, ConfigErrorKind::KeyOutsideSection { key: "MTU".into() })
        );
    }

    #[test]
    fn line_without_equals_is_rejected() {
        assert_eq!(
            err_after_interface("MTU 1400\n"),
            (3, ConfigErrorKind::MissingEquals)
        );
    }

    #[test]
    fn text_before_equals_that_is_not_a_name_is_rejected() {
        assert_eq!(
            err_after_interface("= 1400\n"),
            (3, ConfigErrorKind::BadKeyName)
        );
    }

    #[test]
    fn unknown_name_with_empty_value_is_not_echoed() {
        // Looks like the tail of a key split across lines, `=` being its padding.
        assert_eq!(
            err_after_interface("ji3zlMNqhd2rYUIgJBgB3fBmk=\n"),
            (3, ConfigErrorKind::BadKeyName)
        );
        assert_eq!(
            err("ji3zlMNqhd2rYUIgJBgB3fBmk=\n[Interface]\n"),
            (1, ConfigErrorKind::BadKeyName)
        );
    }

    #[test]
    fn listen_port_out_of_range_or_not_a_number_is_rejected() {
        for value in ["65536", "port", "-1", "1.5"] {
            assert_eq!(
                err_after_interface(&format!("ListenPort = {value}\n")),
                (
                    3,
                    ConfigErrorKind::BadListenPort {
                        value: value.into()
                    }
                ),
                "{value}"
            );
        }
    }

    #[test]
    fn mtu_out_of_range_or_not_a_number_is_rejected() {
        for value in ["575", "9001", "0", "70000", "big"] {
            assert_eq!(
                err_after_interface(&format!("MTU = {value}\n")),
                (
                    3,
                    ConfigErrorKind::BadMtu {
                        value: value.into()
                    }
                ),
                "{value}"
            );
        }
    }

    #[test]
    fn bad_keepalive_is_rejected() {
        for value in ["65536", "sometimes", "-1", "on"] {
            assert_eq!(
                err_after_interface(&format!(
                    "[Peer]\nPublicKey = {PEER_A}\nPersistentKeepalive = {value}\n"
                )),
                (
                    5,
                    ConfigErrorKind::BadKeepalive {
                        value: value.into()
                    }
                ),
                "{value}"
            );
        }
    }

    #[test]
    fn bad_endpoints_are_rejected_with_the_reason() {
        let cases = [
            (
                "192.0.2.1",
                ConfigErrorKind::EndpointMissingPort {
                    value: "192.0.2.1".into(),
                },
            ),
            (
                "h.example:0",
                ConfigErrorKind::EndpointBadPort {
                    value: "h.example:0".into(),
                },
            ),
            (
                "2001:db8::1:51820",
                ConfigErrorKind::EndpointUnbracketedIpv6 {
                    value: "2001:db8::1:51820".into(),
                },
            ),
            (
                "bad_host!:1",
                ConfigErrorKind::EndpointBadHost {
                    value: "bad_host!:1".into(),
                },
            ),
        ];
        for (value, kind) in cases {
            assert_eq!(
                err_after_interface(&format!(
                    "[Peer]\nPublicKey = {PEER_A}\nEndpoint = {value}\n"
                )),
                (5, kind)
            );
        }
    }

    #[test]
    fn bad_dns_entry_is_rejected() {
        assert_eq!(
            err_after_interface("DNS = 1.1.1.1, 10.0.0\n"),
            (
                3,
                ConfigErrorKind::BadDns {
                    value: "10.0.0".into()
                }
            )
        );
    }

    #[test]
    fn second_interface_is_rejected() {
        assert_eq!(
            err_after_interface(
                "[Peer]\nPublicKey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n[Interface]\n"
            ),
            (6, ConfigErrorKind::DuplicateInterface { first_line: 1 })
        );
    }

    #[test]
    fn repeated_single_value_keys_are_rejected() {
        let interface_cases = [
            format!("PrivateKey = {OWN_PRIVATE}\n"),
            "ListenPort = 1\nListenPort = 1\n".into(),
            "MTU = 1400\nMTU = 1400\n".into(),
        ];
        let first_lines = [2, 3, 3];
        for ((rest, first_line), key) in
            interface_cases
                .iter()
                .zip(first_lines)
                .zip(["PrivateKey", "ListenPort", "MTU"])
        {
            let (line, kind) = err_after_interface(rest);
            assert_eq!(
                (line, kind),
                (
                    first_line + 1,
                    ConfigErrorKind::DuplicateKey { key, first_line }
                ),
                "{key}"
            );
        }
        let peer_cases = [
            ("PublicKey", format!("PublicKey = {PEER_B}")),
            (
                "PresharedKey",
                format!("PresharedKey = {PSK}\nPresharedKey = {PSK}"),
            ),
            (
                "Endpoint",
                "Endpoint = h.example:1\nEndpoint = h.example:2".into(),
            ),
            (
                "PersistentKeepalive",
                "PersistentKeepalive = 1\npersistentkeepalive = off".into(),
            ),
        ];
        for (key, lines) in peer_cases {
            let (line, kind) =
                err_after_interface(&format!("[Peer]\nPublicKey = {PEER_A}\n{lines}\n"));
            let first_line = if key == "PublicKey" { 4 } else { 5 };
            assert_eq!(
                (line, kind),
                (
                    first_line + 1,
                    ConfigErrorKind::DuplicateKey { key, first_line }
                ),
                "{key}"
            );
        }
    }

    #[test]
    fn empty_single_value_is_rejected() {
        assert_eq!(
            err("[Interface]\nPrivateKey =\n"),
            (2, ConfigErrorKind::EmptyValue { key: "PrivateKey" })
        );
        assert_eq!(
            err_after_interface(&format!(
                "[Peer]\nPublicKey = {PEER_A}\nEndpoint = # none\n"
            )),
            (5, ConfigErrorKind::EmptyValue { key: "Endpoint" })
        );
    }

    #[test]
    fn error_display_starts_with_the_line() {
        let error = with_interface("MTU = 100\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "line 3: bad MTU `100`: expected a number from 576 to 9000"
        );
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

//! Sections and keys: turns lexed lines into a [`TunnelConfig`], then runs
//! the shared [`rules`](super::rules) and maps any failure back to its line.

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
            return Err(ConfigErrorKind::UnknownKey {
                key: key.to_owned(),
                section: "Interface",
            });
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
            return Err(ConfigErrorKind::UnknownKey {
                key: key.to_owned(),
                section: "Peer",
            });
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
            return Err(ConfigErrorKind::UnknownSection {
                name: name.to_owned(),
            }
            .at(line));
        };
        Ok(())
    }

    fn entry(&mut self, key: &str, value: &str, line: usize) -> Result<(), ConfigErrorKind> {
        match &mut self.open {
            Open::Nothing => Err(ConfigErrorKind::KeyOutsideSection {
                key: key.to_owned(),
            }),
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

//! Canonical wg-quick text: the layout `wg showconf` and the WireGuard apps
//! use, so the output reads familiar and diffs cleanly.

use std::fmt::{self, Display, Write as _};

use crate::config::{PeerConfig, TunnelConfig};

/// Prints a config; see [`TunnelConfig::to_wg_quick`].
pub(super) fn print(config: &TunnelConfig) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = write_config(&mut out, config);
    out
}

fn write_config(out: &mut String, config: &TunnelConfig) -> fmt::Result {
    writeln!(out, "[Interface]")?;
    writeln!(out, "PrivateKey = {}", config.private_key.to_base64())?;
    if let Some(port) = config.listen_port {
        writeln!(out, "ListenPort = {port}")?;
    }
    write_list(out, "Address", &config.addresses)?;
    let dns: Vec<&dyn Display> = config
        .dns
        .iter()
        .map(|ip| ip as &dyn Display)
        .chain(config.dns_search.iter().map(|d| d as &dyn Display))
        .collect();
    write_list(out, "DNS", &dns)?;
    if let Some(mtu) = config.mtu {
        writeln!(out, "MTU = {mtu}")?;
    }
    for peer in &config.peers {
        writeln!(out)?;
        write_peer(out, peer)?;
    }
    Ok(())
}

fn write_peer(out: &mut String, peer: &PeerConfig) -> fmt::Result {
    writeln!(out, "[Peer]")?;
    writeln!(out, "PublicKey = {}", peer.public_key.to_base64())?;
    if let Some(psk) = &peer.preshared_key {
        writeln!(out, "PresharedKey = {}", psk.to_base64())?;
    }
    write_list(out, "AllowedIPs", &peer.allowed_ips)?;
    if let Some(endpoint) = &peer.endpoint {
        writeln!(out, "Endpoint = {endpoint}")?;
    }
    if let Some(seconds) = peer.persistent_keepalive {
        writeln!(out, "PersistentKeepalive = {seconds}")?;
    }
    Ok(())
}

/// `Key = a, b, c`, or nothing for an empty list.
fn write_list<T: Display>(out: &mut String, key: &str, items: &[T]) -> fmt::Result {
    let Some((first, rest)) = items.split_first() else {
        return Ok(());
    };
    write!(out, "{key} = {first}")?;
    for item in rest {
        write!(out, ", {item}")?;
    }
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    use std::num::NonZeroU16;

    use ipnet::IpNet;

    use crate::config::{
        DomainName, Endpoint, MAX_MTU, MIN_MTU, Mtu, PeerConfig, PresharedKey, PrivateKey,
        PublicKey, TunnelConfig,
    };

    fn parse(text: &str) -> TunnelConfig {
        TunnelConfig::parse_wg_quick(text).unwrap_or_else(|error| panic!("{error}\n{text}"))
    }

    /// Both round-trip properties, for text and for the config it parses to.
    fn assert_round_trips(text: &str) {
        let config = parse(text);
        let printed = config.to_wg_quick();
        assert_eq!(
            parse(&printed),
            config,
            "parse(print(parse(x))) == parse(x)\n{printed}"
        );
        assert_eq!(
            parse(&printed).to_wg_quick(),
            printed,
            "print(parse(print(c))) == print(c)"
        );
    }

    const REALISTIC: &str = "\
[Interface]
PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=
mtu = 1380
DNS = corp.example, 10.8.0.1
Address = 10.8.0.2/24
ListenPort = 51820
Address = fd00:8::2/64
PostUp = echo hi

[Peer]
AllowedIPs = 10.8.0.0/24, fd00:8::/64
PersistentKeepalive = 25
Endpoint = vpn.corp.example:51820
PresharedKey = zKqIAT4QwZVy3OW1zjyiSvOWcWgchG9pOM6dyfRZy+Y=
PublicKey = MDr7NDyG0lawzPEJOyZT/nVedFwRfuWx8+L3hwgMJSE=

[Peer]
PublicKey = 9l3U+jH/zYvUw4FZBNkZaXqt8Qsfl4B4aXuYnjYR3EU=
Endpoint = [2001:db8::10]:443
AllowedIPs = 0.0.0.0/0, ::/0
";

    #[test]
    fn prints_canonical_wg_quick_layout() {
        let expected = "\
[Interface]
PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=
ListenPort = 51820
Address = 10.8.0.2/24, fd00:8::2/64
DNS = 10.8.0.1, corp.example
MTU = 1380

[Peer]
PublicKey = MDr7NDyG0lawzPEJOyZT/nVedFwRfuWx8+L3hwgMJSE=
PresharedKey = zKqIAT4QwZVy3OW1zjyiSvOWcWgchG9pOM6dyfRZy+Y=
AllowedIPs = 10.8.0.0/24, fd00:8::/64
Endpoint = vpn.corp.example:51820
PersistentKeepalive = 25

[Peer]
PublicKey = 9l3U+jH/zYvUw4FZBNkZaXqt8Qsfl4B4aXuYnjYR3EU=
AllowedIPs = 0.0.0.0/0, ::/0
Endpoint = [2001:db8::10]:443
";
        assert_eq!(parse(REALISTIC).to_wg_quick(), expected);
        // A minimal config prints only the private key.
        let minimal = "[Interface]\nPrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n";
        assert_eq!(parse(minimal).to_wg_quick(), minimal);
    }

    #[test]
    fn hand_written_configs_round_trip() {
        let key = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
        let peer = "MDr7NDyG0lawzPEJOyZT/nVedFwRfuWx8+L3hwgMJSE=";
        let texts = [
            REALISTIC.to_owned(),
            format!("[Interface]\nPrivateKey = {key}\n"),
            format!(
                "[Peer]\nPublicKey = {peer}\nAllowedIPs =\n[Interface]\nPrivateKey = {key}\nListenPort = 0\n"
            ),
            format!(
                "[Interface]\nPrivateKey = {key}\nAddress = fd00::1\nDNS = search.only\n[Peer]\nPublicKey = {peer}\nEndpoint = 192.0.2.1:1\nPersistentKeepalive = off\n"
            ),
            format!(
                "[INTERFACE]\r\nprivatekey={key}#c\r\nmtu=9000\r\naddress=10.0.0.1/8,10.0.0.2\r\n[PEER]\r\npublickey={peer}\r\nallowedips=10.0.0.0/8\r\nallowedips=::/0\r\n"
            ),
        ];
        for text in texts {
            assert_round_trips(&text);
        }
    }

    /// SplitMix64: tiny, seedable, good enough to drive generated configs.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        /// Uniform-ish in `0..n`.
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn chance(&mut self, percent: u64) -> bool {
            self.below(100) < percent
        }

        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[self.below(items.len() as u64) as usize]
        }

        fn bytes32(&mut self) -> [u8; 32] {
            let mut bytes = [0; 32];
            for chunk in bytes.chunks_mut(8) {
                chunk.copy_from_slice(&self.next().to_le_bytes());
            }
            bytes
        }

        fn port(&mut self) -> NonZeroU16 {
            NonZeroU16::new(1 + self.below(65535) as u16).unwrap()
        }

        fn ip(&mut self) -> IpAddr {
            if self.chance(50) {
                IpAddr::V4(Ipv4Addr::from(self.next() as u32))
            } else {
                IpAddr::V6(Ipv6Addr::from(
                    (u128::from(self.next()) << 64) | u128::from(self.next()),
                ))
            }
        }

        fn net(&mut self) -> IpNet {
            let ip = self.ip();
            let max = if ip.is_ipv4() { 32 } else { 128 };
            IpNet::new(ip, self.below(max + 1) as u8).unwrap()
        }

        fn domain(&mut self) -> DomainName {
            const FIRST: &[u8] = b"abcxyzABCXYZ";
            const REST: &[u8] = b"abcxyz0189-_";
            let labels = 1 + self.below(4);
            let mut name = String::new();
            for label in 0..labels {
                if label > 0 {
                    name.push('.');
                }
                // A letter first keeps the name from looking like an address.
                name.push(*self.pick(FIRST) as char);
                for _ in 0..self.below(12) {
                    name.push(*self.pick(REST) as char);
                }
            }
            if self.chance(10) {
                name.push('.');
            }
            name.parse().unwrap()
        }

        fn list<T>(&mut self, max: u64, mut item: impl FnMut(&mut Self) -> T) -> Vec<T> {
            (0..self.below(max + 1)).map(|_| item(self)).collect()
        }
    }

    /// A random config in canonical form.
    fn random_config(rng: &mut Rng) -> TunnelConfig {
        let peers = (0..rng.below(5))
            .map(|index| {
                let mut key = rng.bytes32();
                key[0] = index as u8; // distinct public keys
                PeerConfig {
                    public_key: PublicKey::from_bytes(key),
                    preshared_key: rng
                        .chance(40)
                        .then(|| PresharedKey::from_bytes(rng.bytes32())),
                    endpoint: match rng.below(4) {
                        0 => None,
                        1 => Some(Endpoint::from_host(rng.domain(), rng.port())),
                        _ => {
                            let addr = SocketAddr::new(rng.ip(), rng.port().get());
                            Some(Endpoint::try_from(addr).unwrap())
                        }
                    },
                    allowed_ips: rng.list(4, Rng::net),
                    persistent_keepalive: rng.chance(40).then(|| rng.port()),
                    resolved_endpoint: None,
                }
            })
            .collect();
        let mtu = MIN_MTU + rng.below(u64::from(MAX_MTU - MIN_MTU) + 1) as u16;
        TunnelConfig::new(PrivateKey::from_bytes(rng.bytes32()), peers)
            .unwrap()
            .with_listen_port(rng.chance(50).then(|| rng.port()))
            .with_mtu(rng.chance(50).then(|| Mtu::try_from(mtu).unwrap()))
            .with_addresses(rng.list(3, Rng::net))
            .with_dns(rng.list(3, Rng::ip))
            .with_dns_search(rng.list(2, Rng::domain))
    }

    #[test]
    fn random_valid_configs_round_trip() {
        let mut rng = Rng(0x5eed_f00d);
        for _ in 0..500 {
            let config = random_config(&mut rng);
            let printed = config.to_wg_quick();
            let parsed = parse(&printed);
            assert_eq!(parsed, config, "{printed}");
            assert_eq!(parsed.to_wg_quick(), printed);
        }
    }

    /// The same config in a messier hand: random key and header case, spacing,
    /// comments, blank lines, CRLF, and lists split over repeated keys.
    fn scramble(text: &str, rng: &mut Rng) -> String {
        fn random_case(word: &str, rng: &mut Rng) -> String {
            word.chars()
                .map(|c| {
                    if rng.chance(50) {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect()
        }
        let spaces = ["", " ", "  ", "\t", " \t "];
        let newline = if rng.chance(30) { "\r\n" } else { "\n" };
        let mut out = String::new();
        let push = |out: &mut String, line: String, rng: &mut Rng| {
            if rng.chance(10) {
                out.push_str(&format!(
                    "{}# note = [x], 1.2.3.4{newline}",
                    rng.pick(&spaces)
                ));
            }
            if rng.chance(10) {
                out.push_str(newline);
            }
            out.push_str(&line);
            if rng.chance(20) {
                out.push_str(&format!("{}# trailing", rng.pick(&spaces)));
            }
            out.push_str(newline);
        };
        for line in text.lines() {
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                let line = format!(
                    "{}[{}{}{}]",
                    rng.pick(&spaces),
                    rng.pick(&spaces),
                    random_case(name, rng),
                    rng.pick(&spaces)
                );
                push(&mut out, line, rng);
            } else if let Some((key, value)) = line.split_once(" = ") {
                let items: Vec<&str> = value.split(", ").collect();
                let is_list = matches!(key, "Address" | "DNS" | "AllowedIPs");
                let groups: Vec<Vec<&str>> = if is_list && rng.chance(50) {
                    items.iter().map(|item| vec![*item]).collect()
                } else {
                    vec![items]
                };
                for group in groups {
                    let separator = format!("{},{}", rng.pick(&spaces), rng.pick(&spaces));
                    let line = format!(
                        "{}{}{}={}{}",
                        rng.pick(&spaces),
                        random_case(key, rng),
                        rng.pick(&spaces),
                        rng.pick(&spaces),
                        group.join(&separator)
                    );
                    push(&mut out, line, rng);
                }
            } else {
                push(&mut out, line.to_owned(), rng);
            }
        }
        out
    }

    #[test]
    fn formatting_does_not_change_what_parses() {
        let mut rng = Rng(42);
        for _ in 0..300 {
            let config = random_config(&mut rng);
            let text = scramble(&config.to_wg_quick(), &mut rng);
            assert_eq!(parse(&text), config, "{text}");
        }
    }

    #[test]
    fn mutated_text_never_panics_or_leaks_a_secret() {
        const INSERTS: &[char] = &['=', '[', ']', '#', ',', ':', '/', ' ', '\n', 'a', '1', '.'];
        let mut rng = Rng(7);
        let mut rejected = 0;
        for _ in 0..2000 {
            let config = random_config(&mut rng);
            let mut secrets = vec![config.private_key().to_base64()];
            secrets.extend(
                config
                    .peers()
                    .iter()
                    .filter_map(|peer| peer.preshared_key.map(|k| k.to_base64())),
            );
            let mut chars: Vec<char> = config.to_wg_quick().chars().collect();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(chars.len() as u64) as usize;
                match rng.below(3) {
                    0 => {
                        chars.remove(at);
                    }
                    1 => chars.insert(at, *rng.pick(INSERTS)),
                    _ => chars[at] = *rng.pick(INSERTS),
                }
            }
            let text: String = chars.into_iter().collect();
            let Err(error) = TunnelConfig::parse_wg_quick(&text) else {
                continue;
            };
            rejected += 1;
            let shown = format!("{error} {error:?}");
            for secret in &secrets {
                for window in secret.as_bytes().windows(12) {
                    let window = std::str::from_utf8(window).unwrap();
                    assert!(!shown.contains(window), "{shown}\n{text}");
                }
            }
        }
        assert!(
            rejected > 500,
            "mutations should mostly break the text, got {rejected}"
        );
    }
}

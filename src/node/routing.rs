//! Allowed-IPs routing: longest-prefix match over every peer's prefixes.
//!
//! One hash map per prefix length, searched from the longest length present
//! down. A lookup costs one hash probe per distinct prefix length in use
//! (typically one to three), independent of the number of prefixes.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use ipnet::IpNet;

/// Maps prefixes to values (peer ids); see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct RoutingTable<T> {
    /// Keyed by prefix length, longest first when iterated in reverse.
    v4: BTreeMap<u8, HashMap<u32, T>>,
    v6: BTreeMap<u8, HashMap<u128, T>>,
}

impl<T> Default for RoutingTable<T> {
    fn default() -> Self {
        Self {
            v4: BTreeMap::new(),
            v6: BTreeMap::new(),
        }
    }
}

fn mask_v4(addr: u32, len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        addr & (u32::MAX << (32 - u32::from(len)))
    }
}

fn mask_v6(addr: u128, len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        addr & (u128::MAX << (128 - u32::from(len)))
    }
}

impl<T: Copy> RoutingTable<T> {
    /// Routes `net` (host bits ignored) to `value`, replacing an equal prefix.
    pub fn insert(&mut self, net: IpNet, value: T) {
        match net {
            IpNet::V4(n) => {
                let len = n.prefix_len();
                let key = mask_v4(n.addr().to_bits(), len);
                self.v4.entry(len).or_default().insert(key, value);
            }
            IpNet::V6(n) => {
                let len = n.prefix_len();
                let key = mask_v6(n.addr().to_bits(), len);
                self.v6.entry(len).or_default().insert(key, value);
            }
        }
    }

    /// The value of the longest prefix containing `addr`.
    pub fn lookup(&self, addr: IpAddr) -> Option<T> {
        match addr {
            IpAddr::V4(a) => {
                let bits = a.to_bits();
                self.v4
                    .iter()
                    .rev()
                    .find_map(|(&len, map)| map.get(&mask_v4(bits, len)).copied())
            }
            IpAddr::V6(a) => {
                let bits = a.to_bits();
                self.v6
                    .iter()
                    .rev()
                    .find_map(|(&len, map)| map.get(&mask_v6(bits, len)).copied())
            }
        }
    }

    /// Removes every route.
    pub fn clear(&mut self) {
        self.v4.clear();
        self.v6.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(routes: &[(&str, u32)]) -> RoutingTable<u32> {
        let mut t = RoutingTable::default();
        for (net, v) in routes {
            t.insert(net.parse().unwrap(), *v);
        }
        t
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn longest_prefix_wins_for_ipv4() {
        let t = table(&[
            ("0.0.0.0/0", 1),
            ("10.0.0.0/8", 2),
            ("10.1.0.0/16", 3),
            ("10.1.2.3/32", 4),
        ]);
        assert_eq!(t.lookup(ip("8.8.8.8")), Some(1));
        assert_eq!(t.lookup(ip("10.9.9.9")), Some(2));
        assert_eq!(t.lookup(ip("10.1.9.9")), Some(3));
        assert_eq!(t.lookup(ip("10.1.2.3")), Some(4));
        assert_eq!(t.lookup(ip("10.1.2.4")), Some(3));
    }

    #[test]
    fn longest_prefix_wins_for_ipv6() {
        let t = table(&[
            ("::/0", 1),
            ("fd00::/8", 2),
            ("fd00:1::/32", 3),
            ("fd00:1::5/128", 4),
        ]);
        assert_eq!(t.lookup(ip("2001:db8::1")), Some(1));
        assert_eq!(t.lookup(ip("fd55::1")), Some(2));
        assert_eq!(t.lookup(ip("fd00:1::6")), Some(3));
        assert_eq!(t.lookup(ip("fd00:1::5")), Some(4));
    }

    #[test]
    fn families_do_not_mix() {
        let t = table(&[("0.0.0.0/0", 1)]);
        assert_eq!(t.lookup(ip("::1")), None);
        let t = table(&[("::/0", 1)]);
        assert_eq!(t.lookup(ip("1.2.3.4")), None);
    }

    #[test]
    fn host_bits_in_a_prefix_are_ignored() {
        let t = table(&[("10.1.2.3/16", 7)]);
        assert_eq!(t.lookup(ip("10.1.200.1")), Some(7));
    }

    #[test]
    fn nothing_matches_outside_every_prefix() {
        let t = table(&[("10.0.0.0/8", 1), ("fd00::/8", 2)]);
        assert_eq!(t.lookup(ip("11.0.0.1")), None);
        assert_eq!(t.lookup(ip("fe80::1")), None);
    }

    #[test]
    fn an_equal_prefix_is_replaced() {
        let t = table(&[("10.0.0.0/8", 1), ("10.0.0.0/8", 2)]);
        assert_eq!(t.lookup(ip("10.0.0.1")), Some(2));
    }
}

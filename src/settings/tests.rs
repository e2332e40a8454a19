//! The settings function over a table of configs, with both platforms' options.

use super::*;
use crate::config::TunnelConfig;

/// A config from wg-quick text with one `[Peer]` per `AllowedIPs` list.
fn config(addresses: &str, mtu: Option<u16>, peers: &[&str]) -> TunnelConfig {
    let mut text = format!(
        "[Interface]\nPrivateKey = {}\n",
        crate::config::PrivateKey::generate().to_base64()
    );
    if !addresses.is_empty() {
        text += &format!("Address = {addresses}\nDNS = 10.0.0.53, fd00::53, corp.example\n");
    }
    if let Some(mtu) = mtu {
        text += &format!("MTU = {mtu}\n");
    }
    for allowed in peers {
        text += &format!(
            "\n[Peer]\nPublicKey = {}\nAllowedIPs = {allowed}\n",
            crate::config::PrivateKey::generate()
                .public_key()
                .to_base64()
        );
    }
    TunnelConfig::parse_wg_quick(&text).unwrap()
}

fn nets(list: &[&str]) -> Vec<IpNet> {
    list.iter().map(|n| n.parse().unwrap()).collect()
}

struct Expected {
    mode: FamilyMode,
    addresses: &'static [&'static str],
    routes: &'static [&'static str],
}

fn family(
    mode: FamilyMode,
    addresses: &'static [&'static str],
    routes: &'static [&'static str],
) -> Expected {
    Expected {
        mode,
        addresses,
        routes,
    }
}

struct Case {
    name: &'static str,
    addresses: &'static str,
    peers: &'static [&'static str],
    options: SettingsOptions,
    ipv4: Expected,
    ipv6: Expected,
}

fn blocking(options: SettingsOptions) -> SettingsOptions {
    SettingsOptions {
        unrouted_family: UnroutedFamily::Block,
        ..options
    }
}

use FamilyMode::{Blocked, LeftToSystem, Routed};

fn cases() -> Vec<Case> {
    let android = SettingsOptions::android();
    let apple = SettingsOptions::apple();
    vec![
        Case {
            name: "v4 only, full tunnel, Android",
            addresses: "10.0.0.2/32",
            peers: &["0.0.0.0/0"],
            options: android,
            ipv4: family(Routed, &["10.0.0.2/32"], &["0.0.0.0/0"]),
            ipv6: family(LeftToSystem, &[], &[]),
        },
        Case {
            name: "v4 only, full tunnel, Android, unrouted IPv6 blocked by the OS",
            addresses: "10.0.0.2/32",
            peers: &["0.0.0.0/0"],
            options: blocking(android),
            ipv4: family(Routed, &["10.0.0.2/32"], &["0.0.0.0/0"]),
            ipv6: family(Blocked, &[], &[]),
        },
        Case {
            name: "v4 only, full tunnel, Apple, unrouted IPv6 blocked by a default route",
            addresses: "10.0.0.2/32",
            peers: &["0.0.0.0/0"],
            options: blocking(apple),
            ipv4: family(Routed, &["10.0.0.2/32"], &["0.0.0.0/0"]),
            ipv6: family(Blocked, &["fd66:7274:756e::1/120"], &["::/0"]),
        },
        Case {
            name: "v6 only, Android",
            addresses: "fd00::2/128",
            peers: &["::/0"],
            options: android,
            ipv4: family(LeftToSystem, &[], &[]),
            ipv6: family(Routed, &["fd00::2/128"], &["::/0"]),
        },
        Case {
            name: "v6 only, Apple: the /128 is clamped to /120",
            addresses: "fd00::2/128",
            peers: &["::/0"],
            options: apple,
            ipv4: family(LeftToSystem, &[], &[]),
            ipv6: family(Routed, &["fd00::2/120"], &["::/0"]),
        },
        Case {
            name: "dual stack, Apple: short prefixes are left alone",
            addresses: "10.0.0.2/24, fd00::2/64",
            peers: &["0.0.0.0/0, ::/0"],
            options: apple,
            ipv4: family(Routed, &["10.0.0.2/24"], &["0.0.0.0/0"]),
            ipv6: family(Routed, &["fd00::2/64"], &["::/0"]),
        },
        Case {
            name: "full tunnel, no IPv6 address, Android: ::/0 still routed (no leak)",
            addresses: "10.0.0.2/32",
            peers: &["0.0.0.0/0, ::/0"],
            options: android,
            ipv4: family(Routed, &["10.0.0.2/32"], &["0.0.0.0/0"]),
            ipv6: family(Routed, &[], &["::/0"]),
        },
        Case {
            name: "full tunnel, no IPv6 address, Apple: placeholder address carries ::/0",
            addresses: "10.0.0.2/32",
            peers: &["0.0.0.0/0, ::/0"],
            options: apple,
            ipv4: family(Routed, &["10.0.0.2/32"], &["0.0.0.0/0"]),
            ipv6: family(Routed, &["fd66:7274:756e::1/120"], &["::/0"]),
        },
        Case {
            name: "full tunnel, no IPv4 address, Apple: the RFC 7600 dummy address",
            addresses: "fd00::2/128",
            peers: &["0.0.0.0/0, ::/0"],
            options: apple,
            ipv4: family(Routed, &["192.0.0.8/32"], &["0.0.0.0/0"]),
            ipv6: family(Routed, &["fd00::2/120"], &["::/0"]),
        },
        Case {
            name: "split tunnel, Android: IPv6 left to the system",
            addresses: "10.0.0.2/32",
            peers: &["10.0.0.0/24, 192.168.7.0/24"],
            options: android,
            ipv4: family(Routed, &["10.0.0.2/32"], &["10.0.0.0/24", "192.168.7.0/24"]),
            ipv6: family(LeftToSystem, &[], &[]),
        },
        Case {
            name: "split tunnel with an IPv6 address but no IPv6 routes, Android, blocking: default route",
            addresses: "10.0.0.2/32, fd00::2/64",
            peers: &["10.0.0.0/24"],
            options: blocking(android),
            ipv4: family(Routed, &["10.0.0.2/32"], &["10.0.0.0/24"]),
            ipv6: family(Blocked, &["fd00::2/64"], &["::/0"]),
        },
        Case {
            name: "split tunnel with an IPv6 address but no IPv6 routes, left to the system",
            addresses: "10.0.0.2/32, fd00::2/64",
            peers: &["10.0.0.0/24"],
            options: apple,
            ipv4: family(Routed, &["10.0.0.2/32"], &["10.0.0.0/24"]),
            ipv6: family(LeftToSystem, &["fd00::2/64"], &[]),
        },
        Case {
            name: "overlapping and unaligned AllowedIPs across peers merge into network routes",
            addresses: "10.0.0.2/32, 10.0.0.2/32",
            peers: &[
                "10.1.2.3/16, 10.0.0.0/8",
                "10.200.0.0/16, 172.16.0.0/13, 172.24.0.0/13, 2001:db8::1/48",
                "2001:db8::/32, 192.168.1.77/24",
            ],
            options: android,
            ipv4: family(
                Routed,
                &["10.0.0.2/32"],
                &["10.0.0.0/8", "172.16.0.0/12", "192.168.1.0/24"],
            ),
            ipv6: family(Routed, &[], &["2001:db8::/32"]),
        },
        Case {
            name: "no peers at all, Apple, blocking: both families into the tunnel",
            addresses: "10.0.0.2/32",
            peers: &[],
            options: blocking(apple),
            ipv4: family(Blocked, &["10.0.0.2/32"], &["0.0.0.0/0"]),
            ipv6: family(Blocked, &["fd66:7274:756e::1/120"], &["::/0"]),
        },
    ]
}

#[test]
fn settings_follow_the_table() {
    for case in cases() {
        let config = config(case.addresses, None, case.peers);
        let settings = interface_settings(&config, &case.options).unwrap();
        for (which, got, want) in [
            ("ipv4", &settings.ipv4, &case.ipv4),
            ("ipv6", &settings.ipv6, &case.ipv6),
        ] {
            assert_eq!(got.mode, want.mode, "{}: {which} mode", case.name);
            assert_eq!(
                got.addresses,
                nets(want.addresses),
                "{}: {which} addresses",
                case.name
            );
            assert_eq!(
                got.routes,
                nets(want.routes),
                "{}: {which} routes",
                case.name
            );
        }
    }
}

#[test]
fn routes_are_network_addresses_that_android_accepts() {
    // VpnService.Builder.addRoute throws on host bits; every route must equal its truncation.
    for case in cases() {
        let settings =
            interface_settings(&config(case.addresses, None, case.peers), &case.options).unwrap();
        for route in settings.ipv4.routes.iter().chain(&settings.ipv6.routes) {
            assert_eq!(*route, route.trunc(), "{}: {route}", case.name);
        }
    }
}

#[test]
fn mtu_and_dns_come_from_the_config_with_the_mobile_default() {
    let settings = interface_settings(
        &config("10.0.0.2/32", None, &["0.0.0.0/0"]),
        &SettingsOptions::android(),
    )
    .unwrap();
    assert_eq!(settings.mtu, MOBILE_DEFAULT_MTU);
    assert_eq!(settings.mtu, 1280);
    assert_eq!(
        settings.dns_servers,
        [
            "10.0.0.53".parse::<IpAddr>().unwrap(),
            "fd00::53".parse().unwrap()
        ]
    );
    assert_eq!(settings.dns_search_domains, ["corp.example"]);

    let settings = interface_settings(
        &config("10.0.0.2/32", Some(1380), &["0.0.0.0/0"]),
        &SettingsOptions::apple(),
    )
    .unwrap();
    assert_eq!(settings.mtu, 1380, "the config's MTU wins");
}

#[test]
fn options_out_of_range_are_refused() {
    let config = config("10.0.0.2/32", None, &["0.0.0.0/0"]);
    let options = SettingsOptions {
        ipv6_max_prefix_len: 129,
        ..SettingsOptions::apple()
    };
    assert_eq!(
        interface_settings(&config, &options),
        Err(SettingsError::Ipv6PrefixLen(129))
    );
    let options = SettingsOptions {
        default_mtu: 100,
        ..SettingsOptions::android()
    };
    assert_eq!(
        interface_settings(&config, &options),
        Err(SettingsError::DefaultMtu(100))
    );
}

#[test]
fn placeholders_are_reserved_non_routable_addresses() {
    // RFC 7600 reserves 192.0.0.8 as the IPv4 dummy address; ours for IPv6 is a ULA.
    assert_eq!(PLACEHOLDER_IPV4, Ipv4Addr::new(192, 0, 0, 8));
    assert!(PLACEHOLDER_IPV6.is_unique_local());
}

//! Shared helpers for the in-process tests: two tunnels over loopback UDP with
//! socketpairs standing in for the TUN fds, and IP packet builders.
#![allow(dead_code)] // each test file uses a different subset

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use ferrotun::config::{Endpoint, Mtu, PeerConfig, PrivateKey, TunnelConfig};
use ferrotun::runtime::{Tunnel, TunnelEvent, TunnelOptions, TunnelStats};

pub const A_V4: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
pub const B_V4: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);
pub const A_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x99, 0, 0, 0, 0, 0, 1);
pub const B_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x99, 0, 0, 0, 0, 0, 2);
pub const MTU: usize = 1420;

/// One tunnel plus the app's end of its socketpair "TUN".
pub struct Side {
    pub tunnel: Tunnel,
    pub app: UnixDatagram,
    pub key: PrivateKey,
}

pub struct Pair {
    pub a: Side,
    pub b: Side,
}

fn socketpair() -> (OwnedFd, UnixDatagram) {
    let (tunnel_end, app_end) = UnixDatagram::pair().expect("socketpair");
    app_end
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    app_end
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    (OwnedFd::from(tunnel_end), app_end)
}

pub fn net(s: &str) -> ipnet::IpNet {
    s.parse().unwrap()
}

impl Pair {
    /// Sends one packet A to B, which makes A handshake with B first.
    pub fn handshake(&self) {
        transfer(
            &self.a.app,
            &self.b.app,
            &[packet_for(0, 100, false, true)],
            1,
        );
    }

    /// A initiates (it has B's endpoint); B waits to be contacted.
    pub fn start() -> Pair {
        let key_a = PrivateKey::generate();
        let key_b = PrivateKey::generate();
        let config_b = TunnelConfig::new(
            key_b,
            vec![PeerConfig {
                allowed_ips: vec![net("10.99.0.1/32"), net("fd00:99::1/128")],
                ..PeerConfig::new(key_a.public_key())
            }],
        )
        .unwrap()
        .with_mtu(mtu())
        .with_addresses(vec![net("10.99.0.2/24")]);
        let (fd_b, app_b) = socketpair();
        let tunnel_b = Tunnel::start(config_b, fd_b, TunnelOptions::default()).expect("start B");
        let port_b = tunnel_b.listen_port();

        let config_a = TunnelConfig::new(
            key_a,
            vec![PeerConfig {
                endpoint: Some(loopback_endpoint(port_b)),
                allowed_ips: vec![net("10.99.0.2/32"), net("fd00:99::2/128")],
                ..PeerConfig::new(key_b.public_key())
            }],
        )
        .unwrap()
        .with_mtu(mtu())
        .with_addresses(vec![net("10.99.0.1/24")]);
        let (fd_a, app_a) = socketpair();
        let tunnel_a = Tunnel::start(config_a, fd_a, TunnelOptions::default()).expect("start A");
        Pair {
            a: Side {
                tunnel: tunnel_a,
                app: app_a,
                key: key_a,
            },
            b: Side {
                tunnel: tunnel_b,
                app: app_b,
                key: key_b,
            },
        }
    }
}

/// Internet checksum over `data`.
fn checksum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for chunk in data.chunks(2) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4/UDP packet of exactly `total_len` bytes whose payload starts with `seq`.
pub fn ipv4_packet(src: Ipv4Addr, dst: Ipv4Addr, seq: u32, total_len: usize) -> Vec<u8> {
    assert!(total_len >= 32);
    let mut p = vec![0u8; total_len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total_len as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let c = checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p[20..22].copy_from_slice(&4000u16.to_be_bytes());
    p[22..24].copy_from_slice(&5000u16.to_be_bytes());
    p[24..26].copy_from_slice(&((total_len - 20) as u16).to_be_bytes());
    p[28..32].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in p[32..].iter_mut().enumerate() {
        *b = (seq as usize + i) as u8;
    }
    p
}

/// An IPv6/UDP packet of exactly `total_len` bytes whose payload starts with `seq`.
pub fn ipv6_packet(src: Ipv6Addr, dst: Ipv6Addr, seq: u32, total_len: usize) -> Vec<u8> {
    assert!(total_len >= 52);
    let mut p = vec![0u8; total_len];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&((total_len - 40) as u16).to_be_bytes());
    p[6] = 17;
    p[7] = 64;
    p[8..24].copy_from_slice(&src.octets());
    p[24..40].copy_from_slice(&dst.octets());
    p[40..42].copy_from_slice(&4000u16.to_be_bytes());
    p[42..44].copy_from_slice(&5000u16.to_be_bytes());
    p[44..46].copy_from_slice(&((total_len - 40) as u16).to_be_bytes());
    p[48..52].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in p[52..].iter_mut().enumerate() {
        *b = (seq as usize + i) as u8;
    }
    p
}

pub fn packet_for(seq: u32, len: usize, v6: bool, forward: bool) -> Vec<u8> {
    match (v6, forward) {
        (false, true) => ipv4_packet(A_V4, B_V4, seq, len),
        (false, false) => ipv4_packet(B_V4, A_V4, seq, len),
        (true, true) => ipv6_packet(A_V6, B_V6, seq, len),
        (true, false) => ipv6_packet(B_V6, A_V6, seq, len),
    }
}

/// The addresses and ports of a packet built by `ipv4_packet`/`ipv6_packet`:
/// what tells its flow apart.
fn flow_of(packet: &[u8]) -> &[u8] {
    match packet[0] >> 4 {
        4 => &packet[12..24],
        _ => &packet[8..44],
    }
}

/// Sends `packets` into `from` and checks each arrives at `to` intact, once,
/// and in order within its flow (the tunnel's flow queue may let one flow
/// overtake another, never a flow's own packets), keeping at most `window` in
/// flight so loopback UDP buffers never overflow. Allocates nothing per packet.
pub fn transfer(from: &UnixDatagram, to: &UnixDatagram, packets: &[Vec<u8>], window: usize) {
    let mut buf = vec![0u8; 65536];
    // Per flow: the index in `packets` after its last packet received.
    let mut next_of_flow: Vec<(&[u8], usize)> = Vec::with_capacity(8);
    let mut received = 0;
    let mut sent = 0;
    while received < packets.len() {
        while sent < packets.len() && sent - received < window {
            from.send(&packets[sent]).expect("write into the TUN side");
            sent += 1;
        }
        let n = to.recv(&mut buf).unwrap_or_else(|e| {
            panic!("packet {received} of {} did not arrive: {e}", packets.len())
        });
        let got = &buf[..n];
        let flow = flow_of(got);
        let slot = match next_of_flow.iter().position(|(f, _)| *f == flow) {
            Some(i) => i,
            None => {
                let first = packets
                    .iter()
                    .position(|p| flow_of(p) == flow)
                    .unwrap_or_else(|| panic!("packet {received}: from a flow never sent"));
                next_of_flow.push((flow_of(&packets[first]), 0));
                next_of_flow.len() - 1
            }
        };
        let expected = (next_of_flow[slot].1..sent)
            .find(|&i| flow_of(&packets[i]) == flow)
            .unwrap_or_else(|| panic!("packet {received}: more packets of its flow than sent"));
        assert_eq!(
            got,
            &packets[expected][..],
            "packet {expected} arrived altered or out of order within its flow"
        );
        next_of_flow[slot].1 = expected + 1;
        received += 1;
    }
}

/// Waits (bounded) until `stats` satisfies `pred`.
pub fn wait_for_stats(
    tunnel: &Tunnel,
    what: &str,
    pred: impl Fn(&TunnelStats) -> bool,
) -> TunnelStats {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stats = tunnel.stats().expect("stats");
        if pred(&stats) {
            return stats;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {stats:#?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Collects events until `pred` matches one (bounded in time).
pub fn wait_for_event(tunnel: &Tunnel, pred: impl Fn(&TunnelEvent) -> bool) -> TunnelEvent {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match tunnel.next_event().await {
                    Some(e) if pred(&e) => return e,
                    Some(_) => continue,
                    None => panic!("tunnel stopped before the event"),
                }
            }
        })
        .await
        .expect("event within 5 s")
    })
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A config with a fresh key and no peers.
pub fn minimal_config() -> TunnelConfig {
    TunnelConfig::new(PrivateKey::generate(), vec![]).unwrap()
}

/// [`MTU`] as a config value.
pub fn mtu() -> Mtu {
    Mtu::try_from(MTU as u16).unwrap()
}

/// `127.0.0.1:port` as a peer endpoint.
pub fn loopback_endpoint(port: u16) -> Endpoint {
    Endpoint::try_from(SocketAddr::from(([127, 0, 0, 1], port))).unwrap()
}

/// A socketpair standing in for a TUN: the tunnel's end and the app's end.
pub fn tun() -> (OwnedFd, UnixDatagram) {
    let (a, b) = UnixDatagram::pair().unwrap();
    (OwnedFd::from(a), b)
}

//! Shared helpers for the in-process tests: two tunnels over loopback UDP with
//! socketpairs standing in for the TUN fds. Configs, IP packets and
//! socketpairs come from the crate's own test helpers (`src/testing`), compiled
//! in here by path because the integration tests build the crate without them.
#![allow(dead_code)] // each test file uses a different subset

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

#[allow(unused_imports)] // names for `config.rs`
use ferrotun::config::{Endpoint, Mtu, PeerConfig, PrivateKey, PublicKey, TunnelConfig};
use ferrotun::runtime::{Tunnel, TunnelEvent, TunnelOptions, TunnelStats};

#[path = "../../src/testing/config.rs"]
mod config;
#[path = "../../src/testing/packet.rs"]
mod packet;
#[path = "../../src/testing/socket.rs"]
mod socket;

pub use config::{peer_config, tunnel_config};
pub use packet::{ipv4_packet, ipv6_packet};
pub use socket::tun_socketpair;

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
        let config_b = tunnel_config(
            key_b,
            &["10.99.0.2/24"],
            Some(MTU as u16),
            vec![peer_config(
                key_a.public_key(),
                &["10.99.0.1/32", "fd00:99::1/128"],
                None,
                None,
            )],
        );
        let (fd_b, app_b) = tun_socketpair();
        let tunnel_b = Tunnel::start(config_b, fd_b, TunnelOptions::default()).expect("start B");
        let port_b = tunnel_b.listen_port();

        let config_a = tunnel_config(
            key_a,
            &["10.99.0.1/24"],
            Some(MTU as u16),
            vec![peer_config(
                key_b.public_key(),
                &["10.99.0.2/32", "fd00:99::2/128"],
                Some(SocketAddr::from(([127, 0, 0, 1], port_b))),
                None,
            )],
        );
        let (fd_a, app_a) = tun_socketpair();
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
    tunnel_config(PrivateKey::generate(), &[], None, vec![])
}

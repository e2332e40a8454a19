//! Two sans-IO nodes with a live session, and sinks that record what they send.
//!
//! Keys, addresses and peer indices are fixed so a crash input replays the
//! same way; boringtun's ephemeral keys (and so the session) are fresh each
//! time, which is why targets rebuild the pair per input instead of caching
//! one: a cached node would carry state from earlier inputs.

use std::net::SocketAddr;
use std::time::Instant;

use ferrotun::config::{Endpoint, PeerConfig, PrivateKey, PublicKey, TunnelConfig};
use ferrotun::node::{DatagramSink, Node, NodeOptions, PacketSink};

/// Largest IP packet the targets hand to a node (the "TUN read buffer").
pub const MAX_PACKET: usize = 1500;

/// Room in each sink: more than any datagram or packet a node writes.
const SINK_ROOM: usize = 65_536;

/// The initiator's UDP address; it is also the responder's configured view of it.
pub const A_ADDR: SocketAddr = addr([192, 0, 2, 1], 51820);
/// The responder's UDP address, A's configured endpoint for it.
pub const B_ADDR: SocketAddr = addr([192, 0, 2, 2], 51820);

const fn addr(ip: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::V4(std::net::SocketAddrV4::new(
        std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]),
        port,
    ))
}

/// A's private key (fixed so captured handshake messages carry a valid MAC1).
pub fn a_key() -> PrivateKey {
    PrivateKey::from_bytes([0xa1; 32])
}

/// B's private key.
pub fn b_key() -> PrivateKey {
    PrivateKey::from_bytes([0xb2; 32])
}

/// Records every datagram a node sends.
#[derive(Default)]
pub struct Net {
    buf: Vec<u8>,
    /// Destination and bytes, in send order.
    pub sent: Vec<(SocketAddr, Vec<u8>)>,
}

impl DatagramSink for Net {
    fn tail(&mut self) -> &mut [u8] {
        self.buf.resize(SINK_ROOM, 0);
        &mut self.buf
    }
    fn commit(&mut self, destination: SocketAddr, len: usize) {
        self.sent.push((destination, self.buf[..len].to_vec()));
    }
}

/// Records every IP packet a node writes to its TUN.
#[derive(Default)]
pub struct Tun {
    buf: Vec<u8>,
    /// Packets in write order.
    pub written: Vec<Vec<u8>>,
}

impl PacketSink for Tun {
    fn tail(&mut self) -> &mut [u8] {
        self.buf.resize(SINK_ROOM, 0);
        &mut self.buf
    }
    fn commit(&mut self, len: usize) {
        self.written.push(self.buf[..len].to_vec());
    }
}

fn peer(key: PublicKey, allowed: &[&str], endpoint: Option<SocketAddr>) -> PeerConfig {
    PeerConfig {
        endpoint: endpoint.map(|e| Endpoint::try_from(e).expect("endpoint")),
        allowed_ips: allowed.iter().map(|a| a.parse().expect("prefix")).collect(),
        ..PeerConfig::new(key)
    }
}

fn node(key: PrivateKey, peer: PeerConfig, seed: u64, now: Instant) -> Node {
    let config = TunnelConfig::new(key, vec![peer]).expect("distinct keys");
    let options = NodeOptions {
        seed,
        max_packet: MAX_PACKET,
    };
    Node::new(config, options, now)
}

/// An IPv4 packet from `src` to `dst` with a 20-byte payload of `tag`.
pub fn ipv4_packet(src: [u8; 4], dst: [u8; 4], tag: u8) -> Vec<u8> {
    let mut p = vec![tag; 40];
    p[0] = 0x45;
    p[1] = 0;
    p[2..4].copy_from_slice(&40u16.to_be_bytes());
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    p
}

/// A routes everything to B; B accepts only A's inner addresses
/// (10.0.0.1, fd00::1) and, having no endpoint configured, learns A's.
pub struct Pair {
    /// The initiator.
    pub a: Node,
    /// The responder.
    pub b: Node,
    /// Every datagram exchanged while the session was set up, with its sender
    /// (`true` for A): handshake initiation, response, data both ways.
    pub handshake_transcript: Vec<(bool, Vec<u8>)>,
}

impl Pair {
    /// Builds both nodes and completes a handshake plus one data packet each
    /// way, all at `now`.
    ///
    /// # Panics
    /// When the handshake does not complete: the harness itself is broken then.
    pub fn established(now: Instant) -> Pair {
        let a = node(
            a_key(),
            peer(b_key().public_key(), &["0.0.0.0/0", "::/0"], Some(B_ADDR)),
            0x00a0_0000,
            now,
        );
        let b = node(
            b_key(),
            peer(a_key().public_key(), &["10.0.0.1/32", "fd00::1/128"], None),
            0x00b0_0000,
            now,
        );
        let mut pair = Pair {
            a,
            b,
            handshake_transcript: Vec::new(),
        };
        let mut net = Net::default();
        let first = ipv4_packet([10, 0, 0, 1], [10, 0, 0, 2], 1);
        pair.a.handle_tun_packet(&first, now, &mut net);
        let (_, b_tun) = pair.pump(net.sent.into_iter().map(|d| (true, d.1)).collect(), now);
        assert_eq!(b_tun, vec![first], "handshake completes and data flows");

        let mut net = Net::default();
        let reply = ipv4_packet([10, 0, 0, 2], [10, 0, 0, 1], 2);
        pair.b.handle_tun_packet(&reply, now, &mut net);
        let (a_tun, _) = pair.pump(net.sent.into_iter().map(|d| (false, d.1)).collect(), now);
        assert_eq!(a_tun, vec![reply], "data flows back");
        pair
    }

    /// Delivers datagrams (`true` = from A) to the other node from the
    /// sender's real address until both are quiet; returns what each TUN got.
    fn pump(
        &mut self,
        mut in_flight: Vec<(bool, Vec<u8>)>,
        now: Instant,
    ) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let (mut a_tun, mut b_tun) = (Tun::default(), Tun::default());
        for _ in 0..10 {
            let mut next = Vec::new();
            for (from_a, datagram) in in_flight.drain(..) {
                self.handshake_transcript.push((from_a, datagram.clone()));
                let mut net = Net::default();
                if from_a {
                    self.b
                        .handle_datagram(A_ADDR, &datagram, now, &mut net, &mut b_tun);
                } else {
                    self.a
                        .handle_datagram(B_ADDR, &datagram, now, &mut net, &mut a_tun);
                }
                next.extend(net.sent.into_iter().map(|(_, d)| (!from_a, d)));
            }
            if next.is_empty() {
                break;
            }
            in_flight = next;
        }
        (a_tun.written, b_tun.written)
    }
}

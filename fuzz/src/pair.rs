//! Two sans-IO nodes with a live session, and sinks that record what they send.
//!
//! Keys, addresses and peer indices are fixed so a crash input replays the
//! same way; boringtun's ephemeral keys (and so the session) are fresh each
//! time, which is why targets rebuild the pair per input instead of caching
//! one: a cached node would carry state from earlier inputs.

use std::time::{Duration, Instant};

use ferrotun::config::{PeerConfig, PrivateKey};
use ferrotun::node::{Node, NodeOptions};
use ferrotun::testing::config::{peer_config, tunnel_config};
use ferrotun::testing::sim::{Side, Sim};

pub use ferrotun::testing::packet::ipv4_packet;
/// Records every datagram a node sends.
pub use ferrotun::testing::sim::NetSink as Net;
/// Records every IP packet a node writes to its TUN.
pub use ferrotun::testing::sim::TunSink as Tun;
pub use ferrotun::testing::sim::{A_ADDR, A_IP, B_ADDR, B_IP};

/// Largest IP packet the targets hand to a node (the "TUN read buffer").
pub const MAX_PACKET: usize = 1500;

/// A's private key (fixed so captured handshake messages carry a valid MAC1).
pub fn a_key() -> PrivateKey {
    PrivateKey::from_bytes([0xa1; 32])
}

/// B's private key.
pub fn b_key() -> PrivateKey {
    PrivateKey::from_bytes([0xb2; 32])
}

fn node(key: PrivateKey, peer: PeerConfig, seed: u64, now: Instant) -> Node {
    let options = NodeOptions {
        seed,
        max_packet: MAX_PACKET,
    };
    Node::new(tunnel_config(key, &[], None, vec![peer]), options, now)
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
            peer_config(
                b_key().public_key(),
                &["0.0.0.0/0", "::/0"],
                Some(B_ADDR),
                None,
            ),
            0x00a0_0000,
            now,
        );
        let b = node(
            b_key(),
            peer_config(
                a_key().public_key(),
                &["10.0.0.1/32", "fd00::1/128"],
                None,
                None,
            ),
            0x00b0_0000,
            now,
        );
        let mut sim = Sim::new(a, a_key(), b, b_key(), now);
        sim.a_to_b.latency = Duration::ZERO;
        sim.b_to_a.latency = Duration::ZERO;
        let first = sim.send_packet(Side::A, 1);
        sim.settle();
        assert_eq!(
            sim.delivered_packets(Side::B),
            vec![first],
            "handshake completes and data flows"
        );
        let reply = sim.send_packet(Side::B, 2);
        sim.settle();
        assert_eq!(
            sim.delivered_packets(Side::A),
            vec![reply],
            "data flows back"
        );
        assert_eq!(sim.now(), now, "no time passed");
        let handshake_transcript = sim
            .sent()
            .iter()
            .map(|s| (s.from == Side::A, s.bytes.clone()))
            .collect();
        Pair {
            a: sim.a,
            b: sim.b,
            handshake_transcript,
        }
    }
}

//! The `datagram` target: UDP input to two nodes that share a live session.
//!
//! The input is a little program for an attacker on the network who knows
//! both public keys and sees every datagram: it replays, mutates and floods
//! real datagrams of the session (handshake messages, data, cookie replies),
//! re-signs forged handshake messages with a valid MAC1, sends raw bytes from
//! chosen addresses, and lets the honest peers talk and time pass.
//!
//! Invariants checked after every datagram a node receives:
//! - nothing panics;
//! - unless the datagram is authentic (the very bytes the honest peer sent,
//!   up to MAC2, and not accepted before), the peer's endpoint does not move,
//!   nothing reaches the TUN, and the sender gets no answer but a cookie reply.
//!
//! # Input format
//! A sequence of operations, each an opcode byte and its arguments (little
//! endian); an operation cut short by the end of the input is skipped.
//! Opcode bits: `0x80` picks the node (clear: B, the responder; set: A),
//! `0x70` the source address ([`SOURCES`]), the low nibble the operation
//! (values above 8 wrap). Captured datagrams are indexed in the order they
//! were sent: the session set-up first (0 initiation, 1 response, 2 A's
//! keepalive, 3 A's data, 4 B's data), then whatever either node sends.
//!
//! | op | arguments | effect |
//! |----|-----------|--------|
//! | 0 | `len: u16`, bytes | send raw bytes |
//! | 1 | `index: u8` | replay a captured datagram unchanged |
//! | 2 | `index: u8`, `flags: u8`, edits, tail | send a mutated captured datagram |
//! | 3 | `index: u8`, `count: u8`, `pos: u16`, `xor: u8` | flood: `count + 1` copies, one byte flipped, MAC1 fixed |
//! | 4 | `tag: u8` | the node sends an IP packet to its peer (held in flight) |
//! | 5 | | deliver datagrams in flight from the real addresses |
//! | 6 | | deliver datagrams in flight from the chosen source (NAT rebinding) |
//! | 7 | `ms: u16` | advance time by `8 * ms` milliseconds and run timers |
//! | 8 | | lose the datagrams in flight |
//!
//! Mutation flags: bit 0 recomputes MAC1 (for an initiation or response of
//! the right size), bits 1-2 choose the tail (0 keep, 1 cut `n: u8` bytes,
//! 2 append `n: u8` bytes from the input), bits 4-6 the number of edits, each
//! `pos: u16, xor: u8`.

use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use blake2::digest::{FixedOutput, KeyInit, Update};
use blake2::{Blake2s256, Blake2sMac, Digest};
use ferrotun::config::PublicKey;
use ferrotun::node::Node;

use crate::pair::{A_ADDR, A_IP, B_ADDR, B_IP, Net, Pair, Tun, a_key, b_key, ipv4_packet};
use crate::reader::Reader;

/// Addresses a datagram can come from: the two honest peers, attackers, and
/// tricky forms of the honest addresses.
pub const SOURCES: [SocketAddr; 8] = [
    A_ADDR,
    B_ADDR,
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)), 4444),
    SocketAddr::new(
        std::net::IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x66)),
        51820,
    ),
    // A's address, another port.
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 1),
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::BROADCAST), 65535),
    // A's address, IPv4-mapped.
    SocketAddr::new(
        std::net::IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201)),
        51820,
    ),
];

/// Datagrams delivered per input at most, so a run of floods cannot time out.
const MAX_DELIVERIES: usize = 4096;

/// Captured datagrams kept as templates (an index is one byte).
const MAX_CAPTURED: usize = 256;

const MSG_INIT: u32 = 1;
const MSG_RESPONSE: u32 = 2;
const MSG_COOKIE: u8 = 3;
const INIT_LEN: usize = 148;
const RESPONSE_LEN: usize = 92;
const MAC_LEN: usize = 16;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    A,
    B,
}

impl Side {
    fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }

    fn address(self) -> SocketAddr {
        match self {
            Side::A => A_ADDR,
            Side::B => B_ADDR,
        }
    }

    fn slot(self) -> usize {
        self as usize
    }
}

/// Runs one input. Panics (the fuzzer's crash) when an invariant breaks.
pub fn run(data: &[u8]) {
    let t0 = Instant::now();
    let mut world = World::new(t0);
    let mut input = Reader::new(data);
    while let Some(op) = input.u8() {
        if world.deliveries >= MAX_DELIVERIES || world.step(op, &mut input).is_none() {
            break;
        }
    }
}

struct World {
    pair: Pair,
    t0: Instant,
    now: Instant,
    /// Templates: everything either node sent, with its sender.
    captured: Vec<(Side, Vec<u8>)>,
    /// Per sender: authenticating datagrams (handshake messages up to MAC2,
    /// data) that the other node has not accepted yet.
    fresh: [HashSet<Vec<u8>>; 2],
    /// Datagrams between the honest peers, not delivered yet.
    in_flight: Vec<(Side, Vec<u8>)>,
    deliveries: usize,
}

impl World {
    fn new(now: Instant) -> World {
        let pair = Pair::established(now);
        let captured = pair
            .handshake_transcript
            .iter()
            .map(|(from_a, d)| (if *from_a { Side::A } else { Side::B }, d.clone()))
            .collect();
        World {
            pair,
            t0: now,
            now,
            captured,
            fresh: [HashSet::new(), HashSet::new()],
            in_flight: Vec::new(),
            deliveries: 0,
        }
    }

    fn node(&mut self, side: Side) -> &mut Node {
        match side {
            Side::A => &mut self.pair.a,
            Side::B => &mut self.pair.b,
        }
    }

    fn endpoint(&mut self, side: Side) -> Option<SocketAddr> {
        let t0 = self.t0;
        self.node(side).peer_stats(t0, SystemTime::UNIX_EPOCH)[0].endpoint
    }

    fn template(&self, index: u8) -> Option<&(Side, Vec<u8>)> {
        (!self.captured.is_empty())
            .then(|| &self.captured[usize::from(index) % self.captured.len()])
    }

    fn step(&mut self, op: u8, input: &mut Reader<'_>) -> Option<()> {
        let target = if op & 0x80 == 0 { Side::B } else { Side::A };
        let source = SOURCES[usize::from((op >> 4) & 0x07)];
        match (op & 0x0f) % 9 {
            0 => {
                let len = input.u16()?;
                let bytes = input.bytes(usize::from(len)).to_vec();
                self.deliver(target, source, &bytes);
            }
            1 => {
                let (_, bytes) = self.template(input.u8()?)?.clone();
                self.deliver(target, source, &bytes);
            }
            2 => {
                let (_, mut bytes) = self.template(input.u8()?)?.clone();
                let flags = input.u8()?;
                for _ in 0..(flags >> 4) & 0x07 {
                    flip(&mut bytes, input.u16()?, input.u8()?);
                }
                match (flags >> 1) & 0x03 {
                    1 => bytes.truncate(bytes.len().saturating_sub(input.u8()?.into())),
                    2 => {
                        let n = input.u8()?;
                        bytes.extend_from_slice(input.bytes(n.into()));
                    }
                    _ => {}
                }
                if flags & 1 == 1 {
                    fix_mac1(&mut bytes, &receiver_key(target));
                }
                self.deliver(target, source, &bytes);
            }
            3 => {
                let (_, mut bytes) = self.template(input.u8()?)?.clone();
                let count = input.u8()?;
                flip(&mut bytes, input.u16()?, input.u8()?);
                fix_mac1(&mut bytes, &receiver_key(target));
                for _ in 0..=count {
                    self.deliver(target, source, &bytes);
                }
            }
            4 => {
                let tag = input.u8()?;
                let packet = match target {
                    Side::A => ipv4_packet(A_IP, B_IP, tag.into(), 40),
                    Side::B => ipv4_packet(B_IP, A_IP, tag.into(), 40),
                };
                let mut net = Net::default();
                let now = self.now;
                self.node(target).handle_tun_packet(&packet, now, &mut net);
                self.record(target, net);
            }
            5 => self.deliver_in_flight(None),
            6 => self.deliver_in_flight(Some(source)),
            7 => {
                // The node's clock only: boringtun's (the `testing` feature's
                // mock clock) stands still, so its own timers never fire here.
                self.now += Duration::from_millis(8 * u64::from(input.u16()?));
                for side in [Side::A, Side::B] {
                    let mut net = Net::default();
                    let now = self.now;
                    self.node(side).handle_timeout(now, &mut net);
                    self.record(side, net);
                }
            }
            _ => self.in_flight.clear(),
        }
        Some(())
    }

    /// Delivers what the honest peers sent each other, and their answers,
    /// for a bounded number of rounds. `source` overrides the sender's address.
    fn deliver_in_flight(&mut self, source: Option<SocketAddr>) {
        for _ in 0..8 {
            if self.in_flight.is_empty() {
                return;
            }
            for (sender, bytes) in std::mem::take(&mut self.in_flight) {
                let from = source.unwrap_or(sender.address());
                self.deliver(sender.other(), from, &bytes);
            }
        }
    }

    /// Keeps what `sender` sent as templates, as authentic input for its
    /// peer, and (when addressed to the peer's real address) in flight.
    fn record(&mut self, sender: Side, net: Net) {
        for (destination, bytes) in net.sent {
            if authenticates(&bytes) {
                self.fresh[sender.slot()].insert(canonical(&bytes).to_vec());
            }
            if destination == sender.other().address() {
                self.in_flight.push((sender, bytes.clone()));
            }
            if self.captured.len() < MAX_CAPTURED {
                self.captured.push((sender, bytes));
            }
        }
    }

    /// Hands `datagram` from `from` to the node `to` and checks the invariants.
    fn deliver(&mut self, to: Side, from: SocketAddr, datagram: &[u8]) {
        self.deliveries += 1;
        let key = canonical(datagram).to_vec();
        let authentic = self.fresh[to.other().slot()].contains(&key);
        let before = self.endpoint(to);
        let invalid_before = self.node(to).drops().invalid_datagram;
        let (mut net, mut tun) = (Net::default(), Tun::default());
        let now = self.now;
        self.node(to)
            .handle_datagram(from, datagram, now, &mut net, &mut tun);
        let after = self.endpoint(to);
        let rejected = self.node(to).drops().invalid_datagram != invalid_before
            || net.sent.iter().any(|(_, d)| d.first() == Some(&MSG_COOKIE));
        if authentic && !rejected {
            // Accepted once: from now on these bytes are a replay.
            self.fresh[to.other().slot()].remove(&key);
        }
        if !authentic {
            // Issue 9, defect 1 (endpoint hijack): a cookie reply under load
            // or a forged handshake response once moved the endpoint here.
            assert_eq!(
                after, before,
                "{to:?}'s peer endpoint moved to {from} on an unauthenticated datagram"
            );
            assert!(
                tun.written.is_empty(),
                "an unauthenticated datagram reached {to:?}'s TUN"
            );
            if before != Some(from) {
                for (destination, reply) in &net.sent {
                    assert!(
                        *destination != from || reply.first() == Some(&MSG_COOKIE),
                        "{to:?} answered an unauthenticated datagram from {from} with type {:?}",
                        reply.first()
                    );
                }
            }
        }
        self.record(to, net);
    }
}

fn flip(bytes: &mut [u8], pos: u16, xor: u8) {
    if !bytes.is_empty() {
        let pos = usize::from(pos) % bytes.len();
        bytes[pos] ^= xor;
    }
}

fn message_type(bytes: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?))
}

/// Whether accepting these bytes proves the sender holds a key: a handshake
/// initiation or response, or a data message (cookie replies do not count).
fn authenticates(bytes: &[u8]) -> bool {
    matches!(
        (message_type(bytes), bytes.len()),
        (Some(MSG_INIT), INIT_LEN) | (Some(MSG_RESPONSE), RESPONSE_LEN) | (Some(4), 32..)
    )
}

/// The part of a datagram that authenticates it: MAC2 of a handshake
/// message is only a proof of address and may be anything when not under load.
fn canonical(bytes: &[u8]) -> &[u8] {
    match (message_type(bytes), bytes.len()) {
        (Some(MSG_INIT), INIT_LEN) | (Some(MSG_RESPONSE), RESPONSE_LEN) => {
            &bytes[..bytes.len() - MAC_LEN]
        }
        _ => bytes,
    }
}

fn receiver_key(side: Side) -> PublicKey {
    match side {
        Side::A => a_key().public_key(),
        Side::B => b_key().public_key(),
    }
}

/// Recomputes MAC1 (WireGuard: keyed BLAKE2s over the message before MAC1,
/// keyed with HASH("mac1----" || receiver's public key)), which anyone who
/// knows the receiver's public key can do.
fn fix_mac1(bytes: &mut [u8], receiver: &PublicKey) {
    if !matches!(
        (message_type(bytes), bytes.len()),
        (Some(MSG_INIT), INIT_LEN) | (Some(MSG_RESPONSE), RESPONSE_LEN)
    ) {
        return;
    }
    let key: [u8; 32] = Blake2s256::new()
        .chain_update(b"mac1----")
        .chain_update(receiver.as_bytes())
        .finalize()
        .into();
    let mac1_at = bytes.len() - 2 * MAC_LEN;
    let mut mac = Blake2sMac::<blake2::digest::consts::U16>::new_from_slice(&key)
        .expect("32-byte key fits BLAKE2s");
    Update::update(&mut mac, &bytes[..mac1_at]);
    bytes[mac1_at..mac1_at + MAC_LEN].copy_from_slice(&mac.finalize_fixed());
}

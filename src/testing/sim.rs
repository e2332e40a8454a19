//! Two [`Node`]s over a simulated link, with time that jumps.
//!
//! The simulation keeps one clock. [`Sim::step`] moves it straight to the
//! next thing that happens (a datagram arriving, or a node's
//! [`Node::poll_timeout`]), so a test of a 120 s rekey runs in microseconds
//! and sees exactly the datagrams the nodes sent, when they sent them. Each
//! direction of the link has its own latency, loss and MTU and can be cut.
//! Every datagram sent is recorded with its fate ([`Sim::sent`]), every IP
//! packet a node writes to its TUN ([`Sim::delivered`]), every event and
//! every wakeup, so tests assert on what went over the wire.
//!
//! With the `testing` feature boringtun's clock moves with the simulation's
//! (see [`super`]); without it only the node's own deadlines do.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use crate::config::PrivateKey;
use crate::node::{DatagramSink, Event, Node, NodeOptions, PacketSink};

use super::advance_clock;
use super::config::{peer_config, tunnel_config};
use super::packet::ipv4_packet;

/// Room in each sink: more than any datagram or packet a node writes.
const SINK_ROOM: usize = 65_536;

/// IPv4 and UDP headers around every datagram on the simulated link.
pub const UDP_OVERHEAD: usize = 28;

/// Steps one [`Sim::run_until`] may take before the test fails: far more than
/// any scenario needs, so reaching it means a node keeps waking without
/// doing anything.
pub const MAX_STEPS: usize = 100_000;

/// A's UDP address, which B learns from A's first authenticated datagram.
pub const A_ADDR: SocketAddr = addr([192, 0, 2, 1], 51820);
/// B's UDP address, A's configured endpoint for it.
pub const B_ADDR: SocketAddr = addr([192, 0, 2, 2], 51820);
/// A's address inside the tunnel.
pub const A_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// B's address inside the tunnel.
pub const B_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

const fn addr(ip: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::V4(std::net::SocketAddrV4::new(
        Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]),
        port,
    ))
}

/// Records every datagram a node sends.
#[derive(Default)]
pub struct NetSink {
    buf: Vec<u8>,
    /// Destination and bytes, in send order.
    pub sent: Vec<(SocketAddr, Vec<u8>)>,
}

impl DatagramSink for NetSink {
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
pub struct TunSink {
    buf: Vec<u8>,
    /// Packets in write order.
    pub written: Vec<Vec<u8>>,
}

impl PacketSink for TunSink {
    fn tail(&mut self) -> &mut [u8] {
        self.buf.resize(SINK_ROOM, 0);
        &mut self.buf
    }
    fn commit(&mut self, len: usize) {
        self.written.push(self.buf[..len].to_vec());
    }
}

/// One of the two nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The initiator: it knows B's endpoint.
    A,
    /// The responder: it learns A's endpoint.
    B,
}

impl Side {
    /// The other node.
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }

    /// This node's UDP address.
    pub fn addr(self) -> SocketAddr {
        match self {
            Side::A => A_ADDR,
            Side::B => B_ADDR,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One direction of the link.
#[derive(Debug, Clone, Copy)]
pub struct Link {
    /// One-way delay.
    pub latency: Duration,
    /// Share of datagrams lost at random, 0.0 to 1.0 (the simulation's RNG is
    /// seeded, so a run repeats exactly).
    pub loss: f64,
    /// Largest IP datagram the path carries; a larger WireGuard datagram
    /// (plus [`UDP_OVERHEAD`]) is dropped, as with DF set.
    pub mtu: usize,
    /// When false, every datagram is lost.
    pub up: bool,
}

impl Default for Link {
    /// 10 ms, no loss, MTU 1500, up.
    fn default() -> Self {
        Link {
            latency: Duration::from_millis(10),
            loss: 0.0,
            mtu: 1500,
            up: true,
        }
    }
}

/// What became of a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Still on the link.
    InFlight,
    /// Handed to the other node.
    Delivered,
    /// Lost: the link was down or the random loss hit it.
    Lost,
    /// Larger than the link's MTU.
    TooBig,
    /// Addressed to neither node (a reply to an injected datagram).
    Elsewhere,
}

/// A WireGuard message type, read from a datagram's first byte (a keepalive
/// is a data message with no packet inside).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Msg {
    /// Handshake initiation.
    Initiation,
    /// Handshake response.
    Response,
    /// Cookie reply.
    CookieReply,
    /// Data message carrying an IP packet.
    Data,
    /// Data message with nothing inside.
    Keepalive,
    /// Anything else.
    Other,
}

impl Msg {
    /// The message type of `datagram`.
    pub fn of(datagram: &[u8]) -> Msg {
        match (datagram.first(), datagram.len()) {
            (Some(1), _) => Msg::Initiation,
            (Some(2), _) => Msg::Response,
            (Some(3), _) => Msg::CookieReply,
            (Some(4), 32) => Msg::Keepalive,
            (Some(4), _) => Msg::Data,
            _ => Msg::Other,
        }
    }
}

/// A datagram a node sent.
#[derive(Debug, Clone)]
pub struct Sent {
    /// When it was sent.
    pub at: Instant,
    /// Who sent it.
    pub from: Side,
    /// Where it was addressed.
    pub to: SocketAddr,
    /// What it was.
    pub msg: Msg,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// What became of it.
    pub fate: Fate,
}

#[derive(Clone, Copy)]
struct InFlight {
    arrival: Instant,
    to: Side,
    /// Index into `Sim::sent`.
    sent: usize,
}

/// Two nodes, a link each way, and one clock. See the module docs.
pub struct Sim {
    /// The initiator.
    pub a: Node,
    /// The responder.
    pub b: Node,
    /// A's private key.
    pub a_key: PrivateKey,
    /// B's private key.
    pub b_key: PrivateKey,
    /// The link from A to B.
    pub a_to_b: Link,
    /// The link from B to A.
    pub b_to_a: Link,
    /// When the simulation started.
    pub start: Instant,
    now: Instant,
    in_flight: Vec<InFlight>,
    sent: Vec<Sent>,
    delivered: [Vec<(Instant, Vec<u8>)>; 2],
    events: Vec<(Instant, Side, Event)>,
    wakeups: Vec<(Instant, Side, &'static str)>,
    rng: u64,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("elapsed", &(self.now - self.start))
            .field("in_flight", &self.in_flight.len())
            .field("sent", &self.sent.len())
            .finish_non_exhaustive()
    }
}

/// Node options for simulated nodes (`seed` differs per node).
pub fn options(seed: u64) -> NodeOptions {
    NodeOptions {
        seed,
        max_packet: 1420,
    }
}

impl Sim {
    /// A (peer B at 10.0.0.2/32, endpoint [`B_ADDR`]) and B (peer A at
    /// 10.0.0.1/32, no endpoint), neither with a keepalive, over default links.
    pub fn pair() -> Sim {
        Sim::pair_with_keepalive(None)
    }

    /// Like [`Sim::pair`], with A keeping B alive every `keepalive` seconds.
    pub fn pair_with_keepalive(keepalive: Option<u16>) -> Sim {
        let (a_key, b_key) = (PrivateKey::generate(), PrivateKey::generate());
        let start = Instant::now();
        let a = Node::new(
            tunnel_config(
                a_key,
                &[],
                None,
                vec![peer_config(
                    b_key.public_key(),
                    &["10.0.0.2/32"],
                    Some(B_ADDR),
                    keepalive,
                )],
            ),
            options(0x00a0_0000),
            start,
        );
        let b = Node::new(
            tunnel_config(
                b_key,
                &[],
                None,
                vec![peer_config(
                    a_key.public_key(),
                    &["10.0.0.1/32"],
                    None,
                    None,
                )],
            ),
            options(0x00b0_0000),
            start,
        );
        Sim::new(a, a_key, b, b_key, start)
    }

    /// Two nodes built by the caller at `start`.
    pub fn new(a: Node, a_key: PrivateKey, b: Node, b_key: PrivateKey, start: Instant) -> Sim {
        Sim {
            a,
            b,
            a_key,
            b_key,
            a_to_b: Link::default(),
            b_to_a: Link::default(),
            start,
            now: start,
            in_flight: Vec::new(),
            sent: Vec::new(),
            delivered: [Vec::new(), Vec::new()],
            events: Vec::new(),
            wakeups: Vec::new(),
            rng: 0x9e37_79b9_7f4a_7c15,
        }
    }

    /// The simulation's clock.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// A node.
    pub fn node(&mut self, side: Side) -> &mut Node {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// The link `from` sends on.
    pub fn link(&mut self, from: Side) -> &mut Link {
        match from {
            Side::A => &mut self.a_to_b,
            Side::B => &mut self.b_to_a,
        }
    }

    /// Every datagram sent so far, in send order.
    pub fn sent(&self) -> &[Sent] {
        &self.sent
    }

    /// The message types of the datagrams sent since `sent().len()` was `mark`.
    pub fn msgs_since(&self, mark: usize) -> Vec<Msg> {
        self.sent[mark..].iter().map(|s| s.msg).collect()
    }

    /// The datagrams `from` sent, as (time since start, message type).
    pub fn sent_by(&self, from: Side) -> Vec<(Duration, Msg)> {
        self.sent
            .iter()
            .filter(|s| s.from == from)
            .map(|s| (s.at - self.start, s.msg))
            .collect()
    }

    /// When `from` sent messages of type `msg`, as time since start.
    pub fn times_of(&self, from: Side, msg: Msg) -> Vec<Duration> {
        self.sent_by(from)
            .into_iter()
            .filter(|(_, m)| *m == msg)
            .map(|(at, _)| at)
            .collect()
    }

    /// The IP packets `to` wrote to its TUN, with when.
    pub fn delivered(&self, to: Side) -> &[(Instant, Vec<u8>)] {
        &self.delivered[to.index()]
    }

    /// The IP packets `to` wrote to its TUN, without times.
    pub fn delivered_packets(&self, to: Side) -> Vec<Vec<u8>> {
        self.delivered[to.index()]
            .iter()
            .map(|(_, p)| p.clone())
            .collect()
    }

    /// Events so far, with when and from which node.
    pub fn events(&self) -> &[(Instant, Side, Event)] {
        &self.events
    }

    /// Takes the events `side` reported so far.
    pub fn take_events(&mut self, side: Side) -> Vec<Event> {
        let (theirs, rest) = std::mem::take(&mut self.events)
            .into_iter()
            .partition(|(_, s, _)| *s == side);
        self.events = rest;
        theirs.into_iter().map(|(_, _, e)| e).collect()
    }

    /// Every `handle_timeout` call so far: when, on which node, and the reason
    /// `poll_timeout` gave.
    pub fn wakeups(&self) -> &[(Instant, Side, &'static str)] {
        &self.wakeups
    }

    /// Hands an IP packet to `side` as if read from its TUN now.
    pub fn tun_input(&mut self, side: Side, packet: &[u8]) {
        let now = self.now;
        let mut net = NetSink::default();
        self.node(side).handle_tun_packet(packet, now, &mut net);
        self.flush(side, net);
    }

    /// A 40-byte IPv4 packet from this side's tunnel address to the other's,
    /// carrying `seq`, handed to `side`'s TUN input. Returns the packet.
    pub fn send_packet(&mut self, side: Side, seq: u32) -> Vec<u8> {
        let packet = match side {
            Side::A => ipv4_packet(A_IP, B_IP, seq, 40),
            Side::B => ipv4_packet(B_IP, A_IP, seq, 40),
        };
        self.tun_input(side, &packet);
        packet
    }

    /// Puts a datagram on the wire to `to` from `from` (which need not be a
    /// node: an attacker's address), arriving now. Replies addressed to
    /// neither node are recorded with [`Fate::Elsewhere`].
    pub fn inject(&mut self, to: Side, from: SocketAddr, datagram: &[u8]) {
        let now = self.now;
        let mut net = NetSink::default();
        let mut tun = TunSink::default();
        self.node(to)
            .handle_datagram(from, datagram, now, &mut net, &mut tun);
        self.delivered[to.index()].extend(tun.written.into_iter().map(|p| (now, p)));
        self.flush(to, net);
    }

    /// Runs `f` on a node with a datagram sink, then sends what it wrote (for
    /// `reconnect`, `set_resolved_endpoint`, `update_config` and the like).
    pub fn with_node<R>(
        &mut self,
        side: Side,
        f: impl FnOnce(&mut Node, Instant, &mut NetSink) -> R,
    ) -> R {
        let now = self.now;
        let mut net = NetSink::default();
        let result = f(self.node(side), now, &mut net);
        self.flush(side, net);
        result
    }

    /// The next moment something happens: a datagram arrives or a node wants
    /// its timeout handled.
    pub fn next_event(&self) -> Option<Instant> {
        let arrival = self.in_flight.iter().map(|f| f.arrival).min();
        let timers = [&self.a, &self.b]
            .into_iter()
            .filter_map(|n| n.poll_timeout().map(|(at, _)| at));
        arrival.into_iter().chain(timers).min()
    }

    /// Jumps to the next event and handles everything due then. Returns false
    /// when nothing is left to happen.
    ///
    /// # Panics
    /// When a node is still due right after handling its timeout: it would
    /// wake in a busy loop.
    pub fn step(&mut self) -> bool {
        let Some(at) = self.next_event() else {
            return false;
        };
        self.advance_to(at);
        let now = self.now;
        // Arrivals first, in send order among equal times.
        let mut due: Vec<InFlight> = Vec::new();
        self.in_flight.retain(|f| {
            if f.arrival <= now {
                due.push(*f);
                false
            } else {
                true
            }
        });
        due.sort_by_key(|f| (f.arrival, f.sent));
        for f in due {
            self.sent[f.sent].fate = Fate::Delivered;
            let from = self.sent[f.sent].from.addr();
            let bytes = std::mem::take(&mut self.sent[f.sent].bytes);
            self.inject(f.to, from, &bytes);
            self.sent[f.sent].bytes = bytes;
        }
        for side in [Side::A, Side::B] {
            let Some((deadline, why)) = self.node(side).poll_timeout() else {
                continue;
            };
            if deadline > now {
                continue;
            }
            self.wakeups.push((now, side, why));
            let mut net = NetSink::default();
            self.node(side).handle_timeout(now, &mut net);
            self.flush(side, net);
            if let Some((again, why_again)) = self.node(side).poll_timeout() {
                assert!(
                    again > now,
                    "{side:?} is due again at once after handling {why:?}: {why_again:?} at {:?}",
                    again.saturating_duration_since(self.start)
                );
            }
        }
        true
    }

    /// Handles everything that happens up to and including `until`, then sets
    /// the clock to `until`.
    ///
    /// # Panics
    /// After [`MAX_STEPS`] steps, or when [`Sim::step`] panics.
    pub fn run_until(&mut self, until: Instant) {
        for _ in 0..MAX_STEPS {
            match self.next_event() {
                Some(at) if at <= until => {
                    self.step();
                }
                _ => {
                    self.advance_to(until);
                    return;
                }
            }
        }
        panic!("more than {MAX_STEPS} steps before {until:?}: {self:?}");
    }

    /// [`Sim::run_until`] `now + span`.
    pub fn run_for(&mut self, span: Duration) {
        self.run_until(self.now + span);
    }

    /// Runs until no datagram is in flight (timers that come due meanwhile
    /// run too).
    pub fn settle(&mut self) {
        while let Some(arrival) = self.in_flight.iter().map(|f| f.arrival).min() {
            self.run_until(arrival);
        }
    }

    /// A sends one packet to B and everything settles: the first call
    /// completes the handshake. Returns the packet.
    pub fn connect(&mut self) -> Vec<u8> {
        let packet = self.send_packet(Side::A, 0);
        self.settle();
        packet
    }

    fn advance_to(&mut self, at: Instant) {
        if at > self.now {
            advance_clock(at - self.now);
            self.now = at;
        }
    }

    fn next_random(&mut self) -> f64 {
        // xorshift64: deterministic and good enough for loss.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Puts what `from` wrote on the link, and collects its events.
    fn flush(&mut self, from: Side, net: NetSink) {
        let now = self.now;
        for (to, bytes) in net.sent {
            let link = *self.link(from);
            let fate = if to != from.other().addr() {
                Fate::Elsewhere
            } else if !link.up || (link.loss > 0.0 && self.next_random() < link.loss) {
                Fate::Lost
            } else if bytes.len() + UDP_OVERHEAD > link.mtu {
                Fate::TooBig
            } else {
                Fate::InFlight
            };
            if fate == Fate::InFlight {
                self.in_flight.push(InFlight {
                    arrival: now + link.latency,
                    to: from.other(),
                    sent: self.sent.len(),
                });
            }
            self.sent.push(Sent {
                at: now,
                from,
                to,
                msg: Msg::of(&bytes),
                bytes,
                fate,
            });
        }
        for side in [Side::A, Side::B] {
            while let Some(event) = self.node(side).poll_event() {
                self.events.push((now, side, event));
            }
        }
    }
}

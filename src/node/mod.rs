//! The sans-IO WireGuard node: peers, allowed-IPs routing, timers and stats.
//!
//! No sockets, threads or clock of its own: every input carries the caller's
//! `now`, and every output goes into a buffer the caller owns (a
//! [`DatagramSink`] for UDP, a [`PacketSink`] for the TUN side), so packets are
//! encrypted and decrypted in place with no copy and no allocation.
//!
//! # Call order
//!
//! 1. Feed inputs: [`Node::handle_tun_packet`] for each IP packet read from
//!    the TUN, [`Node::handle_datagram`] for each UDP datagram received.
//!    Before each call the caller makes sure the sinks have room:
//!    [`Node::max_datagram`] bytes in the datagram sink, the datagram's length
//!    in the packet sink.
//! 2. After a batch, send the datagram sink's contents, then call
//!    [`Node::drain_pending`] while [`Node::has_pending`] says so.
//! 3. Sleep until [`Node::poll_timeout`], then call [`Node::handle_timeout`].
//!    A spurious call does nothing harmful.
//! 4. Take events with [`Node::poll_event`].
//!
//! # Time
//!
//! boringtun's `Tunn` (the crates.io release) reads its own clock
//! (`CLOCK_BOOTTIME`, which counts a phone's sleep) and keeps its timers
//! private. The node therefore does not own WireGuard's timer rules; it
//! shadows the events they depend on (the `timers` module) to know *when* to call
//! `update_timers`, and boringtun decides *what* to do. The caller's `now`
//! (monotonic) only schedules those wakeups. Tests run two nodes over the
//! simulated link of `crate::testing::sim`, whose clock jumps from one wakeup
//! to the next; with the `testing` feature boringtun reads a mock clock that
//! jumps with it, so timers are tested by the datagrams they make the nodes
//! send (`cargo test --lib --features testing`; a plain `cargo test` reports
//! those tests as ignored).
//!
//! boringtun's handshake rate limiter likewise counts on its own clock and
//! resets only when asked; [`Node::poll_timeout`] asks once handshake
//! messages have stopped for [`LIMITER_RESET_AFTER`], so a flood cannot leave
//! it "under load".
//!
//! # Security
//!
//! A peer's endpoint moves only on an authenticated packet: a handshake
//! message boringtun verified (it answers an initiation with a response, a
//! response with a keepalive) or a data packet that decrypted. A cookie reply,
//! which boringtun writes under load before authenticating anything, goes
//! back to the sender and changes nothing.

mod health;
mod packet;
mod peer;
mod routing;
mod timers;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use boringtun::noise::handshake::parse_handshake_anon;
use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::noise::{Packet, Tunn, TunnResult};
use boringtun::x25519;

pub use health::PEER_UNREACHABLE_AFTER;
/// The node's IP header parser, for the fuzz targets (feature `testing`).
#[cfg(feature = "testing")]
pub use packet::{IpHeader, parse as parse_ip_header};

use routing::RoutingTable;

use crate::config::{Endpoint, PeerConfig, PublicKey, TunnelConfig};
use peer::{MSG_DATA, MSG_HANDSHAKE_INIT, MSG_HANDSHAKE_RESPONSE, Peer};

/// Size of a handshake initiation, the largest message boringtun writes that
/// does not carry a packet; every datagram buffer must hold at least this.
pub const HANDSHAKE_INIT_LEN: usize = 148;

/// Bytes a WireGuard data message adds to the IP packet it carries: a
/// 16-byte header (type, receiver index, counter) and a 16-byte auth tag.
pub const DATA_OVERHEAD: usize = 32;

/// Handshake messages per second across all peers before boringtun answers
/// with cookie replies instead (each message passes the limiter twice: once in
/// the node to find the peer, once in `Tunn`, hence the doubling).
const HANDSHAKES_PER_SECOND_UNDER_LOAD: u64 = 2 * 100;

/// How long after the last handshake message the node wakes to reset the rate
/// limiter: boringtun resets its count at most once a second (by its own
/// clock) and only when asked, so without this wakeup a limiter that a flood
/// put "under load" would stay there. The slack covers the two clocks
/// disagreeing by a few milliseconds.
pub const LIMITER_RESET_AFTER: Duration = Duration::from_millis(1_050);

/// Where the node writes UDP datagrams. Implemented by [`crate::gso::GsoQueue`].
pub trait DatagramSink {
    /// Free space for the next datagram.
    fn tail(&mut self) -> &mut [u8];
    /// Queues the `len` bytes written at the start of `tail()` for `destination`.
    fn commit(&mut self, destination: SocketAddr, len: usize);
}

/// Where the node writes decrypted IP packets. Implemented by [`crate::batch::PacketBatch`].
pub trait PacketSink {
    /// Free space for the next packet.
    fn tail(&mut self) -> &mut [u8];
    /// Adds the `len` bytes written at the start of `tail()` as one packet.
    fn commit(&mut self, len: usize);
    /// Adds the bytes at `range` of `tail()` as one packet, moving them to
    /// its start first. Returns `false`, adding nothing, when `range` does not
    /// lie inside `tail()`.
    fn commit_from(&mut self, range: Range<usize>) -> bool {
        let tail = self.tail();
        if range.end > tail.len() || range.start > range.end {
            return false;
        }
        let len = range.len();
        if range.start != 0 {
            tail.copy_within(range, 0);
        }
        self.commit(len);
        true
    }
}

/// A packet boringtun decrypted into a [`PacketSink`]'s tail: where it
/// sits there, which peer sent it and the source address it claims.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Decrypted {
    peer: u32,
    range: Range<usize>,
    source: IpAddr,
}

impl Decrypted {
    /// Locates `packet` inside the tail that started at address `tail_start`
    /// and held `tail_len` bytes; `None` if it lies outside (boringtun always
    /// writes into the buffer it is given, so that is never expected).
    fn locate(
        peer: u32,
        (tail_start, tail_len): (usize, usize),
        packet: &[u8],
        source: IpAddr,
    ) -> Option<Self> {
        let start = (packet.as_ptr() as usize).checked_sub(tail_start)?;
        let end = start.checked_add(packet.len())?;
        (end <= tail_len).then_some(Self {
            peer,
            range: start..end,
            source,
        })
    }
}

/// Something the node wants the app to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A handshake with this peer completed.
    HandshakeCompleted {
        /// The peer.
        public_key: PublicKey,
    },
    /// The peer's handshakes have gone unanswered for [`PEER_UNREACHABLE_AFTER`].
    PeerUnreachable {
        /// The peer.
        public_key: PublicKey,
        /// Since the first unanswered handshake initiation.
        unanswered_for: std::time::Duration,
    },
    /// A peer reported unreachable sent an authenticated packet again.
    PeerReachable {
        /// The peer.
        public_key: PublicKey,
    },
    /// The peer's packets now come from (and go to) a new address.
    EndpointChanged {
        /// The peer.
        public_key: PublicKey,
        /// Its new address.
        endpoint: SocketAddr,
    },
}

/// Packets dropped, by reason. Exported to Kotlin and Swift as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, uniffi::Record)]
pub struct DropStats {
    /// IP packets from the TUN that were not IPv4/IPv6 or were truncated,
    /// and empty datagrams on a socketpair TUN.
    pub malformed_ip: u64,
    /// IP packets from the TUN larger than the config's MTU (the interface's
    /// MTU is set larger), dropped whole rather than cut.
    pub oversized_tun_packet: u64,
    /// IP packets for a destination no peer's allowed IPs cover.
    pub no_route: u64,
    /// Decrypted packets whose source address is not in the sender's allowed IPs.
    pub source_not_allowed: u64,
    /// Datagrams that are not WireGuard messages, fail authentication, or are replays.
    pub invalid_datagram: u64,
    /// Handshake initiations for a public key that is not a peer.
    pub unknown_peer: u64,
    /// IP packets for a peer with no endpoint yet.
    pub no_endpoint: u64,
    /// Packets that could not be written to the TUN.
    pub tun_write: u64,
    /// Datagrams that could not be sent.
    pub udp_send: u64,
    /// IP packets the tunnel's flow queue dropped under load: CoDel's
    /// congestion signal, or the fattest flow's oldest when the queue was full.
    pub queue: u64,
}

impl DropStats {
    /// All drops together.
    pub fn total(&self) -> u64 {
        self.malformed_ip
            + self.oversized_tun_packet
            + self.no_route
            + self.source_not_allowed
            + self.invalid_datagram
            + self.unknown_peer
            + self.no_endpoint
            + self.tun_write
            + self.udp_send
            + self.queue
    }
}

/// Counters for one peer. Exported to Kotlin and Swift as it is.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct PeerStats {
    /// The peer's public key (base64 in Kotlin and Swift).
    pub public_key: PublicKey,
    /// Where its packets currently go, `address:port`.
    pub endpoint: Option<SocketAddr>,
    /// Bytes of IP packets sent to the peer (before encryption).
    pub tx_bytes: u64,
    /// Bytes of IP packets received from the peer (after decryption).
    pub rx_bytes: u64,
    /// IP packets sent to the peer.
    pub tx_packets: u64,
    /// IP packets received from the peer.
    pub rx_packets: u64,
    /// Wall-clock time of the last completed handshake.
    pub last_handshake: Option<SystemTime>,
}

/// Settings the node needs beyond the config.
#[derive(Debug, Clone, Copy)]
pub struct NodeOptions {
    /// Seeds peer indices, so runs can be reproduced.
    pub seed: u64,
    /// Largest IP packet the caller will hand in (the TUN read buffer size).
    pub max_packet: usize,
}

/// The sans-IO core. See the module docs for the call order.
pub struct Node {
    options: NodeOptions,
    secret: x25519::StaticSecret,
    public: x25519::PublicKey,
    rate_limiter: Arc<RateLimiter>,
    /// Keyed by the 24-bit index boringtun puts in the upper bits of every
    /// session index, so a data packet's receiver index finds its peer.
    peers: BTreeMap<u32, Peer>,
    by_key: HashMap<PublicKey, u32>,
    /// Config order, for stats.
    order: Vec<u32>,
    routes: RoutingTable<u32>,
    next_index: u32,
    /// When the rate limiter must be told to reset (see [`LIMITER_RESET_AFTER`]).
    limiter_reset_at: Option<Instant>,
    events: VecDeque<Event>,
    drops: DropStats,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("peers", &self.order.len())
            .finish_non_exhaustive()
    }
}

const INDEX_MASK: u32 = 0x00ff_ffff;

impl Node {
    /// Builds a node. A peer whose endpoint is a host name without a
    /// `resolved_endpoint` has no endpoint until [`Node::set_resolved_endpoint`].
    pub fn new(config: TunnelConfig, options: NodeOptions, now: Instant) -> Self {
        let secret = x25519::StaticSecret::from(*config.private_key().as_bytes());
        let public = x25519::PublicKey::from(&secret);
        let rate_limiter = Arc::new(RateLimiter::new(&public, HANDSHAKES_PER_SECOND_UNDER_LOAD));
        let mut node = Self {
            options,
            secret,
            public,
            rate_limiter,
            peers: BTreeMap::new(),
            by_key: HashMap::new(),
            order: Vec::new(),
            routes: RoutingTable::default(),
            next_index: (options.seed as u32) & INDEX_MASK,
            limiter_reset_at: None,
            events: VecDeque::new(),
            drops: DropStats::default(),
        };
        for peer in config.peers() {
            node.add_peer(peer.clone(), &BTreeMap::new(), now);
        }
        node.rebuild_routes();
        node
    }

    /// The longest IP packet the tunnel carries (its MTU).
    pub fn max_packet(&self) -> usize {
        self.options.max_packet
    }

    /// The largest datagram a single input can produce; keep this much room in
    /// the datagram sink before each call.
    pub fn max_datagram(&self) -> usize {
        (self.options.max_packet + DATA_OVERHEAD).max(HANDSHAKE_INIT_LEN)
    }

    /// Adds a peer under a fresh index that neither a current peer nor one in
    /// `reserved` (peers being carried over by a reconfiguration) uses.
    fn add_peer(&mut self, config: PeerConfig, reserved: &BTreeMap<u32, Peer>, now: Instant) {
        let index = loop {
            let candidate = self.next_index;
            self.next_index = (self.next_index + 1) & INDEX_MASK;
            if !self.peers.contains_key(&candidate) && !reserved.contains_key(&candidate) {
                break candidate;
            }
        };
        let key = config.public_key;
        let peer = Peer::new(config, &self.secret, index, self.rate_limiter.clone(), now);
        self.peers.insert(index, peer);
        self.by_key.insert(key, index);
        self.order.push(index);
    }

    fn rebuild_routes(&mut self) {
        self.routes.clear();
        // Config order: for a prefix listed by two peers, the later one wins, as in wg.
        for id in &self.order {
            for net in &self.peers[id].config.allowed_ips {
                self.routes.insert(*net, *id);
            }
        }
    }

    /// Applies a new config. Peers whose key, preshared key and keepalive are
    /// unchanged keep their sessions; their endpoint follows the config only
    /// when the config's endpoint changed. A new private key starts every
    /// peer afresh.
    pub fn update_config(&mut self, config: TunnelConfig, now: Instant) {
        if config.private_key().public_key().as_bytes() != self.public.as_bytes() {
            let events = std::mem::take(&mut self.events);
            let drops = self.drops.clone();
            *self = Node::new(config, self.options, now);
            self.events = events;
            self.drops = drops;
            return;
        }
        let mut old = std::mem::take(&mut self.peers);
        self.by_key.clear();
        self.order.clear();
        for new in config.peers() {
            let existing = old
                .iter()
                .find(|(_, p)| p.config.public_key == new.public_key)
                .map(|(id, _)| *id);
            match existing.and_then(|id| old.remove(&id).map(|p| (id, p))) {
                Some((id, mut peer))
                    if peer.config.preshared_key == new.preshared_key
                        && peer.config.persistent_keepalive == new.persistent_keepalive =>
                {
                    let endpoint_changed = peer.config.endpoint != new.endpoint
                        || peer.config.resolved_endpoint != new.resolved_endpoint;
                    if endpoint_changed && let Some(addr) = new.initial_endpoint() {
                        peer.endpoint = Some(addr);
                    }
                    peer.config = new.clone();
                    self.peers.insert(id, peer);
                    self.by_key.insert(new.public_key, id);
                    self.order.push(id);
                }
                // New peer, or one whose handshake parameters changed: start afresh.
                _ => self.add_peer(new.clone(), &old, now),
            }
        }
        self.rebuild_routes();
    }

    /// Encrypts one IP packet read from the TUN into `net`.
    ///
    /// Malformed packets, packets no peer's allowed IPs cover, and packets for
    /// a peer without endpoint are dropped and counted.
    pub fn handle_tun_packet(&mut self, packet: &[u8], now: Instant, net: &mut impl DatagramSink) {
        let Some(header) = packet::parse(packet) else {
            self.drops.malformed_ip += 1;
            return;
        };
        let packet = &packet[..header.total_len];
        let Some(id) = self.routes.lookup(header.destination) else {
            self.drops.no_route += 1;
            return;
        };
        let Some(peer) = self.peers.get_mut(&id) else {
            self.drops.no_route += 1;
            return;
        };
        if peer.endpoint.is_none() {
            self.drops.no_endpoint += 1;
            return;
        }
        if peer.timers.is_stale(now) {
            peer.tick(net, now);
        }
        if net.tail().len() < (packet.len() + DATA_OVERHEAD).max(HANDSHAKE_INIT_LEN) {
            // The caller keeps `max_datagram` free; reaching this is a caller bug.
            debug_assert!(false, "datagram sink without room");
            self.drops.udp_send += 1;
            return;
        }
        match peer.tunn.encapsulate(packet, net.tail()) {
            TunnResult::WriteToNetwork(out) => {
                let len = out.len();
                peer.send(net, len, now);
            }
            TunnResult::Err(e) => tracing::trace!(error = ?e, "encapsulate failed"),
            // Queued inside boringtun until the handshake completes.
            _ => {}
        }
    }

    /// Handles one UDP datagram from `from`: decrypted IP packets go to `tun`,
    /// handshake and cookie replies to `net`.
    ///
    /// Datagrams that are not WireGuard, fail authentication or come from
    /// unknown peers, and decrypted packets whose source the peer may not use,
    /// are dropped and counted.
    pub fn handle_datagram(
        &mut self,
        from: SocketAddr,
        datagram: &[u8],
        now: Instant,
        net: &mut impl DatagramSink,
        tun: &mut impl PacketSink,
    ) {
        let Some(id) = self.identify(from, datagram, now, net) else {
            return;
        };
        let max_datagram = self.max_datagram();
        let Some(peer) = self.peers.get_mut(&id) else {
            self.drops.invalid_datagram += 1;
            return;
        };
        if peer.timers.is_stale(now) {
            peer.tick(net, now);
        }
        let kind = datagram[0];
        let buf = tun.tail();
        if buf.len() < datagram.len().max(HANDSHAKE_INIT_LEN) {
            debug_assert!(false, "packet sink without room");
            self.drops.tun_write += 1;
            return;
        }
        let tail = (buf.as_ptr() as usize, buf.len());
        let decrypted = match peer.tunn.decapsulate(Some(from.ip()), datagram, buf) {
            TunnResult::WriteToTunnelV4(packet, source) => {
                Decrypted::locate(id, tail, packet, source.into())
            }
            TunnResult::WriteToTunnelV6(packet, source) => {
                Decrypted::locate(id, tail, packet, source.into())
            }
            TunnResult::WriteToNetwork(reply) => {
                // Only a handshake that verified yields its next message: a
                // response to an initiation, a keepalive to a response. Anything
                // else (a cookie reply, written under load before any
                // authentication) proves nothing about the sender.
                let completed = matches!(
                    (kind, reply[0]),
                    (MSG_HANDSHAKE_INIT, MSG_HANDSHAKE_RESPONSE)
                        | (MSG_HANDSHAKE_RESPONSE, MSG_DATA)
                );
                if !completed {
                    // The cookie is bound to the sender's address: it goes there.
                    let len = reply.len();
                    if let Some(tail) = net.tail().get_mut(..len) {
                        tail.copy_from_slice(reply);
                        net.commit(from, len);
                    }
                    return;
                }
                peer.on_authenticated(kind, from, now, &mut self.events);
                if net.tail().len() >= reply.len() {
                    let len = reply.len();
                    net.tail()[..len].copy_from_slice(reply);
                    peer.send(net, len, now);
                }
                let event = peer.on_handshake_completed(now);
                self.events.push_back(event);
                // boringtun may now release packets it queued during the handshake.
                peer.queue_pending = true;
                peer.drain_queue(net, max_datagram, now);
                return;
            }
            TunnResult::Done => {
                // A keepalive (authenticated, nothing to deliver) or a cookie reply.
                if kind == MSG_DATA {
                    peer.on_authenticated(kind, from, now, &mut self.events);
                }
                return;
            }
            TunnResult::Err(e) => {
                tracing::trace!(error = ?e, "datagram rejected");
                self.drops.invalid_datagram += 1;
                return;
            }
        };
        match decrypted {
            Some(packet) => self.deliver(packet, from, now, tun),
            None => self.drops.invalid_datagram += 1,
        }
    }

    /// Checks a handshake message's MAC1 and the rate limiter (answering with
    /// a cookie reply under load). `false`: the datagram was dealt with.
    fn admit_handshake(
        &mut self,
        from: SocketAddr,
        datagram: &[u8],
        now: Instant,
        net: &mut impl DatagramSink,
    ) -> bool {
        // Self-limiting: boringtun resets at most once a second. The wakeup
        // makes sure the last flood's count does not outlive the flood.
        self.rate_limiter.reset_count();
        self.limiter_reset_at = Some(now + LIMITER_RESET_AFTER);
        let mut cookie = [0u8; 64];
        match self
            .rate_limiter
            .verify_packet(Some(from.ip()), datagram, &mut cookie)
        {
            Ok(_) => true,
            Err(TunnResult::WriteToNetwork(reply)) => {
                let len = reply.len();
                if let Some(tail) = net.tail().get_mut(..len) {
                    tail.copy_from_slice(reply);
                    net.commit(from, len);
                }
                false
            }
            Err(_) => {
                self.drops.invalid_datagram += 1;
                false
            }
        }
    }

    /// Finds the peer a datagram is for. Handshake messages are checked
    /// against the rate limiter (answering with a cookie under load) before the
    /// costly key agreement that reveals the sender.
    fn identify(
        &mut self,
        from: SocketAddr,
        datagram: &[u8],
        now: Instant,
        net: &mut impl DatagramSink,
    ) -> Option<u32> {
        let index = match Tunn::parse_incoming_packet(datagram) {
            Err(_) => None,
            Ok(Packet::HandshakeInit(init)) => {
                if !self.admit_handshake(from, datagram, now, net) {
                    return None;
                }
                match parse_handshake_anon(&self.secret, &self.public, &init) {
                    Ok(half) => {
                        let key = PublicKey::from_bytes(half.peer_static_public);
                        let id = self.by_key.get(&key).copied();
                        if id.is_none() {
                            self.drops.unknown_peer += 1;
                            return None;
                        }
                        return id;
                    }
                    Err(_) => None,
                }
            }
            Ok(Packet::HandshakeResponse(p)) => {
                if !self.admit_handshake(from, datagram, now, net) {
                    return None;
                }
                Some(p.receiver_idx >> 8)
            }
            Ok(Packet::PacketCookieReply(p)) => Some(p.receiver_idx >> 8),
            Ok(Packet::PacketData(p)) => Some(p.receiver_idx >> 8),
        };
        if index.is_none() {
            self.drops.invalid_datagram += 1;
        }
        index
    }

    /// Accounts an authenticated data packet to its peer and hands it to
    /// `tun` when its source is an address the peer may use.
    fn deliver(
        &mut self,
        packet: Decrypted,
        from: SocketAddr,
        now: Instant,
        tun: &mut impl PacketSink,
    ) {
        let Some(peer) = self.peers.get_mut(&packet.peer) else {
            self.drops.invalid_datagram += 1;
            return;
        };
        peer.on_authenticated(MSG_DATA, from, now, &mut self.events);
        peer.timers.last_data_received = Some(now);
        if self.routes.lookup(packet.source) != Some(packet.peer) {
            self.drops.source_not_allowed += 1;
            return;
        }
        let len = packet.range.len();
        if !tun.commit_from(packet.range) {
            self.drops.tun_write += 1;
            return;
        }
        peer.counters.rx_packets += 1;
        peer.counters.rx_bytes += len as u64;
    }

    /// Whether some peer still has queued packets waiting for room in `net`.
    pub fn has_pending(&self) -> bool {
        self.peers.values().any(|p| p.queue_pending)
    }

    /// Sends queued packets as room in `net` allows.
    pub fn drain_pending(&mut self, now: Instant, net: &mut impl DatagramSink) {
        let max = self.max_datagram();
        for peer in self.peers.values_mut().filter(|p| p.queue_pending) {
            peer.drain_queue(net, max, now);
        }
    }

    /// When [`Self::handle_timeout`] should next run, and why.
    pub fn poll_timeout(&self) -> Option<(Instant, &'static str)> {
        self.peers
            .values()
            .flat_map(|p| {
                let health = p.health.deadline().map(|at| (at, "peer unreachable"));
                p.timers.next_deadline().into_iter().chain(health)
            })
            .chain(self.limiter_reset_at.map(|at| (at, "rate limiter reset")))
            .min_by_key(|(at, _)| *at)
    }

    /// Runs the timers of every peer that is due, reports peers whose
    /// handshakes have gone unanswered for [`PEER_UNREACHABLE_AFTER`], and
    /// resets the rate limiter once handshake messages stopped arriving.
    pub fn handle_timeout(&mut self, now: Instant, net: &mut impl DatagramSink) {
        if self.limiter_reset_at.is_some_and(|at| at <= now) {
            self.limiter_reset_at = None;
            self.rate_limiter.reset_count();
        }
        for peer in self.peers.values_mut() {
            if peer.timers.next_deadline().is_some_and(|(at, _)| at <= now) {
                peer.tick(net, now);
            }
            if let Some(unanswered_for) = peer.health.poll_unreachable(now) {
                tracing::debug!(?unanswered_for, "peer unreachable");
                self.events.push_back(Event::PeerUnreachable {
                    public_key: peer.config.public_key,
                    unanswered_for,
                });
            }
        }
    }

    /// Sets a peer's endpoint from a fresh resolution of its configured host
    /// name (the runtime resolves in the background). Returns false for an
    /// unknown peer. The config's own endpoint is a trusted source; this is
    /// not roaming, which follows authenticated packets only.
    ///
    /// The peer moves to `addr` when it had no endpoint yet, or when the
    /// answer differs from the previous resolution (the name now points
    /// elsewhere); an unchanged answer leaves an endpoint learned by roaming
    /// alone. On a move, a handshake starts at once.
    pub fn set_resolved_endpoint(
        &mut self,
        public_key: &PublicKey,
        addr: SocketAddr,
        now: Instant,
        net: &mut impl DatagramSink,
    ) -> bool {
        let Some(peer) = self
            .by_key
            .get(public_key)
            .and_then(|id| self.peers.get_mut(id))
        else {
            return false;
        };
        let previous = peer.config.resolved_endpoint.replace(addr);
        let moved = peer.endpoint.is_none() || previous != Some(addr);
        if moved && peer.endpoint != Some(addr) {
            tracing::debug!(endpoint = %addr, "peer endpoint resolved");
            peer.endpoint = Some(addr);
            self.events.push_back(Event::EndpointChanged {
                public_key: *public_key,
                endpoint: addr,
            });
            peer.force_handshake(net, now);
        }
        true
    }

    /// Peers whose configured endpoint is a host name (and so may resolve
    /// differently after a network change), with that endpoint, in config order.
    pub fn host_endpoints(&self) -> Vec<(PublicKey, Endpoint)> {
        self.host_endpoints_where(|_| true)
    }

    /// The endpoint of the node's only peer, when it has exactly one and
    /// knows where it is (the usual mobile tunnel: one server). The IO layer
    /// may keep a socket `connect()`ed to it.
    pub fn sole_peer_endpoint(&self) -> Option<SocketAddr> {
        match self.order.as_slice() {
            [only] => self.peers.get(only)?.endpoint,
            _ => None,
        }
    }

    /// Peers whose endpoint is a host name that has no address yet.
    pub fn unresolved_peers(&self) -> Vec<(PublicKey, Endpoint)> {
        self.host_endpoints_where(|p| p.endpoint.is_none())
    }

    fn host_endpoints_where(&self, filter: impl Fn(&Peer) -> bool) -> Vec<(PublicKey, Endpoint)> {
        self.order
            .iter()
            .map(|id| &self.peers[id])
            .filter(|p| filter(p))
            .filter_map(|p| match &p.config.endpoint {
                Some(e) if e.is_host_name() => Some((p.config.public_key, e.clone())),
                _ => None,
            })
            .collect()
    }

    /// The endpoint the config gives a peer (not where it was last heard
    /// from); `None` for an unknown peer or one without an endpoint.
    pub fn configured_endpoint(&self, public_key: &PublicKey) -> Option<&Endpoint> {
        let id = self.by_key.get(public_key)?;
        self.peers.get(id)?.config.endpoint.as_ref()
    }

    /// After a network change: a fresh handshake with every peer that has an endpoint.
    pub fn reconnect(&mut self, now: Instant, net: &mut impl DatagramSink) {
        for peer in self.peers.values_mut() {
            peer.force_handshake(net, now);
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Drop counters.
    pub fn drops(&self) -> &DropStats {
        &self.drops
    }

    /// Per-peer counters in config order. `anchor` and `wall_anchor` are one
    /// moment on the caller's clock and on the wall clock; handshake times are
    /// converted through them, so repeated calls report identical times.
    pub fn peer_stats(&self, anchor: Instant, wall_anchor: SystemTime) -> Vec<PeerStats> {
        self.order
            .iter()
            .map(|id| {
                let p = &self.peers[id];
                PeerStats {
                    public_key: p.config.public_key,
                    endpoint: p.endpoint,
                    tx_bytes: p.counters.tx_bytes,
                    rx_bytes: p.counters.rx_bytes,
                    tx_packets: p.counters.tx_packets,
                    rx_packets: p.counters.rx_packets,
                    last_handshake: p.last_handshake.map(|at| {
                        if at >= anchor {
                            wall_anchor + (at - anchor)
                        } else {
                            wall_anchor - (anchor - at)
                        }
                    }),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod decrypted_tests {
    use super::*;

    #[test]
    fn a_decrypted_packet_is_located_only_inside_the_tail() {
        let tail = [0u8; 64];
        let at = (tail.as_ptr() as usize, tail.len());
        let source = IpAddr::from([10, 0, 0, 1]);
        let inside = Decrypted::locate(7, at, &tail[16..48], source);
        assert_eq!(
            inside,
            Some(Decrypted {
                peer: 7,
                range: 16..48,
                source
            })
        );
        let elsewhere = [0u8; 8];
        assert_eq!(Decrypted::locate(7, at, &elsewhere, source), None);
        assert_eq!(
            Decrypted::locate(7, (at.0, 32), &tail[16..48], source),
            None
        );
    }
}

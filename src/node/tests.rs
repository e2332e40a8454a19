//! Two nodes joined by an in-memory link: handshake, data, roaming, timers,
//! reconfiguration. Time is real (boringtun reads its own clock) but every
//! scenario runs in milliseconds; deadlines are asserted exactly.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::PEER_UNREACHABLE_AFTER;
use super::timers::{REKEY_TIMEOUT, TIMER_SLACK};
use super::*;
use crate::config::{PeerConfig, PrivateKey, TunnelConfig};
use std::num::NonZeroU16;

#[derive(Default)]
struct Net {
    buf: Vec<u8>,
    sent: Vec<(SocketAddr, Vec<u8>)>,
}

impl DatagramSink for Net {
    fn tail(&mut self) -> &mut [u8] {
        self.buf.resize(65_536, 0);
        &mut self.buf
    }
    fn commit(&mut self, destination: SocketAddr, len: usize) {
        self.sent.push((destination, self.buf[..len].to_vec()));
    }
}

#[derive(Default)]
struct Tun {
    buf: Vec<u8>,
    written: Vec<Vec<u8>>,
}

impl PacketSink for Tun {
    fn tail(&mut self) -> &mut [u8] {
        self.buf.resize(65_536, 0);
        &mut self.buf
    }
    fn commit(&mut self, len: usize) {
        self.written.push(self.buf[..len].to_vec());
    }
}

const A_ADDR: &str = "192.0.2.1:51820";
const B_ADDR: &str = "192.0.2.2:51820";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn peer(
    key: &PrivateKey,
    allowed: &[&str],
    endpoint: Option<&str>,
    keepalive: Option<u16>,
) -> PeerConfig {
    PeerConfig {
        endpoint: endpoint.map(|e| e.parse().unwrap()),
        allowed_ips: allowed.iter().map(|a| a.parse().unwrap()).collect(),
        persistent_keepalive: keepalive.and_then(NonZeroU16::new),
        ..PeerConfig::new(key.public_key())
    }
}

fn config(key: PrivateKey, peers: Vec<PeerConfig>) -> TunnelConfig {
    TunnelConfig::new(key, peers).unwrap()
}

fn options() -> NodeOptions {
    NodeOptions {
        seed: 7,
        max_packet: 1420,
    }
}

/// An IPv4 packet from `src` to `dst` with a 20-byte payload.
fn ip_packet(src: [u8; 4], dst: [u8; 4], tag: u8) -> Vec<u8> {
    let mut p = vec![tag; 40];
    p[0] = 0x45;
    p[1] = 0;
    p[2..4].copy_from_slice(&40u16.to_be_bytes());
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    p
}

struct Pair {
    a: Node,
    b: Node,
    a_key: PrivateKey,
    b_key: PrivateKey,
}

impl Pair {
    /// A knows B's endpoint; B waits to be contacted.
    fn new(now: Instant) -> Pair {
        let (a_key, b_key) = (PrivateKey::generate(), PrivateKey::generate());
        let a = Node::new(
            config(
                a_key,
                vec![peer(&b_key, &["10.0.0.2/32"], Some(B_ADDR), None)],
            ),
            options(),
            now,
        );
        let b = Node::new(
            config(b_key, vec![peer(&a_key, &["10.0.0.1/32"], None, None)]),
            options(),
            now,
        );
        Pair { a, b, a_key, b_key }
    }

    /// Delivers every datagram each side sent to the other until both are quiet.
    /// Returns the IP packets written to (A's TUN, B's TUN).
    fn pump(
        &mut self,
        mut a_net: Net,
        mut b_net: Net,
        now: Instant,
    ) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let (mut a_tun, mut b_tun) = (Tun::default(), Tun::default());
        for _ in 0..10 {
            if a_net.sent.is_empty() && b_net.sent.is_empty() {
                break;
            }
            let (mut next_a, mut next_b) = (Net::default(), Net::default());
            for (dst, d) in a_net.sent.drain(..) {
                assert_eq!(dst, addr(B_ADDR));
                self.b
                    .handle_datagram(addr(A_ADDR), &d, now, &mut next_b, &mut b_tun);
            }
            for (dst, d) in b_net.sent.drain(..) {
                assert_eq!(dst, addr(A_ADDR));
                self.a
                    .handle_datagram(addr(B_ADDR), &d, now, &mut next_a, &mut a_tun);
            }
            (a_net, b_net) = (next_a, next_b);
        }
        (a_tun.written, b_tun.written)
    }

    fn send_a_to_b(&mut self, tag: u8, now: Instant) -> Vec<Vec<u8>> {
        let mut net = Net::default();
        self.a
            .handle_tun_packet(&ip_packet([10, 0, 0, 1], [10, 0, 0, 2], tag), now, &mut net);
        self.pump(net, Net::default(), now).1
    }
}

fn events(node: &mut Node) -> Vec<Event> {
    std::iter::from_fn(|| node.poll_event()).collect()
}

#[test]
fn first_packet_triggers_a_handshake_then_arrives() {
    let now = Instant::now();
    let mut p = Pair::new(now);
    let mut net = Net::default();
    let packet = ip_packet([10, 0, 0, 1], [10, 0, 0, 2], 1);
    p.a.handle_tun_packet(&packet, now, &mut net);
    assert_eq!(net.sent.len(), 1);
    assert_eq!(net.sent[0].1[0], 1, "a handshake initiation goes out first");
    assert_eq!(net.sent[0].1.len(), HANDSHAKE_INIT_LEN);

    let (_, b_tun) = p.pump(net, Net::default(), now);
    assert_eq!(
        b_tun,
        vec![packet],
        "the queued packet follows the handshake"
    );
    assert_eq!(
        events(&mut p.a),
        vec![Event::HandshakeCompleted {
            public_key: p.b_key.public_key()
        }]
    );
    assert_eq!(
        events(&mut p.b),
        vec![
            Event::EndpointChanged {
                public_key: p.a_key.public_key(),
                endpoint: addr(A_ADDR)
            },
            Event::HandshakeCompleted {
                public_key: p.a_key.public_key()
            },
        ]
    );
    let stats = p.b.peer_stats(now, SystemTime::now());
    assert_eq!(stats[0].rx_packets, 1);
    assert_eq!(stats[0].endpoint, Some(addr(A_ADDR)));
}

#[test]
fn data_flows_back_once_the_responder_knows_the_endpoint() {
    let now = Instant::now();
    let mut p = Pair::new(now);
    p.send_a_to_b(1, now);
    let mut net = Net::default();
    let reply = ip_packet([10, 0, 0, 2], [10, 0, 0, 1], 9);
    p.b.handle_tun_packet(&reply, now, &mut net);
    assert_eq!(net.sent.len(), 1);
    assert_eq!(net.sent[0].1[0], 4, "a data message, no new handshake");
    let (a_tun, _) = p.pump(Net::default(), net, now);
    assert_eq!(a_tun, vec![reply]);
}

#[test]
fn a_peer_without_endpoint_drops_and_counts() {
    let now = Instant::now();
    let mut p = Pair::new(now);
    let mut net = Net::default();
    p.b.handle_tun_packet(&ip_packet([10, 0, 0, 2], [10, 0, 0, 1], 1), now, &mut net);
    assert!(net.sent.is_empty());
    assert_eq!(p.b.drops().no_endpoint, 1);
}

#[test]
fn the_endpoint_follows_authenticated_packets() {
    let now = Instant::now();
    let mut p = Pair::new(now);
    p.send_a_to_b(1, now);
    events(&mut p.b);

    let mut net = Net::default();
    p.a.handle_tun_packet(&ip_packet([10, 0, 0, 1], [10, 0, 0, 2], 2), now, &mut net);
    let roamed = addr("198.51.100.9:40000");
    let mut tun = Tun::default();
    p.b.handle_datagram(roamed, &net.sent[0].1, now, &mut Net::default(), &mut tun);
    assert_eq!(tun.written.len(), 1);
    assert_eq!(
        events(&mut p.b),
        vec![Event::EndpointChanged {
            public_key: p.a_key.public_key(),
            endpoint: roamed
        }]
    );

    // A forged datagram from elsewhere does not move the endpoint.
    let mut forged = net.sent[0].1.clone();
    forged[20] ^= 1;
    p.b.handle_datagram(
        addr("203.0.113.1:1"),
        &forged,
        now,
        &mut Net::default(),
        &mut Tun::default(),
    );
    assert_eq!(
        p.b.peer_stats(now, SystemTime::now())[0].endpoint,
        Some(roamed)
    );
    assert_eq!(p.b.drops().invalid_datagram, 1);
}

#[test]
fn a_handshake_from_an_unknown_key_is_dropped_and_counted() {
    let now = Instant::now();
    let mut p = Pair::new(now);
    let stranger_key = PrivateKey::generate();
    let mut stranger = Node::new(
        config(
            stranger_key,
            vec![peer(&p.b_key, &["10.0.0.2/32"], Some(B_ADDR), None)],
        ),
        options(),
        now,
    );
    let mut net = Net::default();
    stranger.handle_tun_packet(&ip_packet([10, 0, 0, 9], [10, 0, 0, 2], 1), now, &mut net);
    let mut out = Net::default();
    p.b.handle_datagram(
        addr("192.0.2.9:1"),
        &net.sent[0].1,
        now,
        &mut out,
        &mut Tun::default(),
    );
    assert!(out.sent.is_empty(), "no response to a stranger");
    assert_eq!(p.b.drops().unknown_peer, 1);
}

#[test]
fn a_pending_handshake_is_retried_after_rekey_timeout() {
    let t0 = Instant::now();
    let mut p = Pair::new(t0);
    assert_eq!(
        p.a.poll_timeout(),
        None,
        "an idle node without keepalive never wakes"
    );
    let mut net = Net::default();
    p.a.handle_tun_packet(&ip_packet([10, 0, 0, 1], [10, 0, 0, 2], 1), t0, &mut net);
    assert_eq!(
        p.a.poll_timeout(),
        Some((t0 + REKEY_TIMEOUT + TIMER_SLACK, "handshake retransmit"))
    );
}

#[test]
fn an_established_idle_tunnel_wakes_rarely() {
    let now = Instant::now();
    let mut p = Pair::new(now);
    p.send_a_to_b(1, now);
    for node in [&p.a, &p.b] {
        let (at, why) = node.poll_timeout().expect("session timers");
        assert!(
            at >= now + Duration::from_secs(1),
            "woke after {:?} for {why}",
            at - now
        );
    }
}

#[test]
fn persistent_keepalive_connects_at_once() {
    let now = Instant::now();
    let (a_key, b_key) = (PrivateKey::generate(), PrivateKey::generate());
    let mut a = Node::new(
        config(
            a_key,
            vec![peer(&b_key, &["10.0.0.2/32"], Some(B_ADDR), Some(25))],
        ),
        options(),
        now,
    );
    assert_eq!(
        a.poll_timeout(),
        Some((now + TIMER_SLACK, "first keepalive"))
    );
    let mut net = Net::default();
    a.handle_timeout(now + TIMER_SLACK, &mut net);
    assert_eq!(net.sent.len(), 1);
    assert_eq!(net.sent[0].1[0], 1, "handshake initiation");
}

#[test]
fn updating_the_config_keeps_unchanged_peers_sessions() {
    let now = Instant::now();
    let mut p = Pair::new(now);
    p.send_a_to_b(1, now);
    let third = PrivateKey::generate();
    let updated = config(
        p.a_key,
        vec![
            peer(&third, &["10.0.0.3/32"], Some("192.0.2.3:1"), None),
            peer(
                &p.b_key,
                &["10.0.0.2/32", "10.0.1.0/24"],
                Some(B_ADDR),
                None,
            ),
        ],
    );
    p.a.update_config(updated.clone(), now);

    let mut net = Net::default();
    p.a.handle_tun_packet(&ip_packet([10, 0, 0, 1], [10, 0, 1, 5], 2), now, &mut net);
    assert_eq!(net.sent.len(), 1);
    assert_eq!(
        net.sent[0].1[0], 4,
        "the new route uses the existing session"
    );

    // Removing B drops its routes.
    let (key, mut peers) = (*updated.private_key(), updated.peers().to_vec());
    peers.remove(1);
    p.a.update_config(config(key, peers), now);
    p.a.handle_tun_packet(
        &ip_packet([10, 0, 0, 1], [10, 0, 0, 2], 3),
        now,
        &mut Net::default(),
    );
    assert_eq!(p.a.drops().no_route, 1);
}

#[test]
fn reconnect_starts_a_fresh_handshake() {
    let now = Instant::now();
    let mut p = Pair::new(now);
    p.send_a_to_b(1, now);
    let mut net = Net::default();
    p.a.reconnect(now, &mut net);
    assert_eq!(net.sent.len(), 1);
    assert_eq!(net.sent[0].1[0], 1);
    p.pump(net, Net::default(), now);
    assert!(events(&mut p.a).contains(&Event::HandshakeCompleted {
        public_key: p.b_key.public_key()
    }));
}

#[test]
fn garbage_never_panics_and_is_counted() {
    let now = Instant::now();
    let mut p = Pair::new(now);
    let mut seed = 0x1234_5678_u64;
    let mut total = 0;
    for len in 0..400usize {
        let mut d = vec![0u8; len];
        for b in &mut d {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            *b = seed as u8;
        }
        if let Some(first) = d.first_mut() {
            *first = (len % 6) as u8; // hit every message type, and invalid ones
        }
        p.b.handle_datagram(
            addr(A_ADDR),
            &d,
            now,
            &mut Net::default(),
            &mut Tun::default(),
        );
        p.b.handle_tun_packet(&d, now, &mut Net::default());
        total += 1;
    }
    let drops = p.b.drops();
    assert_eq!(drops.invalid_datagram + drops.unknown_peer, total);
    assert_eq!(
        drops.malformed_ip + drops.no_route + drops.no_endpoint,
        total
    );
}

const ATTACKER: &str = "203.0.113.66:666";
/// More handshake messages than the limiter lets through in one second.
const FLOOD: usize = 3 * HANDSHAKES_PER_SECOND_UNDER_LOAD as usize;

fn endpoint_of(node: &Node, now: Instant) -> Option<SocketAddr> {
    node.peer_stats(now, SystemTime::now())[0].endpoint
}

/// A completed handshake, and the initiation and response it used (what an
/// attacker on the path sees).
fn handshake_seen_on_the_wire(p: &mut Pair, now: Instant) -> (Vec<u8>, Vec<u8>) {
    let mut a_net = Net::default();
    p.a.handle_tun_packet(&ip_packet([10, 0, 0, 1], [10, 0, 0, 2], 1), now, &mut a_net);
    let init = a_net.sent[0].1.clone();
    let mut b_net = Net::default();
    p.b.handle_datagram(addr(A_ADDR), &init, now, &mut b_net, &mut Tun::default());
    let response = b_net.sent[0].1.clone();
    assert_eq!((init[0], response[0]), (1, 2));
    p.pump(Net::default(), b_net, now);
    events(&mut p.a);
    events(&mut p.b);
    (init, response)
}

#[test]
fn an_initiation_flood_claiming_a_peers_key_does_not_move_its_endpoint() {
    let now = Instant::now();
    let mut p = Pair::new(now);
    let (init, _) = handshake_seen_on_the_wire(&mut p, now);
    // B rekeys too: handshake messages of both kinds pass its limiter, so the
    // flood meets it at every count.
    let mut b_net = Net::default();
    p.b.reconnect(now, &mut b_net);
    p.pump(Net::default(), b_net, now);
    events(&mut p.b);

    let mut replies = Net::default();
    for _ in 0..FLOOD {
        p.b.handle_datagram(
            addr(ATTACKER),
            &init,
            now,
            &mut replies,
            &mut Tun::default(),
        );
    }
    assert_eq!(endpoint_of(&p.b, now), Some(addr(A_ADDR)));
    assert_eq!(events(&mut p.b), vec![], "no EndpointChanged");
    assert!(
        replies.sent.iter().any(|(_, d)| d[0] == 3),
        "the flood was answered with cookie replies"
    );
    for (to, d) in &replies.sent {
        assert_eq!(
            (*to, d[0]),
            (addr(ATTACKER), 3),
            "only cookie replies, to the sender"
        );
    }
    // Traffic still reaches A.
    let mut net = Net::default();
    let reply = ip_packet([10, 0, 0, 2], [10, 0, 0, 1], 7);
    p.b.handle_tun_packet(&reply, now, &mut net);
    assert_eq!(net.sent.len(), 1);
    assert_eq!(net.sent[0].0, addr(A_ADDR));
}

#[test]
fn forged_responses_under_load_do_not_move_the_endpoint() {
    let now = Instant::now();
    let mut p = Pair::new(now);
    let (_, response) = handshake_seen_on_the_wire(&mut p, now);

    let mut replies = Net::default();
    for _ in 0..FLOOD {
        p.a.handle_datagram(
            addr(ATTACKER),
            &response,
            now,
            &mut replies,
            &mut Tun::default(),
        );
    }
    assert_eq!(endpoint_of(&p.a, now), Some(addr(B_ADDR)));
    assert_eq!(events(&mut p.a), vec![], "no EndpointChanged");
    for (to, d) in &replies.sent {
        assert_eq!(
            (*to, d[0]),
            (addr(ATTACKER), 3),
            "only cookie replies, to the sender"
        );
    }
    let to_b = p.send_a_to_b(9, now);
    assert_eq!(to_b.len(), 1, "traffic still flows to B");
}

#[test]
fn a_response_with_a_bad_mac_is_dropped_before_boringtun() {
    let now = Instant::now();
    let mut p = Pair::new(now);
    let (_, mut response) = handshake_seen_on_the_wire(&mut p, now);
    let before = p.a.drops().invalid_datagram;
    let mac1 = response.len() - 32;
    response[mac1] ^= 1;
    let mut replies = Net::default();
    p.a.handle_datagram(
        addr(ATTACKER),
        &response,
        now,
        &mut replies,
        &mut Tun::default(),
    );
    assert!(replies.sent.is_empty());
    assert_eq!(p.a.drops().invalid_datagram, before + 1);
    assert_eq!(endpoint_of(&p.a, now), Some(addr(B_ADDR)));
}

#[test]
fn the_rate_limiter_recovers_on_its_own_after_a_flood() {
    let t0 = Instant::now();
    let mut p = Pair::new(t0);
    let (_, response) = handshake_seen_on_the_wire(&mut p, t0);
    for _ in 0..FLOOD {
        p.a.handle_datagram(
            addr(ATTACKER),
            &response,
            t0,
            &mut Net::default(),
            &mut Tun::default(),
        );
    }

    // The flood ended at t0: the node wakes once to let the limiter reset.
    let (at, why) = p.a.poll_timeout().expect("a limiter reset is due");
    assert_eq!((at, why), (t0 + LIMITER_RESET_AFTER, "rate limiter reset"));
    // boringtun's limiter reads its own clock; let that much real time pass too.
    std::thread::sleep(at.saturating_duration_since(Instant::now()));
    p.a.handle_timeout(at, &mut Net::default());
    assert!(
        p.a.poll_timeout()
            .is_none_or(|(_, why)| why != "rate limiter reset"),
        "a spurious wakeup is not rescheduled"
    );

    // A handshake A starts completes at once: B's response is not answered
    // with a cookie reply (which would cost a 5 s retry).
    let mut net = Net::default();
    p.a.reconnect(at, &mut net);
    let (mut a_net, mut b_net) = (Net::default(), Net::default());
    p.b.handle_datagram(
        addr(A_ADDR),
        &net.sent[0].1,
        at,
        &mut b_net,
        &mut Tun::default(),
    );
    p.a.handle_datagram(
        addr(B_ADDR),
        &b_net.sent[0].1,
        at,
        &mut a_net,
        &mut Tun::default(),
    );
    assert_ne!(
        a_net.sent.first().map(|(_, d)| d[0]),
        Some(3),
        "no cookie reply"
    );
    assert_eq!(
        events(&mut p.a),
        vec![Event::HandshakeCompleted {
            public_key: p.b_key.public_key()
        }]
    );
}

#[test]
fn unanswered_handshakes_make_a_peer_unreachable_until_it_answers() {
    let t0 = Instant::now();
    let mut p = Pair::new(t0);
    let mut lost = Net::default();
    p.a.handle_tun_packet(&ip_packet([10, 0, 0, 1], [10, 0, 0, 2], 1), t0, &mut lost);
    assert_eq!(lost.sent.len(), 1, "an initiation that B never sees");
    assert_eq!(
        p.a.poll_timeout().map(|(at, _)| at),
        Some(t0 + REKEY_TIMEOUT + TIMER_SLACK),
        "the retransmit comes first"
    );

    // Just before the threshold: nothing to report.
    let before = t0 + PEER_UNREACHABLE_AFTER - Duration::from_millis(1);
    p.a.handle_timeout(before, &mut Net::default());
    assert!(events(&mut p.a).is_empty());
    let at = t0 + PEER_UNREACHABLE_AFTER;
    p.a.handle_timeout(at, &mut Net::default());
    assert_eq!(
        events(&mut p.a),
        vec![Event::PeerUnreachable {
            public_key: p.b_key.public_key(),
            unanswered_for: PEER_UNREACHABLE_AFTER,
        }]
    );
    p.a.handle_timeout(at + REKEY_TIMEOUT, &mut Net::default());
    assert!(events(&mut p.a).is_empty(), "reported once per outage");

    // B comes back: the next handshake completes and A reports it reachable.
    let later = at + Duration::from_secs(1);
    let mut net = Net::default();
    p.a.handle_tun_packet(&ip_packet([10, 0, 0, 1], [10, 0, 0, 2], 2), later, &mut net);
    let mut init = Net::default();
    p.a.reconnect(later, &mut init);
    net.sent.extend(init.sent);
    p.pump(net, Net::default(), later);
    let seen = events(&mut p.a);
    assert!(
        seen.contains(&Event::PeerReachable {
            public_key: p.b_key.public_key()
        }),
        "{seen:?}"
    );
    assert!(seen.contains(&Event::HandshakeCompleted {
        public_key: p.b_key.public_key()
    }));
    p.a.handle_timeout(later + PEER_UNREACHABLE_AFTER, &mut Net::default());
    assert!(
        !events(&mut p.a)
            .iter()
            .any(|e| matches!(e, Event::PeerUnreachable { .. })),
        "an answered peer is not reported again"
    );
}

#[test]
fn the_unreachable_deadline_is_a_wakeup_of_its_own() {
    let t0 = Instant::now();
    let mut p = Pair::new(t0);
    let mut lost = Net::default();
    p.a.handle_tun_packet(&ip_packet([10, 0, 0, 1], [10, 0, 0, 2], 1), t0, &mut lost);
    // Tick through every deadline with the initiations lost; the report must
    // come exactly at the threshold, not at the next retransmit after it.
    let mut now = t0;
    let mut reported_at = None;
    for _ in 0..20 {
        let Some((at, _)) = p.a.poll_timeout() else {
            break;
        };
        now = at;
        p.a.handle_timeout(now, &mut Net::default());
        if events(&mut p.a)
            .iter()
            .any(|e| matches!(e, Event::PeerUnreachable { .. }))
        {
            reported_at = Some(now);
            break;
        }
    }
    assert_eq!(
        reported_at,
        Some(t0 + PEER_UNREACHABLE_AFTER),
        "last tick {now:?}"
    );
}

#[test]
fn a_host_name_peer_waits_for_its_resolution_then_connects() {
    let now = Instant::now();
    let (a_key, b_key) = (PrivateKey::generate(), PrivateKey::generate());
    let mut b_peer = peer(&b_key, &["10.0.0.2/32"], None, None);
    b_peer.endpoint = Some("b.example:51820".parse().unwrap());
    let mut a = Node::new(config(a_key, vec![b_peer]), options(), now);
    assert_eq!(
        a.unresolved_peers(),
        vec![(b_key.public_key(), "b.example:51820".parse().unwrap())]
    );
    let mut net = Net::default();
    a.handle_tun_packet(&ip_packet([10, 0, 0, 1], [10, 0, 0, 2], 1), now, &mut net);
    assert_eq!(a.drops().no_endpoint, 1, "no endpoint until resolved");

    assert!(a.set_resolved_endpoint(&b_key.public_key(), addr(B_ADDR), now, &mut net));
    assert_eq!(net.sent.len(), 1, "a handshake starts at once");
    assert_eq!(net.sent[0], (addr(B_ADDR), net.sent[0].1.clone()));
    assert_eq!(net.sent[0].1[0], 1);
    assert!(a.unresolved_peers().is_empty());
    assert_eq!(
        a.configured_endpoint(&b_key.public_key())
            .map(ToString::to_string),
        Some("b.example:51820".into()),
        "the host name stays for the next resolution"
    );
    assert_eq!(
        events(&mut a),
        vec![Event::EndpointChanged {
            public_key: b_key.public_key(),
            endpoint: addr(B_ADDR)
        }]
    );
}

#[test]
fn an_unchanged_resolution_leaves_a_roamed_endpoint_alone() {
    let now = Instant::now();
    let mut p = Pair::new(now);
    p.send_a_to_b(1, now);
    // B learned A's endpoint by an authenticated packet; a resolution that
    // answers what was resolved before must not move it back.
    let a_key = p.a_key.public_key();
    let mut net = Net::default();
    assert!(p.b.set_resolved_endpoint(&a_key, addr("198.51.100.1:1"), now, &mut net));
    events(&mut p.b);
    // B had an endpoint (A_ADDR) but no previous resolution: the first answer moves it.
    assert_eq!(
        p.b.peer_stats(now, SystemTime::now())[0].endpoint,
        Some(addr("198.51.100.1:1"))
    );
    let mut tun = Tun::default();
    let mut out = Net::default();
    p.a.handle_tun_packet(&ip_packet([10, 0, 0, 1], [10, 0, 0, 2], 2), now, &mut out);
    for (_, d) in out.sent.drain(..) {
        p.b.handle_datagram(addr(A_ADDR), &d, now, &mut Net::default(), &mut tun);
    }
    assert_eq!(
        p.b.peer_stats(now, SystemTime::now())[0].endpoint,
        Some(addr(A_ADDR)),
        "roamed back by an authenticated packet"
    );
    let mut net = Net::default();
    p.b.set_resolved_endpoint(&a_key, addr("198.51.100.1:1"), now, &mut net);
    assert_eq!(
        p.b.peer_stats(now, SystemTime::now())[0].endpoint,
        Some(addr(A_ADDR)),
        "the same answer again does not override roaming"
    );
    assert!(net.sent.is_empty());
    p.b.set_resolved_endpoint(&a_key, addr("198.51.100.2:2"), now, &mut net);
    assert_eq!(
        p.b.peer_stats(now, SystemTime::now())[0].endpoint,
        Some(addr("198.51.100.2:2")),
        "a new answer moves the peer"
    );
    assert!(!p.b.set_resolved_endpoint(
        &PrivateKey::generate().public_key(),
        addr(B_ADDR),
        now,
        &mut net
    ));
}

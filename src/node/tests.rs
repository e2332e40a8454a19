//! Two nodes over the simulated link of [`crate::testing::sim`]: handshake,
//! data, roaming, reconfiguration, floods, and the timers, which are tested
//! by the datagrams the nodes actually send as the clock jumps from one
//! wakeup to the next.
//!
//! Tests of boringtun's timers need its mock clock (the `testing` feature);
//! in a plain `cargo test` they are reported as ignored.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::PEER_UNREACHABLE_AFTER;
use super::timers::{
    KEEPALIVE_TIMEOUT, REJECT_AFTER_TIME, REKEY_AFTER_TIME, REKEY_TIMEOUT, TIMER_SLACK,
};
use super::*;
use crate::config::{Endpoint, PrivateKey};
use crate::testing::config::{peer_config, tunnel_config};
use crate::testing::packet::ipv4_packet;
use crate::testing::sim::{
    A_ADDR, A_IP, B_ADDR, B_IP, Fate, Msg, NetSink, Side, Sim, TunSink, options,
};

/// boringtun gives up retransmitting a handshake after this long (its
/// `REKEY_ATTEMPT_TIME`).
const REKEY_ATTEMPT_TIME: Duration = Duration::from_secs(90);

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn endpoint_of(node: &Node) -> Option<SocketAddr> {
    node.peer_stats(Instant::now(), SystemTime::now())[0].endpoint
}

/// When A's (or B's) session came up: the last `HandshakeCompleted` it reported.
fn session_start(sim: &Sim, side: Side) -> Duration {
    let (at, _, _) = sim
        .events()
        .iter()
        .rev()
        .find(|(_, s, e)| *s == side && matches!(e, Event::HandshakeCompleted { .. }))
        .expect("a completed handshake");
    *at - sim.start
}

#[test]
fn first_packet_triggers_a_handshake_then_arrives() {
    let mut sim = Sim::pair();
    let packet = sim.connect();
    let latency = sim.a_to_b.latency;
    assert_eq!(
        sim.sent_by(Side::A),
        vec![
            (Duration::ZERO, Msg::Initiation),
            (2 * latency, Msg::Keepalive),
            (2 * latency, Msg::Data),
        ],
        "an initiation first; the queued packet follows the handshake"
    );
    assert_eq!(sim.sent_by(Side::B), vec![(latency, Msg::Response)]);
    assert_eq!(sim.sent()[0].bytes.len(), HANDSHAKE_INIT_LEN);
    assert_eq!(sim.delivered_packets(Side::B), vec![packet]);
    assert_eq!(
        sim.take_events(Side::A),
        vec![Event::HandshakeCompleted {
            public_key: sim.b_key.public_key()
        }]
    );
    assert_eq!(
        sim.take_events(Side::B),
        vec![
            Event::EndpointChanged {
                public_key: sim.a_key.public_key(),
                endpoint: A_ADDR
            },
            Event::HandshakeCompleted {
                public_key: sim.a_key.public_key()
            },
        ]
    );
    let stats = sim.b.peer_stats(sim.now(), SystemTime::now());
    assert_eq!(stats[0].rx_packets, 1);
    assert_eq!(stats[0].endpoint, Some(A_ADDR));
}

#[test]
fn data_flows_back_once_the_responder_knows_the_endpoint() {
    let mut sim = Sim::pair();
    sim.connect();
    let before = sim.sent().len();
    let reply = sim.send_packet(Side::B, 9);
    assert_eq!(
        sim.msgs_since(before),
        vec![Msg::Data],
        "a data message, no new handshake"
    );
    sim.settle();
    assert_eq!(sim.delivered_packets(Side::A), vec![reply]);
}

#[test]
fn a_peer_without_endpoint_drops_and_counts() {
    let mut sim = Sim::pair();
    sim.send_packet(Side::B, 1);
    assert!(sim.sent().is_empty());
    assert_eq!(sim.b.drops().no_endpoint, 1);
}

#[test]
fn a_datagram_larger_than_the_path_mtu_never_arrives() {
    let mut sim = Sim::pair();
    sim.connect();
    sim.a_to_b.mtu = 1280;
    let big = ipv4_packet(A_IP, B_IP, 1, 1280);
    sim.tun_input(Side::A, &big);
    let small = sim.send_packet(Side::A, 2);
    sim.settle();
    let fates: Vec<_> = sim.sent()[sim.sent().len() - 2..]
        .iter()
        .map(|s| s.fate)
        .collect();
    assert_eq!(fates, vec![Fate::TooBig, Fate::Delivered]);
    assert_eq!(sim.delivered_packets(Side::B).last(), Some(&small));
    assert!(!sim.delivered_packets(Side::B).contains(&big));
}

#[test]
fn the_endpoint_follows_authenticated_packets() {
    let mut sim = Sim::pair();
    sim.connect();
    sim.take_events(Side::B);

    // A packet B sees from a new address (A roamed).
    sim.a_to_b.up = false;
    sim.send_packet(Side::A, 2);
    let datagram = sim.sent().last().unwrap().bytes.clone();
    let roamed = addr("198.51.100.9:40000");
    let delivered = sim.delivered(Side::B).len();
    sim.inject(Side::B, roamed, &datagram);
    assert_eq!(sim.delivered(Side::B).len(), delivered + 1);
    assert_eq!(
        sim.take_events(Side::B),
        vec![Event::EndpointChanged {
            public_key: sim.a_key.public_key(),
            endpoint: roamed
        }]
    );

    // A forged datagram from elsewhere does not move the endpoint.
    let mut forged = datagram;
    forged[20] ^= 1;
    sim.inject(Side::B, addr("203.0.113.1:1"), &forged);
    assert_eq!(endpoint_of(&sim.b), Some(roamed));
    assert_eq!(sim.b.drops().invalid_datagram, 1);
}

#[test]
fn a_handshake_from_an_unknown_key_is_dropped_and_counted() {
    let mut sim = Sim::pair();
    let now = sim.now();
    let mut stranger = Node::new(
        tunnel_config(
            PrivateKey::generate(),
            &[],
            None,
            vec![peer_config(
                sim.b_key.public_key(),
                &["10.0.0.2/32"],
                Some(B_ADDR),
                None,
            )],
        ),
        options(9),
        now,
    );
    let mut net = NetSink::default();
    stranger.handle_tun_packet(&ipv4_packet(A_IP, B_IP, 1, 40), now, &mut net);
    sim.inject(Side::B, addr("192.0.2.9:1"), &net.sent[0].1);
    assert!(sim.sent().is_empty(), "no response to a stranger");
    assert_eq!(sim.b.drops().unknown_peer, 1);
}

#[test]
fn updating_the_config_keeps_unchanged_peers_sessions() {
    let mut sim = Sim::pair();
    sim.connect();
    let third = PrivateKey::generate();
    let b_key = sim.b_key.public_key();
    let a_key = sim.a_key;
    let updated = |with_b: bool| {
        let mut peers = vec![peer_config(
            third.public_key(),
            &["10.0.0.3/32"],
            Some(addr("192.0.2.3:1")),
            None,
        )];
        if with_b {
            peers.push(peer_config(
                b_key,
                &["10.0.0.2/32", "10.0.1.0/24"],
                Some(B_ADDR),
                None,
            ));
        }
        tunnel_config(a_key, &[], None, peers)
    };
    sim.with_node(Side::A, |a, now, _| a.update_config(updated(true), now));

    let before = sim.sent().len();
    let packet = ipv4_packet(A_IP, "10.0.1.5".parse().unwrap(), 2, 40);
    sim.tun_input(Side::A, &packet);
    assert_eq!(
        sim.msgs_since(before),
        vec![Msg::Data],
        "the new route uses the existing session"
    );

    // Removing B drops its routes.
    sim.with_node(Side::A, |a, now, _| a.update_config(updated(false), now));
    sim.send_packet(Side::A, 3);
    assert_eq!(sim.a.drops().no_route, 1);
}

#[test]
fn reconnect_starts_a_fresh_handshake() {
    let mut sim = Sim::pair();
    sim.connect();
    sim.take_events(Side::A);
    let before = sim.sent().len();
    sim.with_node(Side::A, |a, now, net| a.reconnect(now, net));
    assert_eq!(sim.sent()[before].msg, Msg::Initiation);
    sim.settle();
    assert!(
        sim.take_events(Side::A)
            .contains(&Event::HandshakeCompleted {
                public_key: sim.b_key.public_key()
            })
    );
}

#[test]
fn garbage_never_panics_and_is_counted() {
    let mut sim = Sim::pair();
    let now = sim.now();
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
        sim.b.handle_datagram(
            A_ADDR,
            &d,
            now,
            &mut NetSink::default(),
            &mut TunSink::default(),
        );
        sim.b.handle_tun_packet(&d, now, &mut NetSink::default());
        total += 1;
    }
    let drops = sim.b.drops();
    assert_eq!(drops.invalid_datagram + drops.unknown_peer, total);
    assert_eq!(
        drops.malformed_ip + drops.no_route + drops.no_endpoint,
        total
    );
}

const ATTACKER: &str = "203.0.113.66:666";
/// More handshake messages than the limiter lets through in one second.
const FLOOD: usize = 3 * HANDSHAKES_PER_SECOND_UNDER_LOAD as usize;

/// A connected pair, and the initiation and response its handshake used
/// (what an attacker on the path sees).
fn handshake_seen_on_the_wire() -> (Sim, Vec<u8>, Vec<u8>) {
    let mut sim = Sim::pair();
    sim.connect();
    let init = sim.sent()[0].bytes.clone();
    let response = sim.sent()[1].bytes.clone();
    assert_eq!(
        (Msg::of(&init), Msg::of(&response)),
        (Msg::Initiation, Msg::Response)
    );
    sim.take_events(Side::A);
    sim.take_events(Side::B);
    (sim, init, response)
}

/// What the flood's target sent since `before`: all of it must be cookie
/// replies to the attacker.
fn assert_only_cookie_replies_to_the_attacker(sim: &Sim, before: usize, side: Side) {
    let replies: Vec<_> = sim.sent()[before..]
        .iter()
        .filter(|s| s.from == side)
        .collect();
    assert!(
        replies.iter().any(|s| s.msg == Msg::CookieReply),
        "the flood was answered with cookie replies"
    );
    for s in replies {
        assert_eq!(
            (s.to, s.msg, s.fate),
            (addr(ATTACKER), Msg::CookieReply, Fate::Elsewhere),
            "only cookie replies, to the sender"
        );
    }
}

#[test]
fn an_initiation_flood_claiming_a_peers_key_does_not_move_its_endpoint() {
    let (mut sim, init, _) = handshake_seen_on_the_wire();
    // B rekeys too: handshake messages of both kinds pass its limiter, so the
    // flood meets it at every count.
    sim.with_node(Side::B, |b, now, net| b.reconnect(now, net));
    sim.settle();
    sim.take_events(Side::B);

    let before = sim.sent().len();
    for _ in 0..FLOOD {
        sim.inject(Side::B, addr(ATTACKER), &init);
    }
    assert_eq!(endpoint_of(&sim.b), Some(A_ADDR));
    assert_eq!(sim.take_events(Side::B), vec![], "no EndpointChanged");
    assert_only_cookie_replies_to_the_attacker(&sim, before, Side::B);
    // Traffic still reaches A.
    let reply = sim.send_packet(Side::B, 7);
    sim.settle();
    assert_eq!(sim.delivered_packets(Side::A).last(), Some(&reply));
}

#[test]
fn forged_responses_under_load_do_not_move_the_endpoint() {
    let (mut sim, _, response) = handshake_seen_on_the_wire();
    let before = sim.sent().len();
    for _ in 0..FLOOD {
        sim.inject(Side::A, addr(ATTACKER), &response);
    }
    assert_eq!(endpoint_of(&sim.a), Some(B_ADDR));
    assert_eq!(sim.take_events(Side::A), vec![], "no EndpointChanged");
    assert_only_cookie_replies_to_the_attacker(&sim, before, Side::A);
    let packet = sim.send_packet(Side::A, 9);
    sim.settle();
    assert_eq!(
        sim.delivered_packets(Side::B).last(),
        Some(&packet),
        "traffic still flows to B"
    );
}

#[test]
fn a_response_with_a_bad_mac_is_dropped_before_boringtun() {
    let (mut sim, _, mut response) = handshake_seen_on_the_wire();
    let before = sim.a.drops().invalid_datagram;
    let mac1 = response.len() - 32;
    response[mac1] ^= 1;
    let sent = sim.sent().len();
    sim.inject(Side::A, addr(ATTACKER), &response);
    assert_eq!(sim.sent().len(), sent, "no reply");
    assert_eq!(sim.a.drops().invalid_datagram, before + 1);
    assert_eq!(endpoint_of(&sim.a), Some(B_ADDR));
}

#[test]
fn a_host_name_peer_waits_for_its_resolution_then_connects() {
    let now = Instant::now();
    let (a_key, b_key) = (PrivateKey::generate(), PrivateKey::generate());
    let mut b_peer = peer_config(b_key.public_key(), &["10.0.0.2/32"], None, None);
    b_peer.endpoint = Some("b.example:51820".parse().unwrap());
    let mut a = Node::new(
        tunnel_config(a_key, &[], None, vec![b_peer]),
        options(7),
        now,
    );
    assert_eq!(
        a.unresolved_peers(),
        vec![(
            b_key.public_key(),
            "b.example:51820".parse::<Endpoint>().unwrap()
        )]
    );
    let mut net = NetSink::default();
    a.handle_tun_packet(&ipv4_packet(A_IP, B_IP, 1, 40), now, &mut net);
    assert_eq!(a.drops().no_endpoint, 1, "no endpoint until resolved");

    assert!(a.set_resolved_endpoint(&b_key.public_key(), B_ADDR, now, &mut net));
    assert_eq!(net.sent.len(), 1, "a handshake starts at once");
    assert_eq!(net.sent[0].0, B_ADDR);
    assert_eq!(Msg::of(&net.sent[0].1), Msg::Initiation);
    assert!(a.unresolved_peers().is_empty());
    assert_eq!(
        a.configured_endpoint(&b_key.public_key())
            .map(ToString::to_string),
        Some("b.example:51820".into()),
        "the host name stays for the next resolution"
    );
    assert_eq!(
        std::iter::from_fn(|| a.poll_event()).collect::<Vec<_>>(),
        vec![Event::EndpointChanged {
            public_key: b_key.public_key(),
            endpoint: B_ADDR
        }]
    );
}

#[test]
fn an_unchanged_resolution_leaves_a_roamed_endpoint_alone() {
    let mut sim = Sim::pair();
    sim.connect();
    // B learned A's endpoint by an authenticated packet; a resolution that
    // answers what was resolved before must not move it back.
    let a_key = sim.a_key.public_key();
    let resolved = addr("198.51.100.1:1");
    let resolve = |sim: &mut Sim, to: SocketAddr| {
        sim.with_node(Side::B, |b, now, net| {
            b.set_resolved_endpoint(&a_key, to, now, net)
        })
    };
    assert!(resolve(&mut sim, resolved));
    // B had an endpoint (A_ADDR) but no previous resolution: the first answer moves it.
    assert_eq!(endpoint_of(&sim.b), Some(resolved));
    sim.settle();
    sim.send_packet(Side::A, 2);
    sim.settle();
    assert_eq!(
        endpoint_of(&sim.b),
        Some(A_ADDR),
        "roamed back by an authenticated packet"
    );
    let before = sim.sent().len();
    resolve(&mut sim, resolved);
    assert_eq!(
        endpoint_of(&sim.b),
        Some(A_ADDR),
        "the same answer again does not override roaming"
    );
    assert_eq!(sim.sent().len(), before, "and starts no handshake");
    resolve(&mut sim, addr("198.51.100.2:2"));
    assert_eq!(
        endpoint_of(&sim.b),
        Some(addr("198.51.100.2:2")),
        "a new answer moves the peer"
    );
    let stranger = PrivateKey::generate().public_key();
    assert!(!sim.with_node(Side::B, |b, now, net| {
        b.set_resolved_endpoint(&stranger, B_ADDR, now, net)
    }));
}

// Timers. Each runs the clock forward and asserts on what went over the wire.

#[test]
fn an_idle_node_without_keepalive_never_wakes() {
    let mut sim = Sim::pair();
    assert_eq!(sim.next_event(), None);
    sim.run_for(Duration::from_secs(600));
    assert!(sim.wakeups().is_empty() && sim.sent().is_empty());
}

#[test]
#[cfg_attr(
    not(feature = "testing"),
    ignore = "needs boringtun's mock clock: cargo test --lib --features testing"
)]
fn a_pending_handshake_is_retried_after_rekey_timeout() {
    let mut sim = Sim::pair();
    sim.a_to_b.up = false;
    let packet = sim.send_packet(Side::A, 1);
    sim.run_for(secs(12.0));
    let retry = REKEY_TIMEOUT + TIMER_SLACK;
    assert_eq!(
        sim.times_of(Side::A, Msg::Initiation),
        vec![Duration::ZERO, retry, 2 * retry],
        "an initiation every REKEY_TIMEOUT (and the wakeup slack) while unanswered"
    );
    assert!(sim.sent().iter().all(|s| s.fate == Fate::Lost));

    // The link comes back: the next retransmission completes the handshake
    // and the packet queued since the start arrives.
    sim.a_to_b.up = true;
    sim.run_for(secs(8.0));
    assert_eq!(
        sim.times_of(Side::A, Msg::Initiation).last(),
        Some(&(3 * retry))
    );
    assert_eq!(sim.times_of(Side::B, Msg::Response).len(), 1);
    assert_eq!(sim.delivered_packets(Side::B), vec![packet]);
}

#[test]
#[cfg_attr(
    not(feature = "testing"),
    ignore = "needs boringtun's mock clock: cargo test --lib --features testing"
)]
fn handshake_retries_give_up_after_rekey_attempt_time() {
    let mut sim = Sim::pair();
    sim.a_to_b.up = false;
    sim.send_packet(Side::A, 1);
    sim.run_for(Duration::from_secs(300));
    let retry = REKEY_TIMEOUT + TIMER_SLACK;
    let initiations = sim.times_of(Side::A, Msg::Initiation);
    let expected: Vec<_> = (0..)
        .map(|i| i * retry)
        .take_while(|at| *at < REKEY_ATTEMPT_TIME)
        .collect();
    assert_eq!(initiations, expected);
    assert_eq!(sim.a.poll_timeout(), None, "then the node stops waking");
}

#[test]
#[cfg_attr(
    not(feature = "testing"),
    ignore = "needs boringtun's mock clock: cargo test --lib --features testing"
)]
fn a_lossy_link_still_completes_the_handshake_by_retrying() {
    let mut sim = Sim::pair();
    sim.a_to_b.loss = 0.5;
    sim.b_to_a.loss = 0.5;
    let packet = sim.send_packet(Side::A, 1);
    sim.run_for(Duration::from_secs(60));
    assert!(
        sim.take_events(Side::A)
            .contains(&Event::HandshakeCompleted {
                public_key: sim.b_key.public_key()
            }),
        "{:?}",
        sim.sent_by(Side::A)
    );
    assert!(
        sim.times_of(Side::A, Msg::Initiation).len() > 1,
        "some were lost"
    );
    assert!(sim.delivered_packets(Side::B).contains(&packet));
}

#[test]
#[cfg_attr(
    not(feature = "testing"),
    ignore = "needs boringtun's mock clock: cargo test --lib --features testing"
)]
fn a_sending_initiator_rekeys_after_rekey_after_time() {
    let mut sim = Sim::pair();
    sim.connect();
    let session = session_start(&sim, Side::A);
    // Some data well inside the session's lifetime, then silence: the rekey
    // is the node's own wakeup, not a side effect of sending.
    sim.run_for(Duration::from_secs(50));
    sim.send_packet(Side::B, 1);
    sim.send_packet(Side::A, 1);
    sim.run_for(Duration::from_secs(100));
    assert_eq!(
        sim.times_of(Side::A, Msg::Initiation),
        vec![Duration::ZERO, session + REKEY_AFTER_TIME + TIMER_SLACK]
    );
    assert_eq!(
        session_start(&sim, Side::A),
        session + REKEY_AFTER_TIME + TIMER_SLACK + 2 * sim.a_to_b.latency
    );
    assert!(
        sim.times_of(Side::B, Msg::Initiation).is_empty(),
        "the responder does not rekey on time"
    );
}

#[test]
#[cfg_attr(
    not(feature = "testing"),
    ignore = "needs boringtun's mock clock: cargo test --lib --features testing"
)]
fn steady_traffic_rolls_over_to_a_new_session_without_losing_a_packet() {
    let mut sim = Sim::pair();
    let mut sent = vec![sim.connect()];
    for seq in 1..=40 {
        sim.run_for(Duration::from_secs(5));
        sent.push(sim.send_packet(Side::A, seq));
    }
    sim.settle();
    let completed = sim
        .events()
        .iter()
        .filter(|(_, s, e)| *s == Side::A && matches!(e, Event::HandshakeCompleted { .. }))
        .count();
    assert_eq!(completed, 2, "one rekey in 200 s");
    assert_eq!(sim.delivered_packets(Side::B), sent);
}

#[test]
#[cfg_attr(
    not(feature = "testing"),
    ignore = "needs boringtun's mock clock: cargo test --lib --features testing"
)]
fn persistent_keepalive_connects_at_once_then_keeps_the_path_open() {
    let mut sim = Sim::pair_with_keepalive(Some(25));
    sim.run_for(Duration::from_secs(80));
    assert_eq!(sim.times_of(Side::A, Msg::Initiation), vec![TIMER_SLACK]);
    let keepalives = sim.times_of(Side::A, Msg::Keepalive);
    // After the handshake, one every 25 s (plus the wakeup slack).
    let steady: Vec<_> = keepalives
        .iter()
        .skip_while(|at| **at < Duration::from_secs(1))
        .copied()
        .collect();
    let interval = Duration::from_secs(25) + TIMER_SLACK;
    let first = steady[0];
    assert_eq!(steady, vec![first, first + interval, first + 2 * interval]);
    assert!(first <= Duration::from_secs(26));
    assert!(
        sim.sent()
            .iter()
            .filter(|s| s.msg == Msg::Keepalive)
            .all(|s| s.fate == Fate::Delivered)
    );
}

#[test]
#[cfg_attr(
    not(feature = "testing"),
    ignore = "needs boringtun's mock clock: cargo test --lib --features testing"
)]
fn a_receiver_with_nothing_to_say_sends_a_passive_keepalive() {
    let mut sim = Sim::pair();
    sim.connect();
    let b_last_sent = sim.times_of(Side::B, Msg::Response)[0];
    // Data arriving a moment later is answered KEEPALIVE_TIMEOUT after B last spoke.
    sim.run_for(Duration::from_secs(3));
    sim.send_packet(Side::A, 1);
    sim.run_for(Duration::from_secs(30));
    assert_eq!(
        sim.times_of(Side::B, Msg::Keepalive),
        vec![b_last_sent + KEEPALIVE_TIMEOUT + TIMER_SLACK]
    );
}

#[test]
#[cfg_attr(
    not(feature = "testing"),
    ignore = "needs boringtun's mock clock: cargo test --lib --features testing"
)]
fn a_receiver_that_answers_sends_no_keepalive() {
    let mut sim = Sim::pair();
    sim.connect();
    sim.run_for(Duration::from_secs(3));
    sim.send_packet(Side::A, 1);
    sim.settle();
    sim.send_packet(Side::B, 1);
    sim.run_for(Duration::from_secs(30));
    assert!(sim.times_of(Side::B, Msg::Keepalive).is_empty());
}

#[test]
#[cfg_attr(
    not(feature = "testing"),
    ignore = "needs boringtun's mock clock: cargo test --lib --features testing"
)]
fn an_established_idle_tunnel_is_silent_and_wakes_rarely() {
    let mut sim = Sim::pair();
    sim.connect();
    let sent = sim.sent().len();
    sim.run_for(Duration::from_secs(600));
    assert_eq!(sim.sent().len(), sent, "nothing sent while idle");
    let wakeups = sim.wakeups().len();
    assert!(wakeups <= 12, "{:?}", sim.wakeups());
    for (at, side, why) in sim.wakeups() {
        assert!(
            *at - sim.start >= Duration::from_secs(1),
            "{side:?} woke for {why}"
        );
    }
}

#[test]
#[cfg_attr(
    not(feature = "testing"),
    ignore = "needs boringtun's mock clock: cargo test --lib --features testing"
)]
fn a_session_expires_after_reject_after_time() {
    let mut sim = Sim::pair();
    sim.connect();
    let session = session_start(&sim, Side::A);

    // Just before expiry the old session still carries data.
    let mut early = Sim::pair();
    early.connect();
    early.run_until(early.start + session + REJECT_AFTER_TIME - Duration::from_secs(1));
    let before = early.sent().len();
    early.send_packet(Side::A, 1);
    assert_eq!(early.sent()[before].msg, Msg::Data);

    // After it, a packet waits for a new handshake.
    sim.run_until(sim.start + session + REJECT_AFTER_TIME + Duration::from_secs(1));
    let before = sim.sent().len();
    let packet = sim.send_packet(Side::A, 2);
    assert_eq!(
        sim.msgs_since(before),
        vec![Msg::Initiation],
        "no data with an expired session"
    );
    sim.settle();
    assert_eq!(sim.delivered_packets(Side::B).last(), Some(&packet));
}

#[test]
#[cfg_attr(
    not(feature = "testing"),
    ignore = "needs boringtun's mock clock: cargo test --lib --features testing"
)]
fn sending_after_silence_starts_a_new_handshake() {
    let mut sim = Sim::pair();
    sim.connect();
    sim.b_to_a.up = false;
    sim.run_for(Duration::from_secs(60));
    // A sends and hears nothing back for KEEPALIVE_TIMEOUT + REKEY_TIMEOUT
    // (measured from what it last received): it initiates on its next wakeup.
    let sent_at = sim.elapsed();
    sim.send_packet(Side::A, 1);
    sim.run_for(Duration::from_secs(1));
    assert_eq!(
        sim.times_of(Side::A, Msg::Initiation).last(),
        Some(&(sent_at + TIMER_SLACK))
    );
}

#[test]
#[cfg_attr(
    not(feature = "testing"),
    ignore = "needs boringtun's mock clock: cargo test --lib --features testing"
)]
fn unanswered_handshakes_make_a_peer_unreachable_at_the_threshold_until_it_answers() {
    let mut sim = Sim::pair();
    sim.a_to_b.up = false;
    let packet = sim.send_packet(Side::A, 1);
    sim.run_for(Duration::from_secs(60));
    let unreachable: Vec<_> = sim
        .events()
        .iter()
        .filter(|(_, _, e)| matches!(e, Event::PeerUnreachable { .. }))
        .cloned()
        .collect();
    assert_eq!(
        unreachable,
        vec![(
            sim.start + PEER_UNREACHABLE_AFTER,
            Side::A,
            Event::PeerUnreachable {
                public_key: sim.b_key.public_key(),
                unanswered_for: PEER_UNREACHABLE_AFTER,
            }
        )],
        "reported at the threshold (a wakeup of its own), once per outage"
    );
    assert!(
        sim.times_of(Side::A, Msg::Initiation).len() >= 12,
        "retransmitting all along"
    );
    sim.take_events(Side::A);

    // B comes back: the next retransmission completes and A reports it reachable.
    sim.a_to_b.up = true;
    sim.run_for(REKEY_TIMEOUT + TIMER_SLACK);
    let seen = sim.take_events(Side::A);
    assert_eq!(
        seen,
        vec![
            Event::PeerReachable {
                public_key: sim.b_key.public_key()
            },
            Event::HandshakeCompleted {
                public_key: sim.b_key.public_key()
            }
        ]
    );
    assert_eq!(sim.delivered_packets(Side::B), vec![packet]);
    sim.run_for(PEER_UNREACHABLE_AFTER * 2);
    assert!(
        !sim.take_events(Side::A)
            .iter()
            .any(|e| matches!(e, Event::PeerUnreachable { .. })),
        "an answered peer is not reported again"
    );
}

#[test]
#[cfg_attr(
    not(feature = "testing"),
    ignore = "needs boringtun's mock clock: cargo test --lib --features testing"
)]
fn the_rate_limiter_recovers_on_its_own_after_a_flood() {
    let (mut sim, _, response) = handshake_seen_on_the_wire();
    sim.run_for(Duration::from_secs(5));
    let flood_at = sim.now();
    for _ in 0..FLOOD {
        sim.inject(Side::A, addr(ATTACKER), &response);
    }
    assert_eq!(
        sim.a.poll_timeout(),
        Some((flood_at + LIMITER_RESET_AFTER, "rate limiter reset")),
        "the flood ended: the node wakes once to let the limiter reset"
    );
    sim.run_until(flood_at + LIMITER_RESET_AFTER);
    assert_eq!(
        sim.wakeups().last(),
        Some(&(
            flood_at + LIMITER_RESET_AFTER,
            Side::A,
            "rate limiter reset"
        ))
    );

    // A handshake A starts now completes at once: B's response is not
    // answered with a cookie reply (which would cost a 5 s retry).
    let before = sim.sent().len();
    sim.with_node(Side::A, |a, now, net| a.reconnect(now, net));
    sim.settle();
    let after: Vec<_> = sim.sent()[before..]
        .iter()
        .map(|s| (s.from, s.msg))
        .collect();
    assert_eq!(
        &after[..2],
        &[(Side::A, Msg::Initiation), (Side::B, Msg::Response)]
    );
    assert!(
        !after.iter().any(|(_, m)| *m == Msg::CookieReply),
        "{after:?}"
    );
    assert_eq!(
        sim.take_events(Side::A),
        vec![Event::HandshakeCompleted {
            public_key: sim.b_key.public_key()
        }]
    );
}

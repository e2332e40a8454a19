//! The platform layer on real tunnels in one process (socketpairs as TUN
//! fds, loopback UDP): swapping the TUN fd mid-traffic, and endpoint
//! resolution in the background (at start, after a network change, after
//! unanswered handshakes) with a scripted resolver.

mod common;

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixDatagram;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use ferrotun::config::{PeerConfig, PrivateKey};
use ferrotun::io::resolve::Resolver;
use ferrotun::runtime::{RuntimeError, Tunnel, TunnelEvent, TunnelOptions};

#[test]
fn swapping_the_tun_fd_mid_traffic_keeps_the_session_and_every_packet() {
    let mut pair = Pair::start();
    pair.handshake();
    let handshake_before = pair.a.tunnel.stats().unwrap().peers[0].last_handshake;
    assert!(handshake_before.is_some());

    // Packets still queued in the old fd when the swap is asked for, then
    // packets on the new fd: all arrive, in order within their flow (the IPv4
    // and the IPv6 flow may overtake each other in the tunnel's flow queue).
    let queued: Vec<Vec<u8>> = (1..=100)
        .map(|i| packet_for(i, 500, i % 2 == 0, true))
        .collect();
    for p in &queued {
        pair.a.app.send(p).unwrap();
    }
    let (new_fd, new_app) = tun_socketpair();
    pair.a.tunnel.swap_tun(new_fd).unwrap();
    let after: Vec<Vec<u8>> = (101..=200)
        .map(|i| packet_for(i, 500, i % 2 == 0, true))
        .collect();
    for p in &after {
        new_app.send(p).unwrap();
    }
    let mut buf = vec![0u8; 65536];
    let expected: Vec<&Vec<u8>> = queued.iter().chain(&after).collect();
    let mut got: Vec<Vec<u8>> = Vec::new();
    for i in 0..expected.len() {
        let n = pair
            .b
            .app
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("packet {i} did not arrive: {e}"));
        got.push(buf[..n].to_vec());
    }
    for version in [4u8, 6] {
        let want: Vec<&[u8]> = expected
            .iter()
            .filter(|p| p[0] >> 4 == version)
            .map(|p| &p[..])
            .collect();
        let have: Vec<&[u8]> = got
            .iter()
            .filter(|p| p[0] >> 4 == version)
            .map(|p| &p[..])
            .collect();
        assert!(
            have == want,
            "IPv{version} packets altered, lost or out of order"
        );
    }

    // The old fd is closed: the app's end of it sees the other end gone.
    let old_app = std::mem::replace(&mut pair.a.app, new_app);
    let err = old_app.send(&packet_for(0, 100, false, true)).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            io::ErrorKind::ConnectionRefused | io::ErrorKind::BrokenPipe
        ),
        "{err}"
    );

    // Both directions keep working on the same session.
    let back: Vec<Vec<u8>> = (0..500)
        .map(|i| packet_for(i, 1000, i % 3 == 0, false))
        .collect();
    transfer(&pair.b.app, &pair.a.app, &back, 64);
    let forth: Vec<Vec<u8>> = (0..500)
        .map(|i| packet_for(i, 1000, i % 3 == 0, true))
        .collect();
    transfer(&pair.a.app, &pair.b.app, &forth, 64);
    let stats = pair.a.tunnel.stats().unwrap();
    assert_eq!(
        stats.peers[0].last_handshake, handshake_before,
        "no new handshake: the session survived the swap"
    );
    assert_eq!(stats.drops.tun_write, 0);
}

#[test]
fn an_idle_tunnel_reads_each_new_tun_fd_once_it_reads_it_itself_again() {
    // After a swap the reader thread reads the new fd until it finds it
    // quiet, then hands the loop a duplicate to read and wait on itself,
    // often under the number of the loop's old, closed duplicate.
    let mut pair = Pair::start();
    pair.handshake();
    for round in 1..=3u32 {
        let (new_fd, new_app) = tun_socketpair();
        pair.a.tunnel.swap_tun(new_fd).unwrap();
        pair.a.app = new_app;
        // Quiet windows of the thread (20 ms each) until it hands back. Which
        // side reads is not visible from here: on a machine too slow for the
        // hand-back the thread reads these packets, and the test passes
        // without having exercised the loop's wait.
        std::thread::sleep(Duration::from_millis(150));
        for i in 0..3 {
            let packet = packet_for(round * 10 + i, 100, false, true);
            transfer(&pair.a.app, &pair.b.app, &[packet], 1);
            std::thread::sleep(Duration::from_millis(30));
        }
    }
}

#[test]
fn repeated_swaps_under_traffic_lose_nothing() {
    let mut pair = Pair::start();
    pair.handshake();
    for round in 0..10u32 {
        let (new_fd, new_app) = tun_socketpair();
        // Replies in flight towards A while its TUN moves.
        let replies: Vec<Vec<u8>> = (0..20)
            .map(|i| packet_for(round * 100 + i, 300, false, false))
            .collect();
        for p in &replies {
            pair.b.app.send(p).unwrap();
        }
        pair.a.tunnel.swap_tun(new_fd).unwrap();
        // Whatever A wrote before the swap went to the old fd, the rest to the new one.
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65536];
        pair.a.app.set_nonblocking(true).unwrap();
        while let Ok(n) = pair.a.app.recv(&mut buf) {
            got.push(buf[..n].to_vec());
        }
        while got.len() < replies.len() {
            let n = new_app.recv(&mut buf).expect("reply after the swap");
            got.push(buf[..n].to_vec());
        }
        assert_eq!(got, replies, "round {round}");
        pair.a.app = new_app;
        transfer(
            &pair.a.app,
            &pair.b.app,
            &[packet_for(round, 200, true, true)],
            1,
        );
    }
}

#[test]
fn a_swap_to_an_unusable_fd_is_refused_and_the_old_fd_stays() {
    let pair = Pair::start();
    pair.handshake();
    // /dev/null cannot be polled, so the event loop cannot register it.
    let null = OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
    let err = pair.a.tunnel.swap_tun(null).unwrap_err();
    assert!(matches!(err, RuntimeError::Io { .. }), "{err}");
    let packets: Vec<Vec<u8>> = (0..200).map(|i| packet_for(i, 700, false, true)).collect();
    transfer(&pair.a.app, &pair.b.app, &packets, 32);
    let back: Vec<Vec<u8>> = (0..200).map(|i| packet_for(i, 700, true, false)).collect();
    transfer(&pair.b.app, &pair.a.app, &back, 32);
}

#[test]
fn a_stopped_tunnel_refuses_a_swap_and_closes_the_fd() {
    let pair = Pair::start();
    pair.a.tunnel.stop();
    let (fd, app) = tun_socketpair();
    assert!(matches!(
        pair.a.tunnel.swap_tun(fd),
        Err(RuntimeError::Stopped)
    ));
    let err = app.send(&[0x45; 20]).unwrap_err();
    assert_eq!(
        err.kind(),
        io::ErrorKind::ConnectionRefused,
        "the fd was closed"
    );
}

/// Answers every lookup from a list that the test can change, and counts lookups.
struct ScriptedResolver {
    answer: Mutex<SocketAddr>,
    lookups: Mutex<Vec<String>>,
}

impl ScriptedResolver {
    fn new(answer: SocketAddr) -> Arc<Self> {
        Arc::new(Self {
            answer: Mutex::new(answer),
            lookups: Mutex::new(Vec::new()),
        })
    }

    fn lookups(&self) -> usize {
        self.lookups.lock().unwrap().len()
    }
}

impl Resolver for ScriptedResolver {
    fn lookup(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        self.lookups.lock().unwrap().push(format!("{host}:{port}"));
        Ok(vec![*self.answer.lock().unwrap()])
    }
}

/// B listens; A has B's endpoint as a host name (optionally already resolved).
struct NamedPair {
    a: Tunnel,
    a_app: UnixDatagram,
    /// Kept running for the test; never called.
    _b: Tunnel,
    b_app: UnixDatagram,
    b_addr: SocketAddr,
    b_key: PrivateKey,
}

/// What A's `resolved_endpoint` for B starts as.
enum Initially {
    Unresolved,
    ResolvedToB,
    ResolvedTo(SocketAddr),
}

fn named_pair(resolver: Arc<dyn Resolver>, initially: Initially) -> NamedPair {
    let key_a = PrivateKey::generate();
    let key_b = PrivateKey::generate();
    let peer =
        |key: &PrivateKey, allowed: &[&str]| peer_config(key.public_key(), allowed, None, None);
    let config =
        |key: PrivateKey, peer: PeerConfig| tunnel_config(key, &[], Some(MTU as u16), vec![peer]);
    let (fd_b, b_app) = tun_socketpair();
    let b = Tunnel::start(
        config(key_b, peer(&key_a, &["10.99.0.1/32", "fd00:99::1/128"])),
        fd_b,
        TunnelOptions::default(),
    )
    .unwrap();
    let b_addr = SocketAddr::from(([127, 0, 0, 1], b.listen_port()));

    let mut to_b = peer(&key_b, &["10.99.0.2/32", "fd00:99::2/128"]);
    to_b.endpoint = Some("b.ferrotun.test:51820".parse().unwrap());
    to_b.resolved_endpoint = match initially {
        Initially::Unresolved => None,
        Initially::ResolvedToB => Some(b_addr),
        Initially::ResolvedTo(addr) => Some(addr),
    };
    let (fd_a, a_app) = tun_socketpair();
    let a = Tunnel::start(
        config(key_a, to_b),
        fd_a,
        TunnelOptions {
            resolver: Some(resolver),
            ..Default::default()
        },
    )
    .unwrap();
    NamedPair {
        a,
        a_app,
        _b: b,
        b_app,
        b_addr,
        b_key: key_b,
    }
}

fn wait_until(what: &str, timeout: Duration, pred: impl Fn() -> bool) {
    let deadline = Instant::now() + timeout;
    while !pred() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Events until `pred` matches one, within `timeout`; returns all seen.
fn events_until(
    tunnel: &Tunnel,
    timeout: Duration,
    pred: impl Fn(&TunnelEvent) -> bool,
) -> Vec<TunnelEvent> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut seen = Vec::new();
        let result = tokio::time::timeout(timeout, async {
            loop {
                match tunnel.next_event().await {
                    Some(e) => {
                        let done = pred(&e);
                        seen.push(e);
                        if done {
                            return;
                        }
                    }
                    None => return,
                }
            }
        })
        .await;
        assert!(
            result.is_ok(),
            "no matching event within {timeout:?}: {seen:?}"
        );
        seen
    })
}

#[test]
fn start_never_waits_for_dns_and_resolves_host_names_in_the_background() {
    // The resolver answers B's real address, but only in the background:
    // start returns first, then the peer gets its endpoint.
    let resolver = ScriptedResolver::new(SocketAddr::from(([127, 0, 0, 1], 9)));
    let pair = named_pair(resolver.clone(), Initially::Unresolved);
    *resolver.answer.lock().unwrap() = pair.b_addr;
    // The lookup started before the answer was fixed may have seen port 9;
    // a network change looks up again and the changed answer moves the peer.
    wait_until("the first lookup", Duration::from_secs(5), || {
        resolver.lookups() >= 1
    });
    pair.a.network_changed().unwrap();
    let seen = events_until(
        &pair.a,
        Duration::from_secs(5),
        |e| matches!(e, TunnelEvent::EndpointChanged { endpoint, .. } if *endpoint == pair.b_addr),
    );
    assert!(
        seen.iter()
            .any(|e| matches!(e, TunnelEvent::Started { .. }))
    );
    assert_eq!(
        resolver.lookups.lock().unwrap()[0],
        "b.ferrotun.test:51820",
        "the configured host name is what is looked up"
    );
    transfer(
        &pair.a_app,
        &pair.b_app,
        &[packet_for(1, 100, false, true)],
        1,
    );
    let back: Vec<Vec<u8>> = (0..50).map(|i| packet_for(i, 400, true, false)).collect();
    transfer(&pair.b_app, &pair.a_app, &back, 16);
    assert_eq!(pair.a.stats().unwrap().peers[0].endpoint, Some(pair.b_addr));
}

#[test]
fn a_resolved_endpoint_is_used_at_once_and_network_changes_resolve_again() {
    let resolver = ScriptedResolver::new(SocketAddr::from(([127, 0, 0, 1], 9)));
    let pair = named_pair(resolver.clone(), Initially::ResolvedToB);
    transfer(
        &pair.a_app,
        &pair.b_app,
        &[packet_for(1, 100, false, true)],
        1,
    );
    assert_eq!(
        resolver.lookups(),
        0,
        "start used resolved_endpoint; no DNS"
    );

    *resolver.answer.lock().unwrap() = pair.b_addr;
    pair.a.network_changed().unwrap();
    wait_until(
        "a lookup after the network change",
        Duration::from_secs(5),
        || resolver.lookups() == 1,
    );
    let packets: Vec<Vec<u8>> = (0..100).map(|i| packet_for(i, 600, false, true)).collect();
    transfer(&pair.a_app, &pair.b_app, &packets, 32);
    assert_eq!(resolver.lookups(), 1, "one lookup per network change");
}

#[test]
fn unanswered_handshakes_report_the_peer_and_resolve_it_again() {
    // A starts with a stale resolution (a socket that never answers); the
    // name now points at B. After PEER_UNREACHABLE_AFTER (15 s) A reports B
    // unreachable, resolves again, moves to the new answer and recovers.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let stale = silent.local_addr().unwrap();
    let resolver = ScriptedResolver::new(stale);
    let pair = named_pair(resolver.clone(), Initially::ResolvedTo(stale));
    *resolver.answer.lock().unwrap() = pair.b_addr;
    let started = Instant::now();
    pair.a_app.send(&packet_for(1, 100, false, true)).unwrap();

    let seen = events_until(&pair.a, Duration::from_secs(30), |e| {
        matches!(e, TunnelEvent::HandshakeCompleted { .. })
    });
    let unreachable = seen
        .iter()
        .position(|e| matches!(e, TunnelEvent::PeerUnreachable { .. }))
        .unwrap_or_else(|| panic!("no PeerUnreachable in {seen:?}"));
    match &seen[unreachable] {
        TunnelEvent::PeerUnreachable {
            public_key,
            unanswered_for,
        } => {
            assert_eq!(*public_key, pair.b_key.public_key());
            assert!(*unanswered_for >= ferrotun::node::PEER_UNREACHABLE_AFTER);
        }
        _ => unreachable!(),
    }
    assert!(started.elapsed() >= ferrotun::node::PEER_UNREACHABLE_AFTER);
    let after = &seen[unreachable..];
    assert!(
        after.iter().any(|e| matches!(e, TunnelEvent::EndpointChanged { endpoint, .. } if *endpoint == pair.b_addr)),
        "moved to the new answer: {seen:?}"
    );
    assert!(
        after
            .iter()
            .any(|e| matches!(e, TunnelEvent::HandshakeCompleted { .. })),
        "{seen:?}"
    );
    assert!(
        after.iter().any(
            |e| matches!(e, TunnelEvent::PeerReachable { public_key } if *public_key == pair.b_key.public_key())
        ),
        "{seen:?}"
    );
    assert_eq!(resolver.lookups(), 1, "one lookup, triggered by the outage");
    // The packet that started it all was queued during the outage and arrives now.
    let mut buf = vec![0u8; 2048];
    let n = pair.b_app.recv(&mut buf).expect("the queued packet");
    assert_eq!(&buf[..n], &packet_for(1, 100, false, true)[..]);
    transfer(
        &pair.a_app,
        &pair.b_app,
        &[packet_for(2, 100, false, true)],
        1,
    );
}

/// A resolver whose first lookup waits until the test lets it answer.
struct GatedResolver {
    answer: Mutex<SocketAddr>,
    gate: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
    lookups: Mutex<usize>,
}

impl Resolver for GatedResolver {
    fn lookup(&self, _host: &str, _port: u16) -> io::Result<Vec<SocketAddr>> {
        *self.lookups.lock().unwrap() += 1;
        // The answer as of the start of the lookup, like DNS on the old network.
        let answer = *self.answer.lock().unwrap();
        let gate = self.gate.lock().unwrap().take();
        if let Some(gate) = gate {
            let _ = gate.recv_timeout(Duration::from_secs(10));
        }
        Ok(vec![answer])
    }
}

#[test]
fn a_network_change_during_a_lookup_resolves_again_after_it() {
    let (open, gate) = std::sync::mpsc::channel();
    let stale = SocketAddr::from(([127, 0, 0, 1], 9));
    let gated = Arc::new(GatedResolver {
        answer: Mutex::new(stale),
        gate: Mutex::new(Some(gate)),
        lookups: Mutex::new(0),
    });
    // A resolves B's name in the background and the first lookup hangs.
    let pair = named_pair(gated.clone(), Initially::Unresolved);
    wait_until("the first lookup", Duration::from_secs(5), || {
        *gated.lookups.lock().unwrap() == 1
    });
    // The network changes while it hangs; then the first lookup answers stale.
    pair.a.network_changed().unwrap();
    *gated.answer.lock().unwrap() = pair.b_addr;
    open.send(()).unwrap();
    // The second lookup, asked for during the first, runs after it.
    events_until(
        &pair.a,
        Duration::from_secs(5),
        |e| matches!(e, TunnelEvent::EndpointChanged { endpoint, .. } if *endpoint == pair.b_addr),
    );
    assert_eq!(*gated.lookups.lock().unwrap(), 2);
    transfer(
        &pair.a_app,
        &pair.b_app,
        &[packet_for(1, 100, false, true)],
        1,
    );
}

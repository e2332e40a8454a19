//! Tunnel lifecycle through the runtime API: the protect hook, network
//! changes under traffic, live reconfiguration, and resource hygiene.

mod common;

use std::os::fd::{BorrowedFd, RawFd};
use std::sync::{Arc, Mutex};

use common::*;
use ferrotun::runtime::{RuntimeError, SocketProtector, Tunnel, TunnelEvent, TunnelOptions};

struct Recorder(Mutex<Vec<(RawFd, u16)>>);

impl SocketProtector for Recorder {
    #[allow(unsafe_code)] // viewing the fd the tunnel lends us, as an app's protect() does
    fn protect(&self, fd: RawFd) -> bool {
        // SAFETY: the tunnel keeps the socket open for the whole call.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        // The fd must be a live, bound UDP socket when we are called.
        let socket = socket2::SockRef::from(&borrowed);
        assert_eq!(socket.r#type().unwrap(), socket2::Type::DGRAM);
        let port = socket.local_addr().unwrap().as_socket().unwrap().port();
        self.0.lock().unwrap().push((fd, port));
        true
    }
}

struct Refuser;
impl SocketProtector for Refuser {
    fn protect(&self, _fd: RawFd) -> bool {
        false
    }
}

#[test]
fn the_protector_sees_the_bound_udp_socket_before_any_send() {
    let recorder = Arc::new(Recorder(Mutex::new(Vec::new())));
    let (fd, _app) = tun_socketpair();
    let tunnel = Tunnel::start(
        minimal_config(),
        fd,
        TunnelOptions {
            protector: Some(recorder.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    let calls = recorder.0.lock().unwrap().clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].1,
        tunnel.listen_port(),
        "protect got the tunnel's own socket"
    );

    tunnel.network_changed().unwrap();
    let calls = recorder.0.lock().unwrap().clone();
    assert_eq!(calls.len(), 2, "protected again after the rebind");
    assert_eq!(
        calls[1].1,
        tunnel.listen_port(),
        "the rebind keeps the port"
    );
}

#[test]
fn a_refusing_protector_fails_start_with_protect_failed() {
    let (fd, _app) = tun_socketpair();
    let err = Tunnel::start(
        minimal_config(),
        fd,
        TunnelOptions {
            protector: Some(Arc::new(Refuser)),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, RuntimeError::ProtectFailed), "{err}");
}

#[test]
fn traffic_keeps_flowing_across_network_changes() {
    let pair = Pair::start();
    for round in 0..4u32 {
        let packets: Vec<Vec<u8>> = (0..300u32)
            .map(|i| packet_for(round * 1000 + i, 900, i % 2 == 0, true))
            .collect();
        transfer(&pair.a.app, &pair.b.app, &packets, 32);
        pair.a.tunnel.network_changed().unwrap();
        let back: Vec<Vec<u8>> = (0..100u32)
            .map(|i| packet_for(i, 300, false, false))
            .collect();
        transfer(&pair.b.app, &pair.a.app, &back, 32);
    }
    let stats = pair.a.tunnel.stats().unwrap();
    assert_eq!(stats.ip_packets_in, 1200);
    assert_eq!(stats.ip_packets_out, 400);
}

#[test]
fn update_config_adds_routes_without_a_new_handshake() {
    let pair = Pair::start();
    pair.handshake();
    let before = pair.a.tunnel.stats().unwrap();

    // Both sides accept 10.99.5.0/24 through the existing peer.
    let widen = |side: &Side, other: &Side, extra: &str| {
        let old = side.tunnel.stats().unwrap();
        let peer = &old.peers[0];
        let own = if side.key == pair.a.key {
            "10.99.0.2/32"
        } else {
            "10.99.0.1/32"
        };
        let config = tunnel_config(
            side.key,
            &[],
            Some(MTU as u16),
            vec![peer_config(
                other.key.public_key(),
                &[extra, own],
                peer.endpoint,
                None,
            )],
        );
        side.tunnel.update_config(config).unwrap();
    };
    widen(&pair.a, &pair.b, "10.99.5.0/24");
    widen(&pair.b, &pair.a, "10.99.6.0/24");

    let packet = ipv4_packet(
        "10.99.6.1".parse().unwrap(),
        "10.99.5.9".parse().unwrap(),
        5,
        200,
    );
    transfer(&pair.a.app, &pair.b.app, &[packet], 1);

    // The existing session carried the new route: still exactly one handshake.
    pair.a.tunnel.stop();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let handshakes = rt.block_on(async {
        let mut n = 0;
        while let Some(e) = pair.a.tunnel.next_event().await {
            n += usize::from(matches!(e, TunnelEvent::HandshakeCompleted { .. }));
        }
        n
    });
    assert_eq!(handshakes, 1);
    assert!(before.peers[0].last_handshake.is_some());
}

/// An app that stops reading its end of the TUN (a stuck UI thread, a test
/// that panicked) leaves the tunnel waiting to write decrypted packets;
/// `stop()` must still end it instead of waiting for room that never comes.
#[test]
fn stop_returns_while_the_tun_write_waits_for_room() {
    let pair = Pair::start();
    pair.handshake();
    // B sends far more than A's socketpair "TUN" holds; A's app never reads.
    for seq in 0..400 {
        pair.b
            .app
            .send(&packet_for(seq, 1000, false, false))
            .expect("B's app writes into its TUN");
    }
    // A's loop may already be stuck (it answers no stats then), so watch B.
    wait_for_stats(&pair.b.tunnel, "B sends everything to A", |s| {
        s.udp_datagrams_sent >= 400
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let Pair { a, b } = pair;
    let stopper = std::thread::spawn(move || {
        a.tunnel.stop();
        let _ = done_tx.send(());
        a
    });
    // A liveness bound, not a timing: a stop that waits for room never returns.
    done_rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("stop() returned while the TUN write was waiting for room");
    let a = stopper.join().expect("stopper thread");
    drop((a, b));
}

#[test]
fn commands_and_stop_reach_a_loop_idling_without_a_timer() {
    // No peers, so no timer is armed: the idle loop waits in its own `poll`
    // without a timeout, and only the doorbell every command rings wakes it.
    // A command it missed would time out (`COMMAND_TIMEOUT`) and fail here.
    let (fd, _app) = tun_socketpair();
    let tunnel = Tunnel::start(minimal_config(), fd, TunnelOptions::default()).unwrap();
    for _ in 0..20 {
        std::thread::sleep(std::time::Duration::from_millis(5));
        let stats = tunnel.stats().unwrap();
        assert_eq!(stats.ip_packets_in, 0);
    }
    tunnel.network_changed().unwrap();
    tunnel.update_config(minimal_config()).unwrap();
    tunnel.stop();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let last = rt.block_on(async {
        let mut last = None;
        while let Some(event) = tunnel.next_event().await {
            last = Some(event);
        }
        last
    });
    assert!(
        matches!(last, Some(TunnelEvent::Stopped { error: None })),
        "{last:?}"
    );
}

#[test]
fn an_idle_tunnel_still_hears_its_peer_after_each_network_change() {
    // One packet at a time: both loops read their TUN themselves and wait
    // idle on it and the socket, which each network change replaces (often
    // under the old socket's fd number).
    let pair = Pair::start();
    pair.handshake();
    for round in 1..=4u32 {
        pair.a.tunnel.network_changed().unwrap();
        transfer(
            &pair.b.app,
            &pair.a.app,
            &[packet_for(round, 100, false, false)],
            1,
        );
        transfer(
            &pair.a.app,
            &pair.b.app,
            &[packet_for(round, 100, false, true)],
            1,
        );
    }
}

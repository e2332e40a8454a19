//! Two real tunnels over loopback UDP, socketpairs as their TUN fds: the full
//! data path (batched TUN reads, boringtun, GSO sends, GRO receives) in one process.

mod common;

use std::net::UdpSocket;

use common::*;
use ferrotun::runtime::TunnelEvent;

#[test]
fn thousands_of_mixed_packets_arrive_intact_and_in_order_both_ways() {
    let pair = Pair::start();

    // Mixed sizes and both IP versions, forward then back.
    let sizes = [40usize, 52, 100, 576, 1000, 1280, MTU];
    let forward: Vec<Vec<u8>> = (0..3000u32)
        .map(|i| {
            let v6 = i % 3 == 0;
            let len = sizes[(i as usize * 7) % sizes.len()].max(if v6 { 52 } else { 40 });
            packet_for(i, len, v6, true)
        })
        .collect();
    transfer(&pair.a.app, &pair.b.app, &forward, 64);

    let backward: Vec<Vec<u8>> = (0..2000u32)
        .map(|i| {
            packet_for(
                i,
                sizes[i as usize % sizes.len()].max(52),
                i % 2 == 0,
                false,
            )
        })
        .collect();
    transfer(&pair.b.app, &pair.a.app, &backward, 64);

    let handshake = wait_for_event(&pair.a.tunnel, |e| {
        matches!(e, TunnelEvent::HandshakeCompleted { .. })
    });
    assert_eq!(
        handshake,
        TunnelEvent::HandshakeCompleted {
            public_key: pair.b.key.public_key()
        }
    );
    wait_for_event(&pair.b.tunnel, |e| {
        matches!(e, TunnelEvent::HandshakeCompleted { .. })
    });

    let a = wait_for_stats(&pair.a.tunnel, "A's counters", |s| s.ip_packets_out >= 2000);
    let b = wait_for_stats(&pair.b.tunnel, "B's counters", |s| s.ip_packets_out >= 3000);
    assert_eq!(a.ip_packets_in, 3000);
    assert_eq!(a.ip_packets_out, 2000);
    assert_eq!(b.ip_packets_in, 2000);
    assert_eq!(b.ip_packets_out, 3000);
    let forward_bytes: u64 = forward.iter().map(|p| p.len() as u64).sum();
    assert_eq!(a.peers[0].tx_packets, 3000);
    assert_eq!(a.peers[0].tx_bytes, forward_bytes);
    assert_eq!(b.peers[0].rx_packets, 3000);
    assert_eq!(b.peers[0].rx_bytes, forward_bytes);
    assert_eq!(a.peers[0].rx_packets, 2000);
    assert!(a.peers[0].last_handshake.is_some());
    // B learned A's endpoint from the handshake (it had none configured).
    assert_eq!(
        b.peers[0].endpoint.map(|e| e.port()),
        Some(pair.a.tunnel.listen_port())
    );
    assert_eq!(a.drops.total(), 0, "{:?}", a.drops);
    assert_eq!(b.drops.total(), 0, "{:?}", b.drops);
}

#[test]
fn bulk_traffic_uses_gso_with_many_datagrams_per_send() {
    let pair = Pair::start();
    // Warm up: handshake.
    pair.handshake();
    let before = pair.a.tunnel.stats().unwrap();

    let bulk: Vec<Vec<u8>> = (1..=4000u32)
        .map(|i| packet_for(i, MTU, false, true))
        .collect();
    transfer(&pair.a.app, &pair.b.app, &bulk, 256);

    let after = pair.a.tunnel.stats().unwrap();
    let datagrams = after.udp_datagrams_sent - before.udp_datagrams_sent;
    let syscalls = after.udp_send_syscalls - before.udp_send_syscalls;
    let ratio = datagrams as f64 / syscalls as f64;
    eprintln!(
        "GSO: {datagrams} datagrams in {syscalls} send syscalls = {ratio:.2} per syscall; \
         {} TUN read batches",
        after.tun_read_batches - before.tun_read_batches
    );
    assert!(datagrams >= 4000);
    assert!(
        ratio >= 2.0,
        "GSO barely used: {datagrams} datagrams in {syscalls} syscalls"
    );

    let b = pair.b.tunnel.stats().unwrap();
    eprintln!(
        "GRO: {} receive buffers held several datagrams",
        b.gro_batches
    );
}

#[test]
fn bad_input_is_dropped_and_counted_and_traffic_still_flows() {
    let pair = Pair::start();
    pair.handshake();

    // Garbage datagrams at B's UDP port: not WireGuard, truncated, forged data.
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b_port = pair.b.tunnel.listen_port();
    let mut forged = vec![4u8, 0, 0, 0];
    forged.extend_from_slice(&[0xAB; 60]);
    let garbage: Vec<Vec<u8>> = vec![
        b"hello".to_vec(),
        vec![],
        vec![1u8; 148],
        vec![2u8; 92],
        forged,
        vec![0xFF; 1500],
    ];
    for g in &garbage {
        attacker.send_to(g, ("127.0.0.1", b_port)).unwrap();
    }
    let b = wait_for_stats(&pair.b.tunnel, "invalid datagrams counted", |s| {
        s.drops.invalid_datagram >= 5
    });
    assert_eq!(b.drops.unknown_peer, 0);

    // Malformed IP packets and packets no peer covers, written into A's TUN side.
    let malformed: Vec<Vec<u8>> = vec![
        vec![0x45, 0, 0], // truncated IPv4 header
        vec![0x50; 60],   // IP version 5
        vec![0x60; 30],   // truncated IPv6 header
        {
            let mut p = packet_for(1, 100, false, true);
            p[2..4].copy_from_slice(&2000u16.to_be_bytes()); // length beyond the packet
            p
        },
    ];
    for m in &malformed {
        pair.a.app.send(m).unwrap();
    }
    let unrouted = ipv4_packet(A_V4, "192.0.2.7".parse().unwrap(), 9, 100);
    pair.a.app.send(&unrouted).unwrap();
    let unrouted_v6 = ipv6_packet(A_V6, "2001:db8::7".parse().unwrap(), 9, 100);
    pair.a.app.send(&unrouted_v6).unwrap();
    let a = wait_for_stats(&pair.a.tunnel, "malformed and unrouted drops", |s| {
        s.drops.malformed_ip >= 4 && s.drops.no_route >= 2
    });
    assert_eq!(a.drops.malformed_ip, 4);
    assert_eq!(a.drops.no_route, 2);

    // Traffic after all that still flows, both ways.
    let after: Vec<Vec<u8>> = (10..510u32)
        .map(|i| packet_for(i, 600, i % 2 == 0, true))
        .collect();
    transfer(&pair.a.app, &pair.b.app, &after, 64);
    let back: Vec<Vec<u8>> = (10..510u32)
        .map(|i| packet_for(i, 600, i % 2 == 1, false))
        .collect();
    transfer(&pair.b.app, &pair.a.app, &back, 64);
}

#[test]
fn a_spoofed_inner_source_is_dropped() {
    let pair = Pair::start();
    pair.handshake();
    // A sends a packet whose inner source is not in B's allowed IPs for A.
    let spoofed = ipv4_packet("10.99.0.77".parse().unwrap(), B_V4, 1, 100);
    pair.a.app.send(&spoofed).unwrap();
    let b = wait_for_stats(&pair.b.tunnel, "source_not_allowed", |s| {
        s.drops.source_not_allowed == 1
    });
    assert_eq!(
        b.ip_packets_out, 1,
        "only the first, legitimate packet was delivered"
    );
    transfer(
        &pair.a.app,
        &pair.b.app,
        &[packet_for(2, 100, false, true)],
        1,
    );
}

#[test]
fn stop_ends_the_tunnel_and_events_end_with_stopped() {
    let pair = Pair::start();
    pair.handshake();
    pair.a.tunnel.stop();
    pair.a.tunnel.stop(); // idempotent
    assert!(pair.a.tunnel.stats().is_err());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let events = rt.block_on(async {
        let mut events = Vec::new();
        while let Some(e) = pair.a.tunnel.next_event().await {
            events.push(e);
        }
        events
    });
    assert!(
        matches!(events.first(), Some(TunnelEvent::Started { .. })),
        "{events:?}"
    );
    assert_eq!(events.last(), Some(&TunnelEvent::Stopped { error: None }));
}

/// The remote ends of this process's IPv4 UDP sockets bound to `port`
/// (`/proc/net/udp`; unconnected sockets show 0.0.0.0:0).
#[cfg(target_os = "linux")]
fn udp_remotes_on_port(port: u16) -> Vec<std::net::SocketAddr> {
    let table = std::fs::read_to_string("/proc/net/udp").unwrap();
    let parse = |field: &str| {
        let (addr, port) = field.split_once(':').unwrap();
        let addr = u32::from_str_radix(addr, 16).unwrap();
        let port = u16::from_str_radix(port, 16).unwrap();
        std::net::SocketAddr::from((addr.to_ne_bytes(), port))
    };
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (parse(fields[1]).port() == port).then(|| parse(fields[2]))
        })
        .collect()
}

#[cfg(target_os = "linux")]
#[test]
fn after_the_handshake_each_side_keeps_a_socket_connected_to_the_other_on_its_port() {
    let pair = Pair::start();
    pair.handshake();
    let (port_a, port_b) = (pair.a.tunnel.listen_port(), pair.b.tunnel.listen_port());
    let a_to_b = std::net::SocketAddr::from(([127, 0, 0, 1], port_b));
    let b_to_a = std::net::SocketAddr::from(([127, 0, 0, 1], port_a));
    // B completes its side of the handshake on A's first data packet; give
    // its loop the moment to act on that.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (on_a, on_b) = (udp_remotes_on_port(port_a), udp_remotes_on_port(port_b));
        if on_a.contains(&a_to_b) && on_b.contains(&b_to_a) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "connected sockets: A {on_a:?}, B {on_b:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Traffic keeps flowing over them, both ways.
    transfer(
        &pair.a.app,
        &pair.b.app,
        &[packet_for(7, 200, false, true)],
        1,
    );
    transfer(
        &pair.b.app,
        &pair.a.app,
        &[packet_for(8, 200, false, false)],
        1,
    );
    let b = pair.b.tunnel.stats().unwrap();
    assert_eq!(b.drops.total(), 0, "{:?}", b.drops);
}

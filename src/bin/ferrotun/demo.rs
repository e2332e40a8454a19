//! `ferrotun demo`: two real tunnels in one process over loopback UDP, with
//! socketpairs standing in for TUN devices, pushing MTU-sized packets one way.

use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixDatagram;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use ferrotun::config::{Endpoint, MAX_MTU, MIN_MTU, Mtu, PeerConfig, PrivateKey, TunnelConfig};
use ferrotun::runtime::{Tunnel, TunnelOptions};

#[derive(Args)]
pub struct DemoArgs {
    /// How long to push traffic.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Inner packet size in bytes (the tunnel MTU).
    #[arg(long, default_value_t = 1420)]
    size: u16,
}

fn config(
    key: PrivateKey,
    peer: PrivateKey,
    own: &str,
    theirs: &str,
    mtu: u16,
    endpoint: Option<SocketAddr>,
) -> TunnelConfig {
    let peer = PeerConfig {
        endpoint: endpoint.map(|e| Endpoint::try_from(e).expect("a bound port")),
        allowed_ips: vec![format!("{theirs}/32").parse().expect("literal")],
        ..PeerConfig::new(peer.public_key())
    };
    TunnelConfig::new(key, vec![peer])
        .expect("two distinct keys")
        .with_mtu(Mtu::try_from(mtu).expect("clamped to the MTU range"))
        .with_addresses(vec![format!("{own}/24").parse().expect("literal")])
}

/// A minimal IPv4/UDP packet of `len` bytes from 10.77.0.1 to 10.77.0.2.
fn packet(len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&Ipv4Addr::new(10, 77, 0, 1).octets());
    p[16..20].copy_from_slice(&Ipv4Addr::new(10, 77, 0, 2).octets());
    p
}

pub fn run(args: DemoArgs) -> Result<(), String> {
    let size = usize::from(args.size.clamp(MIN_MTU, MAX_MTU));
    let (key_a, key_b) = (PrivateKey::generate(), PrivateKey::generate());
    let (tun_b, app_b) = UnixDatagram::pair().map_err(|e| e.to_string())?;
    let b = Tunnel::start(
        config(key_b, key_a, "10.77.0.2", "10.77.0.1", size as u16, None),
        OwnedFd::from(tun_b),
        TunnelOptions::default(),
    )
    .map_err(|e| e.to_string())?;
    let endpoint = SocketAddr::from(([127, 0, 0, 1], b.listen_port()));
    let (tun_a, app_a) = UnixDatagram::pair().map_err(|e| e.to_string())?;
    let a = Tunnel::start(
        config(
            key_a,
            key_b,
            "10.77.0.1",
            "10.77.0.2",
            size as u16,
            Some(endpoint),
        ),
        OwnedFd::from(tun_a),
        TunnelOptions::default(),
    )
    .map_err(|e| e.to_string())?;

    println!(
        "ferrotun demo: two tunnels over 127.0.0.1 UDP, {size}-byte packets for {} s",
        args.seconds
    );
    let stop = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    app_b
        .set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(|e| e.to_string())?;
    let reader = {
        let (stop, received) = (stop.clone(), received.clone());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !stop.load(Ordering::Relaxed) {
                if let Ok(n) = app_b.recv(&mut buf) {
                    received.fetch_add(n as u64, Ordering::Relaxed);
                }
            }
        })
    };

    let p = packet(size);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.seconds.max(1));
    let mut sent = 0u64;
    while Instant::now() < deadline {
        for _ in 0..64 {
            if app_a.send(&p).is_ok() {
                sent += 1;
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let _ = reader.join();

    let bytes = received.load(Ordering::Relaxed);
    let sa = a.stats().map_err(|e| e.to_string())?;
    let sb = b.stats().map_err(|e| e.to_string())?;
    println!(
        "throughput: {:.2} Gbit/s of inner IP packets ({} of {} packets delivered)",
        bytes as f64 * 8.0 / elapsed / 1e9,
        bytes / size as u64,
        sent
    );
    println!(
        "GSO: {} datagrams in {} send syscalls ({:.1} per syscall); {} TUN read batches ({:.1} packets each)",
        sa.udp_datagrams_sent,
        sa.udp_send_syscalls,
        sa.udp_datagrams_sent as f64 / sa.udp_send_syscalls.max(1) as f64,
        sa.tun_read_batches,
        sa.ip_packets_in as f64 / sa.tun_read_batches.max(1) as f64,
    );
    println!(
        "GRO: {} datagrams received, {} receive buffers held more than one",
        sb.udp_datagrams_received, sb.gro_batches
    );
    a.stop();
    b.stop();
    Ok(())
}

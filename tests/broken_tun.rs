//! A TUN fd that breaks under a running tunnel: every read error and end of
//! file ends the tunnel with a `Stopped` event that says why, promptly, and
//! `stop()` returns; an empty datagram on a socketpair is not end of file.
//! No root: socketpairs, unconnected sockets and an unattached `/dev/net/tun`.

mod common;

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use ferrotun::runtime::{TunFraming, Tunnel, TunnelEvent, TunnelOptions};

/// Longest a broken fd may take to stop the tunnel.
const PROMPTLY: Duration = Duration::from_secs(2);

/// The `Stopped` event, which must come within [`PROMPTLY`].
fn stopped_event(tunnel: &Tunnel) -> TunnelEvent {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::time::timeout(PROMPTLY, async {
            loop {
                match tunnel.next_event().await {
                    Some(e @ TunnelEvent::Stopped { .. }) => return e,
                    Some(_) => continue,
                    None => panic!("no Stopped event before the stream ended"),
                }
            }
        })
        .await
        .expect("the broken fd stops the tunnel within 2 s")
    })
}

/// `stop()` must return within [`PROMPTLY`], even after the reader failed.
fn stop_returns(mut running: Running) {
    let tunnel = running.0.take().expect("running");
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        tunnel.stop();
        let _ = done_tx.send(());
    });
    done_rx
        .recv_timeout(PROMPTLY)
        .expect("stop() returns within 2 s");
}

/// Holds the tunnel; if the test fails it is leaked rather than dropped,
/// since dropping calls the very `stop()` that may hang on the broken fd.
struct Running(Option<Arc<Tunnel>>);

impl std::ops::Deref for Running {
    type Target = Tunnel;
    fn deref(&self) -> &Tunnel {
        self.0.as_ref().expect("running")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if std::thread::panicking() {
            std::mem::forget(self.0.take());
        }
    }
}

fn start(fd: OwnedFd, framing: TunFraming) -> Running {
    Running(Some(Arc::new(
        Tunnel::start(
            minimal_config(),
            fd,
            TunnelOptions {
                framing,
                ..Default::default()
            },
        )
        .expect("start"),
    )))
}

fn assert_stopped_with_reason(tunnel: &Tunnel) -> String {
    match stopped_event(tunnel) {
        TunnelEvent::Stopped {
            error: Some(reason),
        } => {
            assert!(reason.contains("TUN"), "the reason names the TUN: {reason}");
            reason
        }
        other => panic!("expected Stopped with a reason, got {other:?}"),
    }
}

/// Runs a tunnel on `fd` until the broken fd stops it: the stop comes
/// promptly, names the TUN, and `stop()` still returns. Returns the reason.
fn stop_reason(fd: OwnedFd, framing: TunFraming) -> String {
    let tunnel = start(fd, framing);
    let reason = assert_stopped_with_reason(&tunnel);
    stop_returns(tunnel);
    reason
}

/// A stream whose other end closed: it reads 0 bytes forever.
fn closed_stream() -> OwnedFd {
    let (ours, theirs) = UnixStream::pair().unwrap();
    drop(theirs);
    OwnedFd::from(ours)
}

#[test]
fn a_socket_that_is_not_connected_stops_the_tunnel_with_a_reason() {
    // read() fails at once, forever (EINVAL on Linux): it must not be retried.
    let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).unwrap();
    let reason = stop_reason(OwnedFd::from(socket), TunFraming::Raw);
    assert!(
        reason.contains("os error"),
        "the OS error is named: {reason}"
    );
}

#[test]
fn an_unattached_dev_net_tun_fd_stops_the_tunnel_with_a_reason() {
    // What a TUN fd looks like once its interface is gone: reads fail with EBADFD.
    let Ok(file) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
    else {
        // Without /dev/net/tun the socket case above covers the reader.
        panic!("/dev/net/tun is not available on this machine");
    };
    stop_reason(OwnedFd::from(file), TunFraming::Raw);
}

#[test]
fn end_of_file_with_apple_framing_stops_the_tunnel() {
    let reason = stop_reason(closed_stream(), TunFraming::AppleUtun);
    assert!(reason.contains("end of file"), "{reason}");
}

#[test]
fn end_of_file_on_a_raw_stream_stops_the_tunnel() {
    stop_reason(closed_stream(), TunFraming::Raw);
}

#[test]
fn an_empty_datagram_on_a_socketpair_is_dropped_and_counted_not_end_of_file() {
    for framing in [TunFraming::Raw, TunFraming::AppleUtun] {
        let (ours, app) = tun_socketpair();
        let tunnel = start(ours, framing);
        app.send(&[]).unwrap();
        wait_for_stats(&tunnel, "the empty datagram counted", |s| {
            s.drops.malformed_ip == 1
        });
        // Still reading: a real packet after it is routed (and, with no peers, dropped as such).
        let mut packet = ipv4_packet(A_V4, B_V4, 1, 100);
        if framing == TunFraming::AppleUtun {
            packet.splice(0..0, (libc::AF_INET as u32).to_be_bytes());
        }
        app.send(&packet).unwrap();
        wait_for_stats(&tunnel, "the next packet read", |s| s.drops.no_route == 1);
        stop_returns(tunnel);
    }
}

#[test]
fn a_packet_larger_than_the_mtu_is_dropped_and_counted_whole() {
    let (ours, app) = tun_socketpair();
    let tunnel = start(ours, TunFraming::Raw);
    // The TUN's MTU may be larger than the config's: the packet must not be
    // cut to the buffer and passed on.
    app.send(&ipv4_packet(A_V4, B_V4, 1, 1500)).unwrap();
    app.send(&ipv4_packet(A_V4, B_V4, 2, 100)).unwrap();
    let stats = wait_for_stats(&tunnel, "both packets read", |s| {
        s.drops.oversized_tun_packet + s.drops.no_route == 2
    });
    assert_eq!(stats.drops.oversized_tun_packet, 1);
    assert_eq!(stats.drops.malformed_ip, 0);
    stop_returns(tunnel);
}

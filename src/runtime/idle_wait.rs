//! The event loop's wait while the tunnel is idle: one `poll(2)` on the TUN
//! fd, the UDP sockets (listening, and connected to the peer) and a
//! doorbell, instead of tokio's reactor.
//!
//! Why. An idle tunnel's round trip is four wake-ups (the sender's loop,
//! the receiver's, and back), each after a long sleep, with cold caches
//! and TLBs (on the 2-vCPU bench machine a round trip after 50 ms idle
//! takes over three times one after 2 ms). Waking through tokio (epoll,
//! readiness dispatch, waking the task, the timer wheel, then the
//! `select!`) touches much more of that cold memory than a read and a send:
//! skipping it cut the idle round trip from 0.253 to 0.234 ms there
//! (medians, `bench/idle.py`). Woken by `poll`, the loop reads and sends at
//! once.
//!
//! When. Only while the loop reads the TUN itself (light traffic) and has
//! nothing queued, pending or commanded; everything else, and whatever the
//! wait cannot handle (a command, a timer, a full socket), goes through the
//! tokio path as before. `poll` is level-triggered, so nothing tokio's
//! edge-triggered registration would report is lost: a packet the loop
//! leaves unread is reported by the next `poll` or by tokio's next epoll.
//!
//! What rings the loop's doorbell ([`fd_wait::doorbell`]): every command sent to the loop (stop too),
//! so a waiting loop never sits on a command.

use std::io;
use std::os::fd::{AsFd as _, BorrowedFd};
use std::time::Duration;

use crate::io::fd_wait::{self, Listener};
use crate::io::udp::PolledReadable;

/// What ended an idle wait. All false: the timeout passed (or a signal).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Woken {
    /// The TUN fd has a packet.
    pub tun: bool,
    /// The TUN fd reports an error or hang-up (a detached interface).
    pub tun_error: bool,
    /// Which UDP socket has a datagram (or an error to collect).
    pub udp: PolledReadable,
    /// The doorbell rang.
    pub bell: bool,
}

/// Waits until `tun`, `udp` or `udp_peer` (the socket connected to the
/// peer, if any) is readable, `bell` rings or `timeout` passes (`None`: no
/// timeout).
///
/// # Errors
/// `poll` failed (the loop then uses tokio's path).
pub(super) fn wait(
    tun: BorrowedFd<'_>,
    udp: BorrowedFd<'_>,
    udp_peer: Option<BorrowedFd<'_>>,
    bell: &Listener,
    timeout: Option<Duration>,
) -> io::Result<Woken> {
    // Without a connected socket the listening one stands in for it (poll
    // takes repeated fds), and what it shows there is not reported.
    let has_peer = udp_peer.is_some();
    let [tun, udp, udp_peer, bell] =
        fd_wait::wait([tun, udp, udp_peer.unwrap_or(udp), bell.as_fd()], timeout)?;
    Ok(Woken {
        tun: tun.readable,
        tun_error: tun.failed,
        udp: PolledReadable {
            listening: udp.any(),
            peer: has_peer && udp_peer.any(),
        },
        bell: bell.any(),
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixStream;

    use super::*;
    use crate::io::fd_wait::pair;

    #[test]
    fn reports_each_readable_fd() {
        let (tun, tun_peer) = pair();
        let (udp, udp_remote) = pair();
        let (connected, connected_remote) = pair();
        let (_ring, bell) = fd_wait::doorbell().unwrap();
        let wait_all = || {
            wait(
                tun.as_fd(),
                udp.as_fd(),
                Some(connected.as_fd()),
                &bell,
                None,
            )
        };
        tun_peer.send(b"ip").unwrap();
        assert_eq!(
            wait_all().unwrap(),
            Woken {
                tun: true,
                ..Woken::default()
            }
        );
        connected_remote.send(b"wg").unwrap();
        let woken = wait_all().unwrap();
        assert!(woken.tun && woken.udp.peer && !woken.udp.listening && !woken.bell);
        udp_remote.send(b"wg").unwrap();
        let woken = wait_all().unwrap();
        assert!(woken.tun && woken.udp.peer && woken.udp.listening && !woken.bell);
    }

    #[test]
    fn without_a_connected_socket_only_the_listening_one_is_reported() {
        let (tun, _tun_peer) = pair();
        let (udp, udp_remote) = pair();
        let (_ring, bell) = fd_wait::doorbell().unwrap();
        udp_remote.send(b"wg").unwrap();
        let woken = wait(tun.as_fd(), udp.as_fd(), None, &bell, None).unwrap();
        assert_eq!(
            woken.udp,
            PolledReadable {
                listening: true,
                peer: false
            }
        );
    }

    #[test]
    fn a_hung_up_tun_is_an_error_not_a_packet() {
        // A stream pair: a datagram pair reports nothing when its peer goes.
        let (tun, tun_peer) = UnixStream::pair().unwrap();
        let (udp, _udp_peer) = pair();
        let (_ring, bell) = fd_wait::doorbell().unwrap();
        drop(tun_peer);
        let woken = wait(tun.as_fd(), udp.as_fd(), None, &bell, Some(Duration::ZERO)).unwrap();
        assert!(woken.tun_error, "{woken:?}");
    }

    #[test]
    fn a_ring_is_reported_as_the_bell() {
        let (tun, _tun_peer) = pair();
        let (udp, _udp_peer) = pair();
        let (ring, bell) = fd_wait::doorbell().unwrap();
        ring.ring().unwrap();
        let woken = wait(tun.as_fd(), udp.as_fd(), None, &bell, None).unwrap();
        assert_eq!(
            woken,
            Woken {
                bell: true,
                ..Woken::default()
            }
        );
    }
}

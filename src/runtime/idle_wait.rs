//! The event loop's wait while the tunnel is idle: one `poll(2)` on the TUN
//! fd, the UDP socket and a doorbell, instead of tokio's reactor.
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
//! What rings the [`Doorbell`]: every command sent to the loop (stop too),
//! so a waiting loop never sits on a command.

use std::io::{self, Read as _, Write as _};
use std::os::fd::{AsFd as _, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};

/// Wakes the loop's idle wait from any thread: a byte on a socket pair
/// (portable to Darwin, which has no eventfd).
#[derive(Debug)]
pub(super) struct Doorbell {
    ring: UnixStream,
    heard: UnixStream,
}

impl Doorbell {
    /// A doorbell not ringing.
    ///
    /// # Errors
    /// When the socket pair cannot be made.
    pub fn new() -> io::Result<Self> {
        let (ring, heard) = UnixStream::pair()?;
        // Neither end may block: a full pair already rings.
        ring.set_nonblocking(true)?;
        heard.set_nonblocking(true)?;
        Ok(Self { ring, heard })
    }

    /// Rings until [`Self::answer`]. Never blocks.
    pub fn ring(&self) {
        // WouldBlock: full, so ringing already; any other error cannot happen
        // while the loop holds the other end, and then nobody listens.
        let _ = (&self.ring).write(&[1]);
    }

    /// Stops the ringing (the loop is about to look at its commands).
    pub fn answer(&self) {
        let mut buf = [0u8; 64];
        while matches!((&self.heard).read(&mut buf), Ok(n) if n > 0) {}
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.heard.as_fd()
    }
}

/// What ended an idle wait. All false: the timeout passed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Woken {
    /// The TUN fd has a packet.
    pub tun: bool,
    /// The TUN fd reports an error or hang-up (a detached interface).
    pub tun_error: bool,
    /// The UDP socket has a datagram (or an error to collect).
    pub udp: bool,
    /// The doorbell rang.
    pub bell: bool,
}

/// Waits until `tun` or `udp` is readable, `bell` rings or `timeout`
/// passes (`None`: no timeout). `EINTR` ends the wait with nothing woken.
///
/// # Errors
/// `poll` failed for another reason (the loop then uses tokio's path).
pub(super) fn wait(
    tun: BorrowedFd<'_>,
    udp: BorrowedFd<'_>,
    bell: &Doorbell,
    timeout: Option<Duration>,
) -> io::Result<Woken> {
    let bell_fd = bell.fd();
    let mut fds = [
        PollFd::new(&tun, PollFlags::IN),
        PollFd::new(&udp, PollFlags::IN),
        PollFd::new(&bell_fd, PollFlags::IN),
    ];
    // Beyond what Timespec holds: wait without a timeout.
    let timeout = timeout.and_then(|t| Timespec::try_from(t).ok());
    match poll(&mut fds, timeout.as_ref()) {
        Ok(_) => {}
        Err(rustix::io::Errno::INTR) => return Ok(Woken::default()),
        Err(e) => return Err(e.into()),
    }
    let tun = fds[0].revents();
    Ok(Woken {
        tun: tun.contains(PollFlags::IN),
        tun_error: tun.intersects(PollFlags::ERR | PollFlags::HUP | PollFlags::NVAL),
        udp: !fds[1].revents().is_empty(),
        bell: !fds[2].revents().is_empty(),
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixDatagram;
    use std::time::Instant;

    use super::*;

    fn pair() -> (UnixDatagram, UnixDatagram) {
        let (a, b) = UnixDatagram::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        (a, b)
    }

    #[test]
    fn times_out_with_nothing_woken() {
        let (tun, _tun_peer) = pair();
        let (udp, _udp_peer) = pair();
        let bell = Doorbell::new().unwrap();
        let start = Instant::now();
        let woken = wait(
            tun.as_fd(),
            udp.as_fd(),
            &bell,
            Some(Duration::from_millis(20)),
        )
        .unwrap();
        assert_eq!(woken, Woken::default());
        assert!(start.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn reports_each_readable_fd() {
        let (tun, tun_peer) = pair();
        let (udp, udp_peer) = pair();
        let bell = Doorbell::new().unwrap();
        tun_peer.send(b"ip").unwrap();
        let woken = wait(tun.as_fd(), udp.as_fd(), &bell, None).unwrap();
        assert_eq!(
            woken,
            Woken {
                tun: true,
                ..Woken::default()
            }
        );
        udp_peer.send(b"wg").unwrap();
        let woken = wait(tun.as_fd(), udp.as_fd(), &bell, None).unwrap();
        assert!(woken.tun && woken.udp && !woken.bell);
    }

    #[test]
    fn a_ring_from_another_thread_ends_the_wait_until_answered() {
        let (tun, _tun_peer) = pair();
        let (udp, _udp_peer) = pair();
        let bell = std::sync::Arc::new(Doorbell::new().unwrap());
        let ringer = bell.clone();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            ringer.ring();
            ringer.ring();
        });
        let woken = wait(tun.as_fd(), udp.as_fd(), &bell, None).unwrap();
        thread.join().unwrap();
        assert!(woken.bell && !woken.tun && !woken.udp);
        bell.answer();
        let woken = wait(tun.as_fd(), udp.as_fd(), &bell, Some(Duration::ZERO)).unwrap();
        assert_eq!(woken, Woken::default(), "answered: silent again");
    }

    #[test]
    fn a_hung_up_tun_is_an_error_not_a_packet() {
        // A stream pair: a datagram pair reports nothing when its peer goes.
        let (tun, tun_peer) = UnixStream::pair().unwrap();
        let (udp, _udp_peer) = pair();
        let bell = Doorbell::new().unwrap();
        drop(tun_peer);
        let woken = wait(tun.as_fd(), udp.as_fd(), &bell, Some(Duration::ZERO)).unwrap();
        assert!(woken.tun_error, "{woken:?}");
    }

    #[test]
    fn ringing_a_full_bell_never_blocks() {
        let bell = Doorbell::new().unwrap();
        for _ in 0..100_000 {
            bell.ring();
        }
        bell.answer();
        let (tun, _t) = pair();
        let (udp, _u) = pair();
        let woken = wait(tun.as_fd(), udp.as_fd(), &bell, Some(Duration::ZERO)).unwrap();
        assert!(!woken.bell);
    }
}

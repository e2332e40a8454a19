//! Blocking waits outside tokio: a [`doorbell`] any thread can ring, and
//! [`wait`], one `poll(2)` over a few fds. The TUN reader thread waits on
//! its fd and its handle's doorbell; the idle event loop waits on the TUN
//! fd, the UDP socket and its command doorbell.

use std::io::{self, Read as _};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};

/// A doorbell not ringing: the [`Bell`] to ring it, the [`Listener`] to
/// wait for it. A byte on a socket pair (portable to Darwin, which has no
/// eventfd).
///
/// # Errors
/// When the socket pair cannot be made.
pub fn doorbell() -> io::Result<(Bell, Listener)> {
    let (ring, heard) = UnixStream::pair()?;
    // Neither end may block: a full pair already rings.
    ring.set_nonblocking(true)?;
    heard.set_nonblocking(true)?;
    // Ringing a bell nobody listens to must fail, not raise SIGPIPE, which
    // kills an app that did not ignore it (elsewhere: `SEND_FLAGS`).
    #[cfg(target_vendor = "apple")]
    socket2::SockRef::from(&ring).set_nosigpipe(true)?;
    Ok((Bell(ring), Listener(heard)))
}

/// No SIGPIPE when ringing a bell nobody listens to (a loop that already
/// ended): flagged per send where the OS allows, per socket on Apple.
#[cfg(not(target_vendor = "apple"))]
const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;
#[cfg(target_vendor = "apple")]
const SEND_FLAGS: libc::c_int = 0;

/// Rings a [`Listener`]; shareable across threads.
#[derive(Debug)]
pub struct Bell(UnixStream);

impl Bell {
    /// Rings until the listener answers. Never blocks: a full pair is ringing.
    ///
    /// # Errors
    /// When the listener is gone.
    pub fn ring(&self) -> io::Result<()> {
        match socket2::SockRef::from(&self.0).send_with_flags(&[1], SEND_FLAGS) {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(()),
        }
    }

    /// Hangs up: the listener hears it at once, and from then on answers
    /// [`Heard::HungUp`].
    pub fn hang_up(&self) {
        // Fails only when already shut down.
        let _ = self.0.shutdown(std::net::Shutdown::Both);
    }
}

/// What [`Listener::answer`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// Rings (or nothing) and the bell is still there.
    Rings,
    /// The bell hung up or was dropped.
    HungUp,
}

/// The waiting end of a [`doorbell`]: readable in [`wait`] while it rings.
#[derive(Debug)]
pub struct Listener(UnixStream);

impl Listener {
    /// Stops the ringing; says whether the bell is still there.
    pub fn answer(&self) -> Heard {
        let mut buf = [0u8; 64];
        loop {
            match (&self.0).read(&mut buf) {
                Ok(0) => return Heard::HungUp,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Heard::Rings,
                // Cannot happen on a socket pair we hold; nobody can ring then.
                Err(_) => return Heard::HungUp,
            }
        }
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// What [`wait`] saw on one fd.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    /// Data to read.
    pub readable: bool,
    /// An error, a hang-up, or a fd that is not open.
    pub failed: bool,
}

impl Readiness {
    /// Anything to look at: data, or an error a read collects.
    pub fn any(self) -> bool {
        self.readable || self.failed
    }
}

/// Waits until one of `fds` is readable or fails, or `timeout` passes
/// (`None`: no timeout), and says what each fd showed; all quiet: the
/// timeout passed or a signal (`EINTR`) ended the wait early, so callers
/// look at their clocks, not at the result, to tell those apart.
///
/// # Errors
/// `poll` failed for another reason than a signal.
pub fn wait<const N: usize>(
    fds: [BorrowedFd<'_>; N],
    timeout: Option<Duration>,
) -> io::Result<[Readiness; N]> {
    let mut polled = fds.each_ref().map(|fd| PollFd::new(fd, PollFlags::IN));
    // Beyond what Timespec holds: wait without a timeout.
    let timeout = timeout.and_then(|t| Timespec::try_from(t).ok());
    match poll(&mut polled, timeout.as_ref()) {
        Ok(_) => {}
        Err(rustix::io::Errno::INTR) => return Ok([Readiness::default(); N]),
        Err(e) => return Err(e.into()),
    }
    Ok(polled.map(|fd| {
        let events = fd.revents();
        Readiness {
            readable: events.contains(PollFlags::IN),
            failed: events.intersects(PollFlags::ERR | PollFlags::HUP | PollFlags::NVAL),
        }
    }))
}

/// A non-blocking datagram socket pair: a stand-in for a TUN fd or a UDP
/// socket in the wait tests.
#[cfg(test)]
pub(crate) fn pair() -> (
    std::os::unix::net::UnixDatagram,
    std::os::unix::net::UnixDatagram,
) {
    let (a, b) = std::os::unix::net::UnixDatagram::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn times_out_with_nothing_ready() {
        let (fd, _peer) = pair();
        let (_bell, listener) = doorbell().unwrap();
        let start = Instant::now();
        let seen = wait(
            [fd.as_fd(), listener.as_fd()],
            Some(Duration::from_millis(20)),
        )
        .unwrap();
        assert_eq!(seen, [Readiness::default(); 2]);
        assert!(start.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn reports_which_fd_is_readable() {
        let (a, a_peer) = pair();
        let (b, b_peer) = pair();
        b_peer.send(b"x").unwrap();
        let seen = wait([a.as_fd(), b.as_fd()], None).unwrap();
        assert!(!seen[0].any() && seen[1].readable && !seen[1].failed);
        a_peer.send(b"y").unwrap();
        let seen = wait([a.as_fd(), b.as_fd()], None).unwrap();
        assert!(seen[0].readable && seen[1].readable);
    }

    #[test]
    fn a_hung_up_fd_fails_rather_than_reads() {
        // A stream pair: a datagram pair reports nothing when its peer goes.
        let (fd, peer) = UnixStream::pair().unwrap();
        drop(peer);
        let [seen] = wait([fd.as_fd()], Some(Duration::ZERO)).unwrap();
        assert!(seen.failed, "{seen:?}");
    }

    #[test]
    fn a_ring_from_another_thread_ends_the_wait_until_answered() {
        let (bell, listener) = doorbell().unwrap();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            bell.ring().unwrap();
            bell.ring().unwrap();
            bell
        });
        let [seen] = wait([listener.as_fd()], None).unwrap();
        let bell = thread.join().unwrap();
        assert!(seen.readable);
        assert_eq!(listener.answer(), Heard::Rings);
        let [seen] = wait([listener.as_fd()], Some(Duration::ZERO)).unwrap();
        assert!(!seen.any(), "answered: silent again");
        drop(bell);
    }

    #[test]
    fn ringing_a_full_bell_never_blocks() {
        let (bell, listener) = doorbell().unwrap();
        for _ in 0..100_000 {
            bell.ring().unwrap();
        }
        assert_eq!(listener.answer(), Heard::Rings);
        let [seen] = wait([listener.as_fd()], Some(Duration::ZERO)).unwrap();
        assert!(!seen.any());
    }

    #[test]
    fn a_hang_up_wakes_the_listener_and_is_heard_as_such() {
        let (bell, listener) = doorbell().unwrap();
        bell.ring().unwrap();
        bell.hang_up();
        let [seen] = wait([listener.as_fd()], None).unwrap();
        assert!(seen.any());
        assert_eq!(listener.answer(), Heard::HungUp);
        assert!(bell.ring().is_err(), "nobody listens after a hang-up");
    }

    #[test]
    fn a_dropped_bell_is_a_hang_up() {
        let (bell, listener) = doorbell().unwrap();
        drop(bell);
        let [seen] = wait([listener.as_fd()], Some(Duration::ZERO)).unwrap();
        assert!(seen.any());
        assert_eq!(listener.answer(), Heard::HungUp);
    }

    /// Without `MSG_NOSIGNAL`, ringing after the loop ended raises SIGPIPE,
    /// which kills an app that did not ignore it (the test harness does, so
    /// the signal is blocked here to see it pending instead).
    #[test]
    #[cfg(target_os = "linux")]
    #[allow(unsafe_code)] // sigprocmask/sigpending on this thread's own signal mask
    fn ringing_after_the_listener_went_raises_no_sigpipe() {
        // SAFETY: plain libc calls on stack-owned sigset_t values.
        unsafe {
            let mut pipe: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut pipe);
            libc::sigaddset(&mut pipe, libc::SIGPIPE);
            let mut old: libc::sigset_t = std::mem::zeroed();
            assert_eq!(libc::pthread_sigmask(libc::SIG_BLOCK, &pipe, &mut old), 0);

            let (bell, listener) = doorbell().unwrap();
            drop(listener);
            let rang = bell.ring();

            let mut pending: libc::sigset_t = std::mem::zeroed();
            libc::sigpending(&mut pending);
            let raised = libc::sigismember(&pending, libc::SIGPIPE) == 1;
            if raised {
                let zero = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                libc::sigtimedwait(&pipe, std::ptr::null_mut(), &zero);
            }
            libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
            assert!(rang.is_err(), "nobody listens");
            assert!(!raised, "ringing raised SIGPIPE");
        }
    }
}

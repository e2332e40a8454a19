//! The TUN side: a reader thread that drains the fd in batches, and a
//! non-blocking batch writer driven by the event loop.
//!
//! Works on any fd that reads and writes whole IP packets: a Linux/Android
//! TUN (`IFF_TUN|IFF_NO_PI`), an Apple utun (4-byte address-family header,
//! [`TunFraming::AppleUtun`]), or a `socketpair(AF_UNIX, SOCK_DGRAM)` in tests.
#![allow(unsafe_code)] // adopting a raw fd and registering the writer's fd; each block says why it is sound

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, BorrowedFd, FromRawFd as _, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;

use super::fd_wait::{self, Bell, Heard, Listener};
use super::tun_input::{QuietWindow, ReaderMsg};
use crate::batch::PacketBatch;

/// How IP packets are framed on the TUN fd.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, uniffi::Enum)]
pub enum TunFraming {
    /// One raw IP packet per read/write: Android `VpnService`, Linux TUN
    /// (`IFF_TUN|IFF_NO_PI`), socketpairs.
    #[default]
    Raw,
    /// Apple utun (the fd behind `NEPacketTunnelFlow`): each packet is
    /// preceded by a 4-byte address-family header.
    AppleUtun,
}

/// Length of the Apple utun packet-information header.
const UTUN_HEADER_LEN: usize = 4;

/// Puts `fd` in non-blocking mode.
///
/// # Errors
/// The `fcntl` error.
pub fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(fd)?;
    rustix::fs::fcntl_setfl(fd, flags | rustix::fs::OFlags::NONBLOCK)?;
    Ok(())
}

/// Takes ownership of the fd number `fd` (a TUN fd inherited by the CLI's
/// `--tun-fd`, or handed over through the FFI), after checking that
/// something is open there.
///
/// # Errors
/// `EBADF` when `fd` is negative or nothing is open at `fd`.
///
/// # Safety
/// The caller must own `fd` and give that ownership up: nothing else may
/// use or close it from now on, since the returned `OwnedFd` closes it when
/// dropped. An open fd is not enough: this function cannot tell whether
/// another part of the process (a `File`, a socket) still owns it, and two
/// owners mean a double close.
pub unsafe fn adopt_fd(fd: RawFd) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: the borrow lives only for the F_GETFD query, which reads flags
    // and fails with EBADF when nothing is open at `fd`.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    rustix::io::fcntl_getfd(borrowed)?;
    // SAFETY: `fd` is open (checked above) and the caller hands its
    // ownership over (this function's contract).
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// What one read produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    /// A packet of this many bytes, at the start of the buffer.
    Packet(usize),
    /// An empty datagram (or a utun header with nothing after it).
    Empty,
    /// A packet longer than the buffer's `max_packet`; its bytes are not used.
    Oversized,
    /// End of file: the fd will never yield another packet.
    Eof,
}

/// Whether a 0-byte read on `fd` is an empty datagram rather than end of
/// file: true for datagram sockets (socketpairs standing in for a TUN, Apple
/// utun). A TUN character device never reads 0 bytes, and a stream at its
/// end reads 0 bytes forever.
pub(super) fn zero_read_is_empty_datagram(fd: BorrowedFd<'_>) -> bool {
    socket2::SockRef::from(&fd)
        .r#type()
        .is_ok_and(|t| t == socket2::Type::DGRAM)
}

/// Reads one packet into `buf`, stripping the utun header when framed.
/// `buf` holds one byte more than `max_packet`, so a longer packet shows.
fn read_packet(
    fd: BorrowedFd<'_>,
    framing: TunFraming,
    buf: &mut [u8],
    max_packet: usize,
    zero_is_empty: bool,
) -> io::Result<Read> {
    let header_len = match framing {
        TunFraming::Raw => 0,
        TunFraming::AppleUtun => UTUN_HEADER_LEN,
    };
    let n = match framing {
        TunFraming::Raw => rustix::io::read(fd, &mut *buf)?,
        TunFraming::AppleUtun => {
            let mut header = [0u8; UTUN_HEADER_LEN];
            rustix::io::readv(
                fd,
                &mut [IoSliceMut::new(&mut header), IoSliceMut::new(buf)],
            )?
        }
    };
    Ok(if n == 0 && !zero_is_empty {
        Read::Eof
    } else if n <= header_len {
        Read::Empty
    } else if n - header_len > max_packet {
        Read::Oversized
    } else {
        Read::Packet(n - header_len)
    })
}

/// Writes one packet, adding the utun header when framed.
fn write_packet(fd: BorrowedFd<'_>, framing: TunFraming, packet: &[u8]) -> io::Result<()> {
    match framing {
        TunFraming::Raw => rustix::io::write(fd, packet)?,
        TunFraming::AppleUtun => {
            let family = match packet.first().map(|b| b >> 4) {
                Some(6) => libc::AF_INET6,
                _ => libc::AF_INET,
            } as u32;
            let header = family.to_be_bytes();
            rustix::io::writev(fd, &[IoSlice::new(&header), IoSlice::new(packet)])?
        }
    };
    Ok(())
}

/// Batches the reader still drains from the old fd after a swap was asked
/// for, before it switches even if the old fd keeps having packets: the
/// packets the old interface queued before the swap are delivered, and a
/// flood on the old fd cannot hold the swap up for more than this many batches.
pub const SWAP_DRAIN_BATCHES: usize = 4;

/// The fd the reader thread reads, shared with the event loop so the loop
/// can read in the thread's stead while the thread waits for a CPU (see
/// [`super::tun_input::TunInput::help_read`]).
///
/// Whoever holds the lock reads, and the thread hands over what it read
/// before it lets go; the loop takes the thread's batches first once it
/// holds the lock. So packets reach the flow queue in the order they were
/// read, and a flow is never reordered by having two readers.
pub(super) struct SharedFd(Mutex<CurrentFd>);

/// What [`SharedFd`]'s lock guards.
pub(super) struct CurrentFd {
    /// The fd the thread reads now (it changes on a swap).
    fd: Arc<OwnedFd>,
    /// See [`zero_read_is_empty_datagram`].
    zero_is_empty: bool,
    /// Packets the loop read since the thread last judged its
    /// [`QuietWindow`]: they count towards it, so a loop that keeps up does
    /// not make the thread hand reading back while the flow is heavy.
    helped: usize,
}

impl SharedFd {
    fn new(fd: Arc<OwnedFd>) -> Self {
        let zero_is_empty = zero_read_is_empty_datagram(fd.as_fd());
        Self(Mutex::new(CurrentFd {
            fd,
            zero_is_empty,
            helped: 0,
        }))
    }

    /// Waits for the lock (the thread).
    fn lock(&self) -> MutexGuard<'_, CurrentFd> {
        // Poisoned: a reader panicked mid-read; the fd and counters are still whole.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The lock if nobody reads (the loop: never waits for the thread).
    pub fn try_lock(&self) -> Option<MutexGuard<'_, CurrentFd>> {
        match self.0.try_lock() {
            Ok(guard) => Some(guard),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }
}

impl CurrentFd {
    /// The fd to read, as the fill functions see it.
    pub fn source(&self, framing: TunFraming, max_packet: usize) -> Source<'_> {
        Source {
            fd: self.fd.as_fd(),
            framing,
            max_packet,
            zero_is_empty: self.zero_is_empty,
        }
    }

    /// Counts packets the loop read in the thread's stead.
    pub fn add_helped(&mut self, packets: usize) {
        self.helped += packets;
    }

    /// Points the thread (and helpers) at `fd`.
    fn replace(&mut self, fd: Arc<OwnedFd>) {
        self.zero_is_empty = zero_read_is_empty_datagram(fd.as_fd());
        self.fd = fd;
    }
}

/// Packets the reader dropped, by reason (read by the event loop for stats).
#[derive(Debug, Default)]
pub struct ReaderDrops {
    /// Empty datagrams, and utun reads too short for the header.
    pub empty: AtomicU64,
    /// Packets longer than the config's MTU.
    pub oversized: AtomicU64,
}

/// How the reader thread ended.
#[derive(Debug)]
pub enum ReaderExit {
    /// Asked to stop, or the event loop went away.
    Stopped,
    /// The fd reported end of file or an error.
    Failed(io::Error),
}

/// A new fd for the reader, and what to do once the old one is closed.
struct Swap {
    fd: OwnedFd,
    done: Box<dyn FnOnce() + Send>,
}

/// Handle to the reader thread; dropping it does not stop the thread, [`Self::stop`] does.
pub struct TunReader {
    wake: Bell,
    shared: Arc<SharedFd>,
    swaps: std_mpsc::Sender<Swap>,
    thread: Option<JoinHandle<ReaderExit>>,
    drops: Arc<ReaderDrops>,
    /// Take-over requests so far (see [`Self::take_over`]).
    epoch: Arc<AtomicU64>,
}

impl TunReader {
    /// Spawns the reader. It takes empty batches from `pool`, fills each by
    /// reading until the fd has nothing more (EAGAIN) or the batch is full,
    /// and sends full or drained batches on `batches`.
    ///
    /// Reading alternates with the event loop (see [`super::tun_input`]):
    /// `parked` starts the thread not reading, until [`Self::take_over`];
    /// while it reads, a quiet [`super::tun_input::QUIET_WINDOW`] makes it
    /// park and send [`ReaderMsg::HandBack`].
    ///
    /// Every read error except `EINTR` (retried) and `EAGAIN` (waited out)
    /// ends the thread with [`ReaderExit::Failed`], as does end of file; the
    /// event loop then stops the tunnel with that reason. Nothing is retried
    /// in a loop: a fd that broke stays broken (a deleted interface, a
    /// detached TUN).
    ///
    /// # Errors
    /// When the thread or its wake-up pair cannot be created.
    pub fn spawn(
        fd: OwnedFd,
        framing: TunFraming,
        max_packet: usize,
        pool: std_mpsc::Receiver<PacketBatch>,
        batches: mpsc::Sender<ReaderMsg>,
        parked: bool,
    ) -> io::Result<Self> {
        let (wake, wake_rx) = fd_wait::doorbell()?;
        let (swaps, swap_rx) = std_mpsc::channel();
        let drops = Arc::new(ReaderDrops::default());
        let reader_drops = drops.clone();
        let epoch = Arc::new(AtomicU64::new(0));
        let reader_epoch = epoch.clone();
        let fd = Arc::new(fd);
        let shared = Arc::new(SharedFd::new(fd.clone()));
        let reader_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("ferrotun-tun-rx".into())
            .spawn(move || {
                let wake = Wake {
                    bell: wake_rx,
                    swaps: swap_rx,
                    epoch: reader_epoch,
                };
                read_loop(
                    fd,
                    &reader_shared,
                    framing,
                    max_packet,
                    pool,
                    batches,
                    wake,
                    &reader_drops,
                    parked,
                )
            })?;
        Ok(Self {
            wake,
            shared,
            swaps,
            thread: Some(thread),
            drops,
            epoch,
        })
    }

    /// Asks the thread to read (again); returns the request's epoch. A
    /// hand-back the thread sent before it saw this request carries an
    /// older epoch.
    pub fn take_over(&self) -> u64 {
        let epoch = self.epoch.fetch_add(1, Ordering::AcqRel) + 1;
        self.poke();
        epoch
    }

    /// One byte wakes the reader if it waits in poll; it then looks for
    /// swaps and take-over requests. A full wake buffer already holds one.
    fn poke(&self) {
        if let Err(e) = self.wake.ring() {
            // The thread has ended; the loop finds out from its channel.
            tracing::debug!(error = %e, "cannot wake the TUN reader");
        }
    }

    /// The fd the thread reads, for the loop to read in its stead.
    pub(super) fn shared(&self) -> &Arc<SharedFd> {
        &self.shared
    }

    /// Packets dropped so far.
    pub fn drops(&self) -> &ReaderDrops {
        &self.drops
    }

    /// Hands the reader a new fd (already non-blocking). It first drains the
    /// old fd (until it is empty, at most [`SWAP_DRAIN_BATCHES`] batches),
    /// then closes it, reads from `fd` and calls `done`.
    ///
    /// # Errors
    /// When the reader has ended; `fd` is closed and `done` never called then.
    pub fn swap(&self, fd: OwnedFd, done: Box<dyn FnOnce() + Send>) -> io::Result<()> {
        self.swaps
            .send(Swap { fd, done })
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        // Wakes the reader if it waits in poll; it then finds the swap.
        self.wake.ring()
    }

    /// Wakes the thread, waits for it to end and reports how it ended.
    pub fn stop(&mut self) -> Option<ReaderExit> {
        // The thread's poll hears the hang-up.
        self.wake.hang_up();
        self.thread.take().and_then(|t| t.join().ok())
    }
}

impl Drop for TunReader {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The reader's side of its handle: the doorbell (a ring: look for a swap
/// or a take-over request; hang-up: stop), the swap requests and the
/// take-over epoch.
struct Wake {
    bell: Listener,
    swaps: std_mpsc::Receiver<Swap>,
    epoch: Arc<AtomicU64>,
}

impl Wake {
    /// Answers the doorbell; `false` when the handle hung up (stop).
    fn drain(&mut self) -> bool {
        self.bell.answer() == Heard::Rings
    }
}

/// How filling one batch ended.
pub(super) enum Fill {
    /// The batch is full, or the fd had nothing more (`drained`).
    Done { drained: bool },
    /// The batch holds the packets asked for; the fd may hold more.
    Limit,
    /// The fd failed or hit end of file.
    Failed(io::Error),
}

/// One TUN fd as the reader sees it.
pub(super) struct Source<'a> {
    pub fd: BorrowedFd<'a>,
    pub framing: TunFraming,
    pub max_packet: usize,
    /// See [`zero_read_is_empty_datagram`].
    pub zero_is_empty: bool,
}

/// Reads packets into `batch` until it is full, holds `limit` packets or
/// the fd would block. Only `EINTR` is retried; any other error, and end of
/// file, fails the fill.
pub(super) fn fill(
    source: &Source<'_>,
    batch: &mut PacketBatch,
    limit: usize,
    drops: &ReaderDrops,
) -> Fill {
    // One byte beyond the largest packet, so that a longer one is seen, not cut.
    let read_len = source.max_packet + 1;
    loop {
        if batch.len() >= limit {
            return Fill::Limit;
        }
        if !batch.has_room_for(read_len) {
            return Fill::Done { drained: false };
        }
        let buf = &mut batch.tail()[..read_len];
        match read_packet(
            source.fd,
            source.framing,
            buf,
            source.max_packet,
            source.zero_is_empty,
        ) {
            Ok(Read::Packet(n)) => batch.commit(n),
            Ok(Read::Empty) => {
                drops.empty.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Read::Oversized) => {
                if drops.oversized.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::warn!(
                        max_packet = source.max_packet,
                        "dropping TUN packets larger than the MTU; \
                         is the interface's MTU larger than the config's?"
                    );
                }
            }
            Ok(Read::Eof) => {
                return Fill::Failed(io::Error::new(io::ErrorKind::UnexpectedEof, "end of file"));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Fill::Done { drained: true },
            // A signal arrived mid-read: not a loop, each one is an event.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Fill::Failed(e),
        }
    }
}

#[allow(clippy::too_many_arguments)] // the thread's whole state, moved in once
fn read_loop(
    mut fd: Arc<OwnedFd>,
    shared: &SharedFd,
    framing: TunFraming,
    max_packet: usize,
    pool: std_mpsc::Receiver<PacketBatch>,
    batches: mpsc::Sender<ReaderMsg>,
    mut wake: Wake,
    drops: &ReaderDrops,
    mut parked: bool,
) -> ReaderExit {
    // A batch taken from the pool but still empty, kept across waits.
    let mut spare: Option<PacketBatch> = None;
    // A requested swap, and how many batches were drained from the old fd since.
    let mut pending: Option<(Swap, usize)> = None;
    // The latest take-over request seen; a hand-back carries it.
    let mut seen_epoch = 0;
    let mut quiet = QuietWindow::new(Instant::now());
    loop {
        let epoch = wake.epoch.load(Ordering::Acquire);
        if epoch != seen_epoch {
            seen_epoch = epoch;
            if parked {
                parked = false;
                quiet = QuietWindow::new(Instant::now());
            }
        }
        if pending.is_none() {
            pending = wake.swaps.try_recv().ok().map(|swap| (swap, 0));
        }
        if parked {
            if let Some((swap, _)) = pending.take() {
                // Not reading: nothing of the old fd to drain here.
                fd = Arc::new(swap.fd);
                shared.lock().replace(fd.clone());
                (swap.done)();
                continue;
            }
            match fd_wait::wait([wake.bell.as_fd()], None) {
                Ok(_) => {
                    if !wake.drain() {
                        return ReaderExit::Stopped;
                    }
                }
                Err(e) => return ReaderExit::Failed(e),
            }
            continue;
        }
        // Blocks while every batch is in flight: backpressure from the event loop.
        let mut batch = match spare.take() {
            Some(batch) => batch,
            None => match pool.recv() {
                Ok(batch) => batch,
                Err(_) => return ReaderExit::Stopped,
            },
        };
        // Held until the batch is handed over: see SharedFd.
        let current = shared.lock();
        let drained = match fill(
            &current.source(framing, max_packet),
            &mut batch,
            usize::MAX,
            drops,
        ) {
            Fill::Done { drained } => drained,
            Fill::Limit => false,
            // The OS may tear the old interface down once the new one is up:
            // with a swap pending, an ended old fd is simply done.
            Fill::Failed(e) if pending.is_some() => {
                tracing::debug!(error = %e, "old TUN fd ended during a swap");
                true
            }
            Fill::Failed(e) => return ReaderExit::Failed(e),
        };
        quiet.record(batch.len(), Instant::now());
        let idle = batch.is_empty();
        if idle {
            spare = Some(batch);
        } else if batches.blocking_send(ReaderMsg::Batch(batch)).is_err() {
            return ReaderExit::Stopped;
        }
        drop(current);
        if let Some((swap, drained_batches)) = pending.take() {
            if drained || drained_batches + 1 >= SWAP_DRAIN_BATCHES {
                // The old fd closes here; packets it still holds were left to
                // the old interface, which the OS tears down with it.
                fd = Arc::new(swap.fd);
                shared.lock().replace(fd.clone());
                (swap.done)();
                tracing::debug!("TUN reader moved to the new fd");
                continue;
            }
            pending = Some((swap, drained_batches + 1));
        }
        if idle {
            let timeout = quiet.deadline().saturating_duration_since(Instant::now());
            match fd_wait::wait([wake.bell.as_fd(), fd.as_fd()], Some(timeout)) {
                Ok([bell, _]) if bell.any() => {
                    if !wake.drain() {
                        return ReaderExit::Stopped;
                    }
                }
                Ok([_, tun]) if tun.any() => {}
                // The deadline passed (or a signal came: the window tells).
                Ok(_) => {
                    // What the loop read in this thread's stead counts too
                    // (only here, where the window is judged: its reads may
                    // have left this thread no readable fd to wake for).
                    quiet.record_late(std::mem::take(&mut shared.lock().helped));
                    if pending.is_none() && quiet.is_quiet(Instant::now()) {
                        // The loop reads a duplicate, so either side can close its own.
                        match fd.try_clone() {
                            Ok(dup) => {
                                let msg = ReaderMsg::HandBack {
                                    fd: dup,
                                    epoch: seen_epoch,
                                };
                                if batches.blocking_send(msg).is_err() {
                                    return ReaderExit::Stopped;
                                }
                                parked = true;
                            }
                            Err(e) => {
                                tracing::debug!(error = %e, "cannot duplicate the TUN fd; reading on")
                            }
                        }
                    }
                }
                Err(e) => return ReaderExit::Failed(e),
            }
        }
    }
}

/// Writes decrypted packets to the TUN from the event loop without blocking it.
pub struct TunWriter {
    fd: AsyncFd<OwnedFd>,
    framing: TunFraming,
}

impl TunWriter {
    /// A writer for `fd` (already non-blocking) with this writer's framing.
    ///
    /// # Errors
    /// When the fd cannot be registered.
    pub fn for_new_fd(&self, fd: OwnedFd) -> io::Result<Self> {
        Self::new(fd, self.framing)
    }

    /// Registers `fd` (already non-blocking) with the current tokio runtime.
    ///
    /// # Errors
    /// When the fd cannot be registered.
    pub fn new(fd: OwnedFd, framing: TunFraming) -> io::Result<Self> {
        // SAFETY: `OwnedFd` owns a valid open fd, and it stays inside the
        // `AsyncFd` (never replaced or closed) until the `AsyncFd` drops.
        let fd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::WRITABLE) }
            .map_err(io::Error::from)?;
        Ok(Self { fd, framing })
    }

    /// Writes every packet of `batch`, waiting for writability when the fd
    /// pushes back. A packet the fd refuses for any other reason is dropped
    /// and counted in `dropped`. The batch is empty afterwards.
    pub async fn write_all(&self, batch: &mut PacketBatch, written: &mut u64, dropped: &mut u64) {
        while !batch.is_empty() {
            let Ok(mut guard) = self.fd.writable().await else {
                *dropped += batch.len() as u64;
                batch.clear();
                return;
            };
            let mut done = 0;
            // `try_io` clears readiness only when the closure reports WouldBlock.
            let _ = guard.try_io(|fd| {
                for packet in batch.iter() {
                    match write_packet(fd.get_ref().as_fd(), self.framing, packet) {
                        Ok(()) => *written += 1,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(e),
                        Err(e) => {
                            tracing::trace!(error = %e, "TUN write failed");
                            *dropped += 1;
                        }
                    }
                    done += 1;
                }
                Ok(())
            });
            batch.consume(done);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fill_stops_at_its_limit_and_leaves_the_rest_queued() {
        let (fd, peer) = std::os::unix::net::UnixDatagram::pair().unwrap();
        fd.set_nonblocking(true).unwrap();
        for packet in [&b"one"[..], b"two", b"three"] {
            peer.send(packet).unwrap();
        }
        let source = Source {
            fd: fd.as_fd(),
            framing: TunFraming::Raw,
            max_packet: 1500,
            zero_is_empty: true,
        };
        let drops = ReaderDrops::default();
        let mut batch = PacketBatch::new(8, 8 * 1600);
        assert!(matches!(fill(&source, &mut batch, 1, &drops), Fill::Limit));
        assert_eq!(batch.iter().collect::<Vec<_>>(), [b"one"]);
        assert!(matches!(
            fill(&source, &mut batch, usize::MAX, &drops),
            Fill::Done { drained: true }
        ));
        assert_eq!(
            batch.iter().collect::<Vec<_>>(),
            [&b"one"[..], b"two", b"three"]
        );
    }

    #[test]
    fn adopting_a_closed_or_negative_fd_fails_cleanly() {
        // SAFETY: nothing is open at either number (the second is far above
        // any fd limit), so nothing can be owned twice.
        let (negative, closed) = unsafe { (adopt_fd(-1), adopt_fd(i32::MAX - 1)) };
        assert_eq!(negative.unwrap_err().raw_os_error(), Some(libc::EBADF));
        assert_eq!(closed.unwrap_err().raw_os_error(), Some(libc::EBADF));
    }
}

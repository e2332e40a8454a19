//! Adaptive TUN input: the event loop reads the TUN itself while traffic is
//! light, and hands reading to the reader thread ([`super::tun::TunReader`])
//! while it is heavy.
//!
//! Why both. A packet the reader thread reads crosses to the event loop
//! through a channel: the thread wakes from `poll`, reads, wakes the loop
//! (an eventfd write), the loop wakes from `epoll_wait` and only then
//! encrypts and sends. At idle that hop is most of the tunnel's share of a
//! round trip. Read by the loop, a lone packet goes TUN, encrypt, send within
//! one wakeup. Under load the thread is worth its hop: it keeps draining the
//! kernel's TUN queue (500 packets, dropped blindly when full) while the loop
//! is busy encrypting, decrypting and writing, and it hands packets over in
//! batches.
//!
//! The switch:
//! - **Direct** (the loop reads; the thread is parked on its wake-up
//!   socket). The loop reads from its own duplicate of the TUN fd,
//!   registered with tokio, until the fd is drained or a batch is full.
//!   When a read fills a batch, or more than [`BURST_PACKETS`] packets come
//!   within [`BURST_WINDOW`] ([`BurstDetector`]), the loop drops its fd's
//!   registration (so TUN readiness stops waking it) and asks the thread to
//!   read ([`super::tun::TunReader::take_over`]).
//! - **Threaded** (the thread reads and sends batches). When a
//!   [`QUIET_WINDOW`] passes in which the thread read at most
//!   [`QUIET_PACKETS`] packets ([`QuietWindow`]), it parks and sends
//!   [`ReaderMsg::HandBack`] with a fresh duplicate of the fd it reads,
//!   after every batch it sent before (one channel, so in order).
//!
//! Each take-over request bumps an epoch (also on a TUN swap, which the
//! thread performs); a hand-back carries the epoch the thread had seen, and
//! a hand-back from an older epoch is stale (it crossed a newer request) and
//! is ignored. So exactly one side reads at any time, and after a swap the
//! loop never reads the old fd again.
//!
//! Packets from both sides go to the same place (the loop's flow queue), so
//! a flow keeps its order across a switch: the loop stops reading before the
//! thread starts, and takes the thread's batches before its hand-back.
#![allow(unsafe_code)] // registering the fd with tokio; the SAFETY note says why it is sound

use std::io;
use std::os::fd::{AsFd as _, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;

use super::tun::{Fill, ReaderDrops, ReaderExit, SharedFd, Source, TunFraming, TunReader, fill};
use crate::batch::PacketBatch;

/// Packets within [`BURST_WINDOW`] beyond which the loop hands reading to
/// the thread: 16 packets in 1 ms is 16 kpps, well above interactive traffic
/// (a call sends 50-300 packets a second) and far below a bulk flow (100k+
/// pps at 1 Gbit/s), whose first millisecond trips it.
pub const BURST_PACKETS: usize = 16;

/// See [`BURST_PACKETS`].
pub const BURST_WINDOW: Duration = Duration::from_millis(1);

/// How long the thread watches its rate before handing reading back; also
/// roughly how long after a bulk transfer ends the loop reads again
/// (between one and two windows).
pub const QUIET_WINDOW: Duration = Duration::from_millis(20);

/// Most packets a [`QUIET_WINDOW`] may bring for the thread to hand back:
/// 8 in 20 ms is 400 pps. Far below the loop's [`BURST_PACKETS`] rate, so
/// a steady flow does not make reading flap between the two.
pub const QUIET_PACKETS: usize = 8;

/// Chances [`TunInput::help_read`] lets pass after it found the TUN queue
/// empty. The loop offers one per turn and one per receive buffer (a few
/// hundred microseconds each under load), so it still looks well within the
/// 3 ms the kernel's queue lasts at 2 Gbit/s, for a fraction of the empty reads.
pub const HELP_BACKOFF: u8 = 3;

/// What the reader thread sends the event loop.
#[derive(Debug)]
pub enum ReaderMsg {
    /// Packets read from the TUN; the batch goes back to the pool once taken.
    Batch(PacketBatch),
    /// The thread stopped reading: the loop reads `fd` (a duplicate of the
    /// fd the thread reads) unless `epoch` is older than its latest request.
    HandBack {
        /// A duplicate of the thread's current TUN fd, non-blocking.
        fd: OwnedFd,
        /// The take-over epoch the thread had seen when it stopped.
        epoch: u64,
    },
}

/// Counts what the loop reads itself and says when that is a burst the
/// thread should take (pure: the caller passes the time).
#[derive(Debug, Clone)]
pub struct BurstDetector {
    window_start: Option<Instant>,
    packets: usize,
}

impl Default for BurstDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl BurstDetector {
    /// A detector that has seen nothing.
    pub fn new() -> Self {
        Self {
            window_start: None,
            packets: 0,
        }
    }

    /// Records one read of `packets` at `now`; `batch_full` when the read
    /// stopped because the batch had no room (the fd may hold more). Returns
    /// whether the thread should take over.
    pub fn record(&mut self, packets: usize, batch_full: bool, now: Instant) -> bool {
        if batch_full {
            return true;
        }
        match self.window_start {
            Some(start) if now.saturating_duration_since(start) < BURST_WINDOW => {}
            _ => {
                self.window_start = Some(now);
                self.packets = 0;
            }
        }
        self.packets += packets;
        self.packets > BURST_PACKETS
    }

    /// Forgets the current window (when reading starts again after a hand-back).
    pub fn reset(&mut self) {
        *self = Self::new();
    }
}

/// The thread's side: packets read per [`QUIET_WINDOW`], and whether the
/// last window was quiet enough to hand reading back (pure).
#[derive(Debug, Clone)]
pub struct QuietWindow {
    start: Instant,
    packets: usize,
}

impl QuietWindow {
    /// A window starting at `now`.
    pub fn new(now: Instant) -> Self {
        Self {
            start: now,
            packets: 0,
        }
    }

    /// When the current window ends: the thread waits for the fd at most
    /// until then, and asks [`Self::is_quiet`].
    pub fn deadline(&self) -> Instant {
        self.start + QUIET_WINDOW
    }

    /// Records `packets` read at `now`, starting a new window if the
    /// current one is over (a busy thread never asks [`Self::is_quiet`]).
    pub fn record(&mut self, packets: usize, now: Instant) {
        if now >= self.deadline() {
            *self = Self::new(now);
        }
        self.packets += packets;
    }

    /// Adds packets read during the current window that are counted only
    /// now, past its end (what the loop read for the thread meanwhile):
    /// unlike [`Self::record`], never starts a new window.
    pub fn record_late(&mut self, packets: usize) {
        self.packets += packets;
    }

    /// Whether reading should go back to the loop: `now` is past the
    /// window's end and the window brought at most [`QUIET_PACKETS`].
    /// A finished window that was busy is replaced by a fresh one.
    pub fn is_quiet(&mut self, now: Instant) -> bool {
        if now < self.deadline() {
            return false;
        }
        let quiet = self.packets <= QUIET_PACKETS;
        *self = Self::new(now);
        quiet
    }
}

/// The loop's own reading of the TUN: a duplicate fd registered with tokio
/// for readability only (so it wakes the loop only while the loop reads).
struct DirectFd {
    fd: AsyncFd<OwnedFd>,
    zero_is_empty: bool,
}

/// What [`TunInput::ready`] found.
#[derive(Debug)]
pub enum Ready {
    /// The loop's own fd is readable: call [`TunInput::read_direct`].
    Direct,
    /// The loop's own fd reports an error condition (e.g. a TUN fd detached
    /// from its interface): call [`TunInput::read_error`].
    DirectError,
    /// A message from the thread: pass it to [`TunInput::handle`].
    Thread(ReaderMsg),
    /// The thread ended (its channel closed); [`TunInput::stop`] says why.
    Closed,
}

/// Both ways of reading the TUN, and which one is on. See the module docs.
pub struct TunInput {
    // Dropped before `reader` (fields drop in order), so a thread blocked
    // handing over a batch or waiting for one ends, and dropping the
    // reader, which joins it, cannot hang (after a panic, say).
    messages: mpsc::Receiver<ReaderMsg>,
    pool: std_mpsc::SyncSender<PacketBatch>,
    reader: TunReader,
    /// The thread's fd, for [`Self::help_read`].
    shared: Arc<SharedFd>,
    /// Chances to help to let pass after a help that found nothing.
    help_backoff: u8,
    framing: TunFraming,
    max_packet: usize,
    /// `Some` while the loop reads (direct mode).
    direct: Option<DirectFd>,
    /// The batch the loop reads into; emptied into the sink after each read.
    batch: PacketBatch,
    burst: BurstDetector,
    /// The latest take-over epoch the loop asked for.
    epoch: u64,
    /// Times reading moved to the thread and back to the loop.
    switches: u64,
}

impl TunInput {
    /// Wraps a reader thread spawned parked (`TunReader::spawn` with
    /// `parked`), reading directly from `fd`, a non-blocking duplicate of
    /// its fd. `batch` is the loop's own read batch. Must run inside the
    /// tokio runtime that drives it.
    ///
    /// # Errors
    /// When `fd` cannot be registered with tokio.
    pub fn new(
        reader: TunReader,
        messages: mpsc::Receiver<ReaderMsg>,
        pool: std_mpsc::SyncSender<PacketBatch>,
        fd: OwnedFd,
        framing: TunFraming,
        max_packet: usize,
        batch: PacketBatch,
    ) -> io::Result<Self> {
        Ok(Self {
            direct: Some(DirectFd::new(fd)?),
            shared: reader.shared().clone(),
            help_backoff: 0,
            reader,
            messages,
            pool,
            framing,
            max_packet,
            batch,
            burst: BurstDetector::new(),
            epoch: 0,
            switches: 0,
        })
    }

    /// Whether the loop reads the TUN itself now.
    pub fn is_direct(&self) -> bool {
        self.direct.is_some()
    }

    /// How often reading changed hands.
    pub fn switches(&self) -> u64 {
        self.switches
    }

    /// Packets dropped while reading (by either side).
    pub fn drops(&self) -> &ReaderDrops {
        self.reader.drops()
    }

    /// Waits until the loop's fd is readable (direct mode) or the thread
    /// sent something. Cancel-safe.
    pub async fn ready(&mut self) -> Ready {
        let Self {
            direct, messages, ..
        } = self;
        let direct = async {
            match direct {
                // Error readiness too: epoll reports a broken TUN as EPOLLERR
                // alone, which never makes the fd "readable" for tokio.
                Some(d) => match d.fd.ready(Interest::READABLE | Interest::ERROR).await {
                    Ok(guard) => guard.ready().is_error(),
                    Err(_) => true,
                },
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            error = direct => if error { Ready::DirectError } else { Ready::Direct },
            msg = messages.recv() => msg.map_or(Ready::Closed, Ready::Thread),
        }
    }

    /// After [`Ready::DirectError`]: reads once to learn the fd's error (and
    /// passes on whatever it still yields). Always an error, so the tunnel
    /// stops rather than spin on a condition that does not clear.
    ///
    /// # Errors
    /// The read's error, or `BrokenPipe` if the read did not fail.
    pub fn read_error(&mut self, now: Instant, sink: impl FnMut(&[u8])) -> io::Result<()> {
        self.read(now, true, usize::MAX, sink)?;
        Err(io::Error::new(
            io::ErrorKind::BrokenPipe,
            "the TUN fd reports an error",
        ))
    }

    /// Reads what the loop's fd holds (up to one batch) and passes every
    /// packet to `sink`; hands reading to the thread when that was a burst.
    /// Nothing to do outside direct mode.
    ///
    /// # Errors
    /// End of file or a read error other than `EINTR`/`EAGAIN`: the TUN is
    /// unusable and the tunnel should stop.
    pub fn read_direct(&mut self, now: Instant, sink: impl FnMut(&[u8])) -> io::Result<()> {
        self.read(now, false, usize::MAX, sink)
    }

    /// Reads one packet after the caller's own `poll` found the fd readable
    /// (tokio has not seen it). One, so that it is sent before any read that
    /// finds the fd empty; the next `poll` reports what is left.
    ///
    /// # Errors
    /// As [`Self::read_direct`].
    pub fn read_polled(&mut self, now: Instant, sink: impl FnMut(&[u8])) -> io::Result<()> {
        self.read(now, true, 1, sink)
    }

    /// The loop's own fd while it reads the TUN itself, for the caller's `poll`.
    pub fn direct_fd(&self) -> Option<BorrowedFd<'_>> {
        self.direct.as_ref().map(|d| d.fd.get_ref().as_fd())
    }

    /// Like [`Self::read_direct`], but reads even when tokio has not seen
    /// the fd readable yet. For right after a TUN write: the kernel runs
    /// the written packet's receive path inside the write, so an answer
    /// (an echo reply, a TCP ACK) is often queued by the time it returns;
    /// reading it now saves an `epoll_wait` and a loop turn on the round
    /// trip, at the price of one empty read when there is no answer.
    ///
    /// Reads up to a batch, as [`Self::read_direct`] does: under load the
    /// answers (ACKs) come many per write, and a full batch is what hands
    /// reading to the thread.
    ///
    /// # Errors
    /// As [`Self::read_direct`].
    pub fn read_after_write(&mut self, now: Instant, sink: impl FnMut(&[u8])) -> io::Result<()> {
        self.read(now, true, usize::MAX, sink)
    }

    fn read(
        &mut self,
        now: Instant,
        speculative: bool,
        limit: usize,
        sink: impl FnMut(&[u8]),
    ) -> io::Result<()> {
        let Some(direct) = &self.direct else {
            return Ok(());
        };
        let source = Source {
            fd: direct.fd.get_ref().as_fd(),
            framing: self.framing,
            max_packet: self.max_packet,
            zero_is_empty: direct.zero_is_empty,
        };
        let drops = self.reader.drops();
        let batch = &mut self.batch;
        let mut outcome = None;
        let mut read = |outcome: &mut Option<io::Result<bool>>| -> io::Result<()> {
            match fill(&source, batch, limit, drops) {
                // Drained: clear tokio's readiness now, rather than learn it from one more read.
                Fill::Done { drained: true } => {
                    *outcome = Some(Ok(false));
                    Err(io::ErrorKind::WouldBlock.into())
                }
                Fill::Done { drained: false } => {
                    *outcome = Some(Ok(true));
                    Ok(())
                }
                // Not drained: tokio's readiness, if any, stays.
                Fill::Limit => {
                    *outcome = Some(Ok(false));
                    Ok(())
                }
                Fill::Failed(e) => {
                    *outcome = Some(Err(e));
                    Ok(())
                }
            }
        };
        if speculative {
            if read(&mut outcome).is_err() {
                // Drained: also forget readiness tokio may hold from before
                // (its driver only runs when the loop parks, so nothing new
                // arrived in between); a later packet is a new edge.
                let _ = direct.fd.try_io(Interest::READABLE, |_| {
                    Err::<(), _>(io::ErrorKind::WouldBlock.into())
                });
            }
        } else {
            // Not ready (tokio saw no readiness since the fd was drained): nothing to read.
            let _ = direct.fd.try_io(Interest::READABLE, |_| read(&mut outcome));
        }
        let packets = self.batch.drain_into(sink);
        let batch_full = match outcome {
            None => return Ok(()),
            Some(Err(e)) => return Err(e),
            Some(Ok(full)) => full,
        };
        if self.burst.record(packets, batch_full, now) {
            self.to_thread();
        }
        Ok(())
    }

    /// Takes one message from the thread: a batch's packets go to `sink`
    /// and the batch back to the pool; a current hand-back makes the loop
    /// read. Returns how many packets went to `sink`.
    pub fn handle(&mut self, msg: ReaderMsg, sink: impl FnMut(&[u8])) -> usize {
        match msg {
            ReaderMsg::Batch(mut batch) => {
                let n = batch.drain_into(sink);
                // The reader is waiting for it or will be; if it is gone, so is the batch.
                let _ = self.pool.try_send(batch);
                n
            }
            ReaderMsg::HandBack { fd, epoch } => {
                if epoch != self.epoch {
                    // Crossed a newer take-over request or swap; the thread reads.
                    return 0;
                }
                match DirectFd::new(fd) {
                    Ok(direct) => {
                        self.direct = Some(direct);
                        self.burst.reset();
                        self.switches += 1;
                        tracing::trace!("TUN input: the loop reads");
                    }
                    Err(e) => {
                        // Reading stays with the thread.
                        tracing::debug!(error = %e, "cannot register the TUN fd; the reader thread keeps reading");
                        self.request_thread();
                    }
                }
                0
            }
        }
    }

    /// While the thread reads (threaded mode) but is not reading right now,
    /// reads up to `limit` packets in its stead, after taking every batch
    /// it sent (so they go to `sink` in the order read; see `io::tun::SharedFd`).
    /// Returns the packets read here.
    ///
    /// Why. Under load the thread competes for a CPU with the loop, the
    /// other side and the apps; on two cores it may wait milliseconds for
    /// one, and the kernel's 500-packet TUN queue lasts 3 ms at 2 Gbit/s,
    /// then drops blindly, a call's packets included. Most of those packets
    /// are queued while the loop itself runs (the kernel's TCP sends in
    /// the loop's own TUN writes and in its softirqs), so the loop drains
    /// the queue into the flow queue between its pieces of work, and the
    /// flow queue, not the kernel, chooses what to drop.
    ///
    /// A read that finds the queue empty costs a syscall for nothing (the
    /// thread kept up), so the next [`HELP_BACKOFF`] chances are let pass.
    ///
    /// A read error is left to the thread, which meets it too and ends the
    /// tunnel with it.
    pub fn help_read(&mut self, limit: usize, mut sink: impl FnMut(&[u8])) -> usize {
        if self.direct.is_some() {
            return 0;
        }
        if self.help_backoff > 0 {
            self.help_backoff -= 1;
            return 0;
        }
        let shared = Arc::clone(&self.shared);
        let Some(mut current) = shared.try_lock() else {
            // The thread is reading.
            return 0;
        };
        self.take_ready(&mut sink);
        if self.direct.is_some() {
            // The thread handed reading back; its duplicate is read from now on.
            return 0;
        }
        let source = current.source(self.framing, self.max_packet);
        if let Fill::Failed(e) = fill(&source, &mut self.batch, limit, self.reader.drops()) {
            tracing::trace!(error = %e, "reading in the thread's stead failed");
        }
        let packets = self.batch.drain_into(&mut sink);
        current.add_helped(packets);
        if packets == 0 {
            self.help_backoff = HELP_BACKOFF;
        }
        packets
    }

    /// Handles every message the thread has ready, without waiting; returns
    /// how many batches brought packets. The channel closing is left to
    /// [`Self::ready`] to report.
    pub fn take_ready(&mut self, mut sink: impl FnMut(&[u8])) -> u64 {
        let mut batches = 0;
        while let Ok(msg) = self.messages.try_recv() {
            if self.handle(msg, &mut sink) > 0 {
                batches += 1;
            }
        }
        batches
    }

    /// Moves reading to the thread (no-op when it reads already).
    pub fn to_thread(&mut self) {
        if self.direct.take().is_some() {
            self.switches += 1;
            tracing::trace!("TUN input: the reader thread reads");
            self.request_thread();
        }
    }

    fn request_thread(&mut self) {
        self.epoch = self.reader.take_over();
    }

    /// Moves the reader onto `fd` (see [`TunReader::swap`]). Reading goes to
    /// the thread first, which drains the old fd; a later hand-back brings
    /// a duplicate of the new one.
    ///
    /// # Errors
    /// When the reader has ended.
    pub fn swap(&mut self, fd: OwnedFd, done: Box<dyn FnOnce() + Send>) -> io::Result<()> {
        // Always a new epoch: a hand-back already on its way holds the old fd.
        self.direct = None;
        self.request_thread();
        self.reader.swap(fd, done)
    }

    /// Stops the thread (closing both channels first, so a thread blocked
    /// on either sees it) and reports how it ended.
    pub fn stop(mut self) -> Option<ReaderExit> {
        self.direct = None;
        drop(self.messages);
        drop(self.pool);
        self.reader.stop()
    }

    /// How the thread ended, once [`Ready::Closed`] was seen.
    pub fn exit(&mut self) -> Option<ReaderExit> {
        self.reader.stop()
    }
}

impl DirectFd {
    fn new(fd: OwnedFd) -> io::Result<Self> {
        let zero_is_empty = super::tun::zero_read_is_empty_datagram(fd.as_fd());
        // SAFETY: `OwnedFd` owns a valid open fd, and it stays inside the
        // `AsyncFd` (never replaced or closed) until the `AsyncFd` drops.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
            .map_err(io::Error::from)?;
        Ok(Self { fd, zero_is_empty })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TUN input on a datagram socket pair (the peer end writes packets),
    /// with reading handed to the thread.
    fn threaded_input() -> (TunInput, std::os::unix::net::UnixDatagram) {
        let (fd, peer) = std::os::unix::net::UnixDatagram::pair().unwrap();
        fd.set_nonblocking(true).unwrap();
        let fd = OwnedFd::from(fd);
        let (pool, pool_rx) = std_mpsc::sync_channel(4);
        for _ in 0..4 {
            pool.try_send(PacketBatch::new(64, 64 * 1600)).unwrap();
        }
        let (batch_tx, batches) = mpsc::channel(4);
        let thread_fd = fd.try_clone().unwrap();
        let reader =
            TunReader::spawn(thread_fd, TunFraming::Raw, 1500, pool_rx, batch_tx, true).unwrap();
        let batch = PacketBatch::new(64, 64 * 1600);
        let mut input =
            TunInput::new(reader, batches, pool, fd, TunFraming::Raw, 1500, batch).unwrap();
        input.to_thread();
        (input, peer)
    }

    /// Packets the loop reads for the thread count towards the thread's
    /// quiet window: a steady flow the loop keeps up with (3 packets every
    /// millisecond, 60 per window where 8 hand back) keeps the thread
    /// reading, rather than handing back every window and taking over again;
    /// once the flow stops, it hands back.
    ///
    /// A hand-back is a failure only if the flow really held: on a loaded
    /// machine `sleep(1 ms)` can oversleep long enough (about 7 ms or more
    /// between bursts) for a window to see 8 packets or fewer, and then
    /// handing back is right. Such an attempt is started over, up to 5 in all.
    #[tokio::test]
    async fn packets_read_for_the_thread_keep_it_from_handing_back() {
        const ATTEMPTS: usize = 5;
        const PER_BURST: u32 = 3;
        // A window of 8 or fewer packets holds at most 2 bursts of 3, so
        // some gap between bursts was at least a third of the window.
        let stall = QUIET_WINDOW / 3;
        for attempt in 1..=ATTEMPTS {
            let (mut input, peer) = threaded_input();
            let mut packets = 0;
            let start = Instant::now();
            let (mut seq, mut last_burst, mut longest_gap) = (0u32, start, Duration::ZERO);
            let mut handed_back = false;
            while start.elapsed() < QUIET_WINDOW * 8 {
                for _ in 0..PER_BURST {
                    peer.send(&seq.to_be_bytes()).unwrap();
                    seq += 1;
                }
                longest_gap = longest_gap.max(last_burst.elapsed());
                last_burst = Instant::now();
                // Right after the writes, before the thread wakes: mostly the loop's.
                input.help_backoff = 0;
                input.help_read(64, |_| packets += 1);
                input.take_ready(|_| packets += 1);
                if input.is_direct() {
                    handed_back = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            if handed_back {
                assert!(
                    longest_gap >= stall,
                    "the thread handed back after {:?} ({packets} packets) though bursts came at most {longest_gap:?} apart",
                    start.elapsed()
                );
                input.stop();
                assert!(
                    attempt < ATTEMPTS,
                    "the machine stalled the flow (bursts up to {longest_gap:?} apart) in all {ATTEMPTS} attempts"
                );
                continue;
            }
            assert!(packets > 0);
            // Once the flow stops, the thread hands back within two windows.
            let stopped = Instant::now();
            while !input.is_direct() {
                assert!(
                    stopped.elapsed() < QUIET_WINDOW * 10,
                    "the thread kept reading an idle fd"
                );
                input.take_ready(|_| packets += 1);
                std::thread::sleep(Duration::from_millis(1));
            }
            input.stop();
            return;
        }
    }

    /// Two readers of one fd, the thread and the loop helping it, must not
    /// reorder a flow: a writer sends numbered packets as fast as the
    /// socket takes them, and the loop checks every number arrives once,
    /// in order, while both sides read a share.
    #[tokio::test]
    async fn the_loop_helping_the_thread_keeps_packets_in_order() {
        const PACKETS: u32 = 20_000;
        let (mut input, peer) = threaded_input();
        let writer = std::thread::spawn(move || {
            for seq in 0..PACKETS {
                peer.send(&seq.to_be_bytes()).unwrap();
            }
        });

        let next = std::cell::Cell::new(0u32);
        let mut sink = |packet: &[u8]| {
            let seq = u32::from_be_bytes(packet.try_into().unwrap());
            assert_eq!(seq, next.get(), "packet {seq} arrived out of order");
            next.set(seq + 1);
        };
        let (mut from_thread, mut helped) = (0, 0);
        let deadline = Instant::now() + Duration::from_secs(30);
        while next.get() < PACKETS {
            assert!(
                Instant::now() < deadline,
                "only {} packets arrived",
                next.get()
            );
            from_thread += input.take_ready(&mut sink);
            helped += input.help_read(64, &mut sink);
            if input.is_direct() {
                // The thread handed back (a quiet window): the loop reads alone.
                input.read_after_write(Instant::now(), &mut sink).unwrap();
            }
            std::thread::yield_now();
        }
        writer.join().unwrap();
        assert!(
            from_thread > 0 && helped > 0,
            "thread batches {from_thread}, helped {helped}: both must read"
        );
        input.stop();
    }

    #[test]
    fn a_lone_packet_is_no_burst() {
        let t0 = Instant::now();
        let mut d = BurstDetector::new();
        for i in 0..100 {
            // One packet every 2 ms for 200 ms: a busy interactive flow.
            assert!(!d.record(1, false, t0 + Duration::from_millis(2 * i)));
        }
    }

    #[test]
    fn more_than_burst_packets_within_the_window_is_a_burst() {
        let t0 = Instant::now();
        let mut d = BurstDetector::new();
        assert!(!d.record(BURST_PACKETS, false, t0));
        assert!(d.record(1, false, t0 + BURST_WINDOW / 2));
    }

    #[test]
    fn the_burst_window_restarts_after_it_ends() {
        let t0 = Instant::now();
        let mut d = BurstDetector::new();
        assert!(!d.record(BURST_PACKETS, false, t0));
        assert!(!d.record(BURST_PACKETS, false, t0 + BURST_WINDOW));
    }

    #[test]
    fn a_full_batch_is_a_burst_at_once() {
        let mut d = BurstDetector::new();
        assert!(d.record(1, true, Instant::now()));
    }

    #[test]
    fn a_quiet_window_hands_back_only_once_it_is_over() {
        let t0 = Instant::now();
        let mut w = QuietWindow::new(t0);
        w.record(QUIET_PACKETS, t0);
        assert!(!w.is_quiet(t0 + QUIET_WINDOW / 2));
        assert!(w.is_quiet(t0 + QUIET_WINDOW));
    }

    #[test]
    fn a_busy_window_keeps_the_thread_reading_for_one_more_window() {
        let t0 = Instant::now();
        let mut w = QuietWindow::new(t0);
        w.record(QUIET_PACKETS + 1, t0);
        let end = w.deadline();
        assert!(!w.is_quiet(end));
        // The load stopped: the next window is quiet.
        assert_eq!(w.deadline(), end + QUIET_WINDOW);
        assert!(w.is_quiet(end + QUIET_WINDOW));
    }

    #[test]
    fn packets_counted_late_keep_the_window_busy_but_do_not_extend_it() {
        let t0 = Instant::now();
        let mut w = QuietWindow::new(t0);
        w.record_late(QUIET_PACKETS + 1);
        assert!(!w.is_quiet(t0 + QUIET_WINDOW), "busy: the thread reads on");
        // The next window, with nothing read by either side, is quiet at its end.
        w.record_late(0);
        assert!(w.is_quiet(t0 + QUIET_WINDOW * 2));
    }

    #[test]
    fn a_busy_thread_rolls_its_window_over() {
        let t0 = Instant::now();
        let mut w = QuietWindow::new(t0);
        w.record(1000, t0);
        w.record(1, t0 + QUIET_WINDOW);
        assert!(w.is_quiet(t0 + 2 * QUIET_WINDOW));
    }

    #[test]
    fn the_thread_hands_back_below_the_rate_that_makes_the_loop_hand_over() {
        // Hysteresis: packets per second.
        let hand_back = QUIET_PACKETS as f64 / QUIET_WINDOW.as_secs_f64();
        let hand_over = BURST_PACKETS as f64 / BURST_WINDOW.as_secs_f64();
        assert!(hand_back * 10.0 < hand_over);
    }
}

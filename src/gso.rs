//! The GSO send queue: datagrams written in place, flushed as few syscalls.
//!
//! Generic Segmentation Offload lets one `sendmsg` carry many UDP datagrams to
//! the same destination, provided they all have the same length (the last
//! one may be shorter). The queue keeps one contiguous arena; each datagram is
//! encrypted straight into the arena's tail, then either extends the newest
//! batch (same destination, same length, under the caps) or starts a new one
//! at exactly that spot, so nothing is ever copied. Only the newest batch is
//! ever extended, which keeps the batches, and so every flow, in write order.
//!
//! The queue does no IO: [`GsoQueue::flush`] hands each [`Transmit`] to a
//! caller-supplied send function and resumes where it stopped after
//! `WouldBlock`.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Most datagrams in one GSO send: the Linux kernel's `UDP_MAX_SEGMENTS`.
pub const MAX_SEGMENTS: usize = 64;

/// Most payload bytes in one GSO send: an IPv4 datagram's 65 535-byte limit
/// less 20 bytes of IP and 8 of UDP header (IPv6 allows slightly more; one
/// number for both keeps the rule simple). Below 64 KiB.
pub const MAX_GSO_BYTES: usize = 65_535 - 20 - 8;

/// How long a GSO refusal (EIO/EINVAL) holds the segment limit down before
/// the queue tries full-size sends again. A refusal can be transient (a
/// blackhole route answers EINVAL for as long as it exists), so it must not
/// turn GSO off for good; a path that really refuses GSO costs one refused
/// send (retried in halves, nothing lost) per probe.
pub const GSO_PROBE_AFTER: Duration = Duration::from_secs(1);

/// The longest wait between probes: each refused probe doubles the wait up to this.
pub const GSO_PROBE_MAX_INTERVAL: Duration = Duration::from_secs(64);

/// One send syscall's worth of datagrams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit<'a> {
    /// Where the datagrams go.
    pub destination: SocketAddr,
    /// The datagrams back to back.
    pub contents: &'a [u8],
    /// Length of each datagram when `contents` holds more than one (the last may be
    /// shorter); `None` for a single datagram.
    pub segment_size: Option<usize>,
}

impl Transmit<'_> {
    /// How many datagrams this send carries.
    pub fn datagrams(&self) -> usize {
        match self.segment_size {
            Some(size) => self.contents.len().div_ceil(size),
            None => 1,
        }
    }
}

/// Counters a flush adds to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FlushStats {
    /// Datagrams the kernel accepted.
    pub datagrams_sent: u64,
    /// Successful send syscalls.
    pub send_syscalls: u64,
    /// Datagrams dropped after a send error that retrying smaller cannot fix.
    pub datagrams_dropped: u64,
    /// Sends retried in smaller pieces after EIO/EINVAL (GSO unsupported on the path).
    pub gso_fallbacks: u64,
}

#[derive(Debug, Clone, Copy)]
struct Batch {
    destination: SocketAddr,
    start: usize,
    len: usize,
    segment_size: usize,
    segments: usize,
    /// A short tail datagram ended it; nothing more may join.
    closed: bool,
}

/// Where `flush` stopped: the batch, and how many of its segments already went out.
#[derive(Debug, Default, Clone, Copy)]
struct Cursor {
    batch: usize,
    segments_sent: usize,
}

/// The send queue. See the module docs.
#[derive(Debug)]
pub struct GsoQueue {
    arena: Vec<u8>,
    used: usize,
    batches: Vec<Batch>,
    cursor: Cursor,
    /// Most segments the socket takes per send (1 without `UDP_SEGMENT`),
    /// as found when it was created; see [`Self::reset`].
    max_segments: usize,
    /// The cap in force: `max_segments`, halved on each EIO/EINVAL refusal.
    segment_limit: usize,
    /// While `segment_limit` is lowered: when to try full-size sends again.
    probe_at: Option<Instant>,
    /// Wait before the next probe; doubles on each refused probe.
    probe_interval: Duration,
    /// The limit was just lifted: a refusal now means the path still refuses.
    probing: bool,
}

impl GsoQueue {
    /// A queue whose arena holds `capacity` bytes. Allocates once, here.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            arena: vec![0; capacity],
            used: 0,
            batches: Vec::with_capacity(capacity / 64),
            cursor: Cursor::default(),
            max_segments: MAX_SEGMENTS,
            segment_limit: MAX_SEGMENTS,
            probe_at: None,
            probe_interval: GSO_PROBE_AFTER,
            probing: false,
        }
    }

    /// Whether a lowered segment limit is due to be lifted at `now` (the
    /// next [`Self::flush`] then tries full-size sends again).
    pub fn probe_due(&self, now: Instant) -> bool {
        self.probe_at.is_some_and(|at| at <= now)
    }

    /// Drops everything queued and forgets past GSO refusals: for a new
    /// socket, which takes at most `max_segments` datagrams per send (1
    /// without GSO; capped at [`MAX_SEGMENTS`]).
    ///
    /// This queue is the one place that lowers the limit at runtime: the
    /// socket's own notion (quinn-udp drops its `max_gso_segments` to 1 for
    /// good on one EIO/EINVAL) is read only when the socket is created.
    pub fn reset(&mut self, max_segments: usize) {
        self.clear();
        self.max_segments = max_segments.clamp(1, MAX_SEGMENTS);
        self.segment_limit = self.max_segments;
        self.probe_at = None;
        self.probe_interval = GSO_PROBE_AFTER;
        self.probing = false;
    }

    /// Free bytes at the arena's tail. The caller flushes before this drops
    /// below the largest datagram it may write.
    pub fn room(&self) -> usize {
        self.arena.len() - self.used
    }

    /// Whether nothing waits to be sent.
    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// Datagrams queued and not yet sent.
    pub fn queued_datagrams(&self) -> usize {
        let sent = self.cursor.segments_sent;
        self.batches[self.cursor.batch.min(self.batches.len())..]
            .iter()
            .map(|b| b.segments)
            .sum::<usize>()
            - sent
    }

    /// The free bytes at the arena's tail: write one datagram there, starting at
    /// index 0, then [`Self::commit`] it.
    pub fn tail(&mut self) -> &mut [u8] {
        &mut self.arena[self.used..]
    }

    /// Queues the `len` bytes just written at the start of [`Self::tail`] as one
    /// datagram for `destination`. It extends the newest batch when it can.
    ///
    /// # Panics
    /// If `len` exceeds [`Self::room`]: a caller bug, never caused by network input.
    pub fn commit(&mut self, destination: SocketAddr, len: usize) {
        assert!(len <= self.room(), "GsoQueue::commit beyond room");
        if len == 0 {
            return;
        }
        let start = self.used;
        self.used += len;

        if let Some(last) = self.batches.last_mut() {
            let fits = !last.closed
                && last.destination == destination
                && last.start + last.len == start
                && len <= last.segment_size
                && last.segments < MAX_SEGMENTS
                && last.len + len <= MAX_GSO_BYTES;
            if fits {
                last.len += len;
                last.segments += 1;
                last.closed = len < last.segment_size;
                return;
            }
        }
        self.batches.push(Batch {
            destination,
            start,
            len,
            segment_size: len,
            segments: 1,
            closed: false,
        });
    }

    /// Copies `datagram` in and queues it (for the rare messages that are not
    /// encrypted in place, such as handshake replies).
    ///
    /// Returns `false`, queuing nothing, when there is no room.
    pub fn push(&mut self, destination: SocketAddr, datagram: &[u8]) -> bool {
        let Some(tail) = self.tail().get_mut(..datagram.len()) else {
            return false;
        };
        tail.copy_from_slice(datagram);
        self.commit(destination, datagram.len());
        true
    }

    /// Sends everything queued, in write order, one `send` call per batch (split
    /// further when the socket allows fewer segments, see [`Self::reset`]).
    ///
    /// `now` schedules probing after a refusal (see [`GSO_PROBE_AFTER`]).
    ///
    /// Errors: `WouldBlock` stops the flush and is returned; call again when the
    /// socket is writable and it resumes exactly there. EIO and EINVAL on a
    /// multi-datagram send (GSO refused, e.g. Android on cellular) retry the same
    /// datagrams in halves, down to single datagrams, so a batch is never lost to
    /// them, and hold the limit down until the next probe. Any other error
    /// drops the datagrams of that one send (counted) and the flush goes on.
    /// The queue is empty after `Ok`.
    pub fn flush(
        &mut self,
        now: Instant,
        stats: &mut FlushStats,
        mut send: impl FnMut(&Transmit<'_>) -> io::Result<()>,
    ) -> io::Result<()> {
        if self.probe_due(now) {
            self.probe_at = None;
            self.segment_limit = self.max_segments;
            self.probing = true;
        }
        while let Some(batch) = self.batches.get(self.cursor.batch).copied() {
            let limit = self.segment_limit;
            let remaining = batch.segments - self.cursor.segments_sent;
            let segments = remaining.min(limit);
            let offset = batch.start + self.cursor.segments_sent * batch.segment_size;
            let end = (offset + segments * batch.segment_size).min(batch.start + batch.len);
            let transmit = Transmit {
                destination: batch.destination,
                contents: &self.arena[offset..end],
                segment_size: (segments > 1).then_some(batch.segment_size),
            };

            match send(&transmit) {
                Ok(()) => {
                    stats.datagrams_sent += segments as u64;
                    stats.send_syscalls += 1;
                    if segments > 1 && self.probe_at.is_none() {
                        // A batch went out whole at the full limit: the path takes GSO again.
                        self.probing = false;
                        self.probe_interval = GSO_PROBE_AFTER;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(e),
                Err(e) if segments > 1 && is_gso_refusal(&e) => {
                    // Retry the same datagrams in smaller pieces; the cursor stays put.
                    stats.gso_fallbacks += 1;
                    self.segment_limit = (segments / 2).max(1);
                    self.schedule_probe(now);
                    continue;
                }
                Err(e) => {
                    tracing::trace!(error = %e, segments, "UDP send failed; dropping datagrams");
                    stats.datagrams_dropped += segments as u64;
                }
            }

            self.cursor.segments_sent += segments;
            if self.cursor.segments_sent == batch.segments {
                self.cursor = Cursor {
                    batch: self.cursor.batch + 1,
                    segments_sent: 0,
                };
            }
        }
        self.clear();
        Ok(())
    }

    /// After a refusal: try full-size sends again after the probe interval,
    /// which doubles each time a probe is refused.
    fn schedule_probe(&mut self, now: Instant) {
        if self.probe_at.is_some() {
            return;
        }
        if self.probing {
            self.probe_interval = (self.probe_interval * 2).min(GSO_PROBE_MAX_INTERVAL);
        }
        self.probing = false;
        self.probe_at = Some(now + self.probe_interval);
    }

    /// Drops everything queued (e.g. when the socket is replaced).
    pub fn clear(&mut self) {
        self.batches.clear();
        self.used = 0;
        self.cursor = Cursor::default();
    }

    /// The arena's size in bytes (for the memory budget).
    pub fn capacity(&self) -> usize {
        self.arena.len()
    }
}

/// The node encrypts straight into the arena's tail.
impl crate::node::DatagramSink for GsoQueue {
    fn tail(&mut self) -> &mut [u8] {
        GsoQueue::tail(self)
    }
    fn commit(&mut self, destination: SocketAddr, len: usize) {
        GsoQueue::commit(self, destination, len)
    }
}

/// Whether `e` is how a kernel or path refuses a multi-datagram (GSO) send:
/// the queue retries such a send in smaller pieces.
pub fn is_gso_refusal(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EIO) | Some(libc::EINVAL))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn push(queue: &mut GsoQueue, dst: SocketAddr, len: usize, fill: u8) {
        queue.tail()[..len].fill(fill);
        queue.commit(dst, len);
    }

    /// Records every transmit as (destination, datagrams, segment_size).
    fn collect(queue: &mut GsoQueue) -> Vec<(SocketAddr, Vec<Vec<u8>>, Option<usize>)> {
        let mut sent = Vec::new();
        let mut stats = FlushStats::default();
        queue
            .flush(Instant::now(), &mut stats, |t| {
                sent.push((t.destination, split(t), t.segment_size));
                Ok(())
            })
            .unwrap();
        sent
    }

    fn split(t: &Transmit<'_>) -> Vec<Vec<u8>> {
        match t.segment_size {
            Some(size) => t.contents.chunks(size).map(<[u8]>::to_vec).collect(),
            None => vec![t.contents.to_vec()],
        }
    }

    #[test]
    fn same_destination_and_length_share_one_send() {
        let mut q = GsoQueue::with_capacity(64 * 1024);
        for i in 0..10 {
            push(&mut q, addr(1), 100, i);
        }
        let sent = collect(&mut q);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].1.len(), 10);
        assert_eq!(sent[0].2, Some(100));
        assert_eq!(sent[0].1[7], vec![7u8; 100]);
        assert!(q.is_empty());
        assert_eq!(q.room(), 64 * 1024);
    }

    #[test]
    fn a_shorter_datagram_ends_the_batch_as_its_tail() {
        let mut q = GsoQueue::with_capacity(64 * 1024);
        push(&mut q, addr(1), 100, 1);
        push(&mut q, addr(1), 100, 2);
        push(&mut q, addr(1), 60, 3);
        push(&mut q, addr(1), 100, 4);
        let sent = collect(&mut q);
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].1, vec![vec![1; 100], vec![2; 100], vec![3; 60]]);
        assert_eq!(sent[1].1, vec![vec![4; 100]]);
        assert_eq!(sent[1].2, None);
    }

    #[test]
    fn a_longer_datagram_starts_a_new_batch() {
        let mut q = GsoQueue::with_capacity(64 * 1024);
        push(&mut q, addr(1), 60, 1);
        push(&mut q, addr(1), 100, 2);
        let sent = collect(&mut q);
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].1, vec![vec![1; 60]]);
        assert_eq!(sent[1].1, vec![vec![2; 100]]);
    }

    #[test]
    fn write_order_is_kept_across_destinations() {
        let mut q = GsoQueue::with_capacity(64 * 1024);
        push(&mut q, addr(1), 100, 1);
        push(&mut q, addr(2), 100, 2);
        push(&mut q, addr(1), 100, 3);
        let sent = collect(&mut q);
        // Only the newest batch is extended: the third datagram must not jump
        // ahead of the second by joining the first batch.
        let order: Vec<(u16, u8)> = sent
            .iter()
            .flat_map(|(dst, dgrams, _)| dgrams.iter().map(move |d| (dst.port(), d[0])))
            .collect();
        assert_eq!(order, vec![(1, 1), (2, 2), (1, 3)]);
        assert_eq!(sent.len(), 3);
    }

    #[test]
    fn batches_are_capped_at_64_segments() {
        let mut q = GsoQueue::with_capacity(200 * 100);
        for i in 0..150 {
            push(&mut q, addr(1), 100, i as u8);
        }
        let sent = collect(&mut q);
        let sizes: Vec<usize> = sent.iter().map(|s| s.1.len()).collect();
        assert_eq!(sizes, vec![64, 64, 22]);
        let all: Vec<u8> = sent.iter().flat_map(|s| s.1.iter().map(|d| d[0])).collect();
        assert_eq!(all, (0..150).map(|i| i as u8).collect::<Vec<_>>());
    }

    #[test]
    fn batches_are_capped_at_the_byte_limit() {
        let mut q = GsoQueue::with_capacity(2 * MAX_GSO_BYTES + 4096);
        // 1500-byte datagrams: 43 fit under MAX_GSO_BYTES (64 500), 44 would not.
        for _ in 0..50 {
            push(&mut q, addr(1), 1500, 0);
        }
        let sent = collect(&mut q);
        assert_eq!(sent[0].1.len(), 43);
        assert_eq!(sent[1].1.len(), 7);
        for (_, dgrams, seg) in &sent {
            assert!(dgrams.iter().map(Vec::len).sum::<usize>() <= MAX_GSO_BYTES);
            assert_eq!(*seg, Some(1500));
        }
    }

    #[test]
    fn the_sockets_segment_limit_splits_batches() {
        let mut q = GsoQueue::with_capacity(64 * 1024);
        q.reset(1);
        for i in 0..10 {
            push(&mut q, addr(1), 100, i);
        }
        let sent = collect(&mut q);
        assert_eq!(sent.len(), 10);
        assert!(sent.iter().all(|s| s.2.is_none() && s.1.len() == 1));
    }

    #[test]
    fn eio_retries_smaller_then_without_gso_and_loses_nothing() {
        let mut q = GsoQueue::with_capacity(64 * 1024);
        for i in 0..40 {
            push(&mut q, addr(1), 100, i);
        }
        let mut delivered = Vec::new();
        let mut stats = FlushStats::default();
        // A path that refuses any GSO send (Android on cellular answers EIO).
        q.flush(Instant::now(), &mut stats, |t| {
            if t.segment_size.is_some() {
                return Err(io::Error::from_raw_os_error(libc::EIO));
            }
            delivered.push(t.contents[0]);
            Ok(())
        })
        .unwrap();
        assert_eq!(delivered, (0..40).collect::<Vec<u8>>());
        assert_eq!(stats.datagrams_sent, 40);
        assert_eq!(stats.send_syscalls, 40);
        assert_eq!(stats.datagrams_dropped, 0);
        assert!(stats.gso_fallbacks >= 1);
    }

    #[test]
    fn einval_on_large_sends_settles_on_the_largest_size_that_works() {
        let mut q = GsoQueue::with_capacity(64 * 1024);
        for i in 0..32 {
            push(&mut q, addr(1), 100, i);
        }
        let mut sends = Vec::new();
        let mut stats = FlushStats::default();
        q.flush(Instant::now(), &mut stats, |t| {
            if t.datagrams() > 8 {
                return Err(io::Error::from_raw_os_error(libc::EINVAL));
            }
            sends.push(t.datagrams());
            Ok(())
        })
        .unwrap();
        assert_eq!(sends, vec![8, 8, 8, 8]);
        assert_eq!(stats.datagrams_sent, 32);
    }

    #[test]
    fn would_block_resumes_where_it_stopped() {
        let mut q = GsoQueue::with_capacity(64 * 1024);
        push(&mut q, addr(1), 100, 1);
        push(&mut q, addr(2), 100, 2);
        push(&mut q, addr(3), 100, 3);
        let mut stats = FlushStats::default();
        let mut calls = 0;
        let mut delivered = Vec::new();
        let err = q
            .flush(Instant::now(), &mut stats, |t| {
                calls += 1;
                if calls == 2 {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                delivered.push(t.contents[0]);
                Ok(())
            })
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert_eq!(q.queued_datagrams(), 2);
        q.flush(Instant::now(), &mut stats, |t| {
            delivered.push(t.contents[0]);
            Ok(())
        })
        .unwrap();
        assert_eq!(delivered, vec![1, 2, 3]);
        assert!(q.is_empty());
    }

    #[test]
    fn hard_errors_drop_only_that_send() {
        let mut q = GsoQueue::with_capacity(64 * 1024);
        push(&mut q, addr(1), 100, 1);
        push(&mut q, addr(2), 100, 2);
        let mut stats = FlushStats::default();
        let mut delivered = Vec::new();
        q.flush(Instant::now(), &mut stats, |t| {
            if t.destination == addr(1) {
                return Err(io::Error::from_raw_os_error(libc::ENETUNREACH));
            }
            delivered.push(t.contents[0]);
            Ok(())
        })
        .unwrap();
        assert_eq!(delivered, vec![2]);
        assert_eq!(stats.datagrams_dropped, 1);
        assert_eq!(stats.datagrams_sent, 1);
    }

    #[test]
    fn committing_nothing_queues_nothing() {
        let mut q = GsoQueue::with_capacity(1024);
        q.commit(addr(1), 0);
        assert!(q.is_empty());
        assert_eq!(q.room(), 1024);
    }

    #[test]
    fn push_refuses_what_does_not_fit() {
        let mut q = GsoQueue::with_capacity(100);
        assert!(q.push(addr(1), &[1; 60]));
        assert!(!q.push(addr(1), &[2; 60]));
        assert_eq!(q.queued_datagrams(), 1);
    }

    /// Sizes of the sends one flush of `count` equal datagrams makes at `now`,
    /// with sends above `refuse_above` datagrams refused with EINVAL.
    fn sends_at(q: &mut GsoQueue, now: Instant, count: u8, refuse_above: usize) -> Vec<usize> {
        for i in 0..count {
            push(q, addr(1), 100, i);
        }
        let mut sends = Vec::new();
        let mut stats = FlushStats::default();
        q.flush(now, &mut stats, |t| {
            if t.datagrams() > refuse_above {
                return Err(io::Error::from_raw_os_error(libc::EINVAL));
            }
            sends.push(t.datagrams());
            Ok(())
        })
        .unwrap();
        assert_eq!(stats.datagrams_sent, u64::from(count), "nothing lost");
        sends
    }

    #[test]
    fn a_transient_refusal_is_forgotten_after_the_probe_interval() {
        let t0 = Instant::now();
        let mut q = GsoQueue::with_capacity(64 * 1024);
        // For a moment the path refuses every multi-datagram send (EINVAL).
        assert_eq!(sends_at(&mut q, t0, 32, 1), vec![1; 32]);
        assert!(!q.probe_due(t0));
        // Until the probe, the limit stays down even though the path recovered.
        assert_eq!(
            sends_at(&mut q, t0 + GSO_PROBE_AFTER / 2, 32, 64),
            vec![1; 32]
        );
        assert!(q.probe_due(t0 + GSO_PROBE_AFTER));
        assert_eq!(sends_at(&mut q, t0 + GSO_PROBE_AFTER, 32, 64), vec![32]);
        assert!(
            !q.probe_due(t0 + GSO_PROBE_MAX_INTERVAL * 2),
            "recovered: no more probes"
        );
    }

    #[test]
    fn refused_probes_back_off_up_to_a_bound() {
        let t0 = Instant::now();
        let mut q = GsoQueue::with_capacity(64 * 1024);
        // A path that never takes more than 4 datagrams per send.
        assert_eq!(sends_at(&mut q, t0, 32, 4), vec![4; 8]);
        let mut at = t0;
        let mut interval = GSO_PROBE_AFTER;
        for _ in 0..10 {
            at += interval;
            assert!(q.probe_due(at) && !q.probe_due(at - Duration::from_millis(1)));
            assert_eq!(
                sends_at(&mut q, at, 32, 4),
                vec![4; 8],
                "the probe costs nothing"
            );
            interval = (interval * 2).min(GSO_PROBE_MAX_INTERVAL);
        }
        assert_eq!(interval, GSO_PROBE_MAX_INTERVAL);
    }

    #[test]
    fn a_refused_single_datagram_is_dropped_and_leaves_the_limit_alone() {
        // EINVAL on one datagram says nothing about GSO: no fallback, no probe.
        let t0 = Instant::now();
        let mut q = GsoQueue::with_capacity(64 * 1024);
        push(&mut q, addr(1), 100, 0);
        let mut stats = FlushStats::default();
        q.flush(t0, &mut stats, |_| {
            Err(io::Error::from_raw_os_error(libc::EINVAL))
        })
        .unwrap();
        assert_eq!(stats.datagrams_dropped, 1);
        assert_eq!(stats.gso_fallbacks, 0);
        assert!(!q.probe_due(t0 + GSO_PROBE_MAX_INTERVAL));
        assert_eq!(sends_at(&mut q, t0, 32, 64), vec![32]);
    }

    #[test]
    fn a_socket_without_gso_is_never_probed_above_one() {
        let t0 = Instant::now();
        let mut q = GsoQueue::with_capacity(64 * 1024);
        q.reset(1);
        assert_eq!(sends_at(&mut q, t0, 4, 64), vec![1; 4]);
        assert_eq!(
            sends_at(&mut q, t0 + GSO_PROBE_MAX_INTERVAL, 4, 64),
            vec![1; 4]
        );
    }

    #[test]
    fn a_new_socket_starts_with_full_gso() {
        let t0 = Instant::now();
        let mut q = GsoQueue::with_capacity(64 * 1024);
        assert_eq!(sends_at(&mut q, t0, 32, 1), vec![1; 32]);
        q.reset(MAX_SEGMENTS);
        assert_eq!(sends_at(&mut q, t0, 32, 64), vec![32]);
    }
}

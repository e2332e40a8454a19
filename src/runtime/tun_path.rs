//! The TUN side of the event loop: TUN input (the loop's own reads while
//! traffic is light, the reader thread's batches while it is heavy; see
//! [`crate::io::tun_input`]), the outbound flow queue both empty into, and
//! the writer with the batch of decrypted packets it writes.

use std::os::fd::{AsFd as _, BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::mpsc as std_mpsc;
use std::time::Instant;

use tokio::sync::mpsc;

use super::budget::{
    MAX_BATCH, TUN_BATCHES, TUN_WRITE_BYTES, TUN_WRITE_PACKETS, fq_packets, tun_batch_bytes,
};
use super::{RuntimeError, TunFraming, TunnelStats, io_error};
use crate::batch::PacketBatch;
use crate::fq::{CodelParams, FairQueue};
use crate::io::tun::{ReaderExit, TunReader, TunWriter, set_nonblocking};
use crate::io::tun_input::{ReaderMsg, Ready, TunInput};

/// TUN-side counters (the reader counts its own drops).
#[derive(Debug, Default)]
struct TunCounters {
    packets_in: u64,
    packets_out: u64,
    read_batches: u64,
    write_drops: u64,
}

impl TunCounters {
    /// Counts `packets` read; `batches` that brought packets, `None`: one if any came.
    fn count_read(&mut self, packets: u64, batches: Option<u64>) {
        self.packets_in += packets;
        self.read_batches += batches.unwrap_or(u64::from(packets > 0));
    }
}

fn read_error(source: std::io::Error) -> RuntimeError {
    RuntimeError::Io {
        context: "reading the TUN",
        source,
    }
}

/// Why the loop reads the TUN itself.
#[derive(Debug)]
enum Read {
    /// Tokio saw the fd readable.
    Ready,
    /// Right after a TUN write (see [`TunInput::read_after_write`]).
    AfterWrite,
    /// The fd reports an error condition.
    Error,
    /// A message from the reader thread.
    Thread(ReaderMsg),
    /// Every message the reader thread has ready, without waiting, and
    /// what the TUN holds if the thread is not reading right now
    /// ([`TunInput::help_read`]).
    Queued,
}

/// See the module docs.
pub(super) struct TunPath {
    input: TunInput,
    /// Packets read from the TUN, waiting for encryption, flow-fair with CoDel.
    outbound: FairQueue,
    writer: TunWriter,
    /// Decrypted packets gathered for the next write.
    out: PacketBatch,
    counters: TunCounters,
}

impl TunPath {
    /// Takes `fd` over (closed on failure too): a reader thread with its pool
    /// of batches, and a writer registered with the current tokio runtime.
    ///
    /// # Errors
    /// When the fd cannot be made non-blocking, duplicated or registered, or
    /// the reader thread cannot start.
    pub fn start(
        fd: OwnedFd,
        framing: TunFraming,
        max_packet: usize,
    ) -> Result<Self, RuntimeError> {
        set_nonblocking(fd.as_fd()).map_err(io_error("setting the TUN fd non-blocking"))?;
        let writer_fd = fd.try_clone().map_err(io_error("duplicating the TUN fd"))?;
        let writer =
            TunWriter::new(writer_fd, framing).map_err(io_error("registering the TUN fd"))?;

        let (pool, pool_rx) = std_mpsc::sync_channel(TUN_BATCHES);
        for _ in 0..TUN_BATCHES {
            // Cannot fail: the channel has a slot for every batch and its receiver is alive.
            let _ = pool.try_send(PacketBatch::new(MAX_BATCH, tun_batch_bytes(max_packet)));
        }
        let (batch_tx, batches) = mpsc::channel(TUN_BATCHES);
        // The loop reads first (an idle tunnel); the thread waits to be asked.
        let direct_fd = fd.try_clone().map_err(io_error("duplicating the TUN fd"))?;
        let reader = TunReader::spawn(fd, framing, max_packet, pool_rx, batch_tx, true)
            .map_err(io_error("starting the TUN reader"))?;
        let direct_batch = PacketBatch::new(MAX_BATCH, tun_batch_bytes(max_packet));
        let input = TunInput::new(
            reader,
            batches,
            pool,
            direct_fd,
            framing,
            max_packet,
            direct_batch,
        )
        .map_err(io_error("registering the TUN fd for reading"))?;
        Ok(Self {
            input,
            outbound: FairQueue::new(
                fq_packets(max_packet),
                max_packet,
                max_packet,
                CodelParams::default(),
                rand_core::RngCore::next_u64(&mut rand_core::OsRng),
            ),
            writer,
            out: PacketBatch::new(TUN_WRITE_PACKETS, TUN_WRITE_BYTES),
            counters: TunCounters::default(),
        })
    }

    /// Waits for TUN input: the loop's own fd readable, or a message from
    /// the reader thread. Cancel-safe.
    pub async fn ready(&mut self) -> Ready {
        self.input.ready().await
    }

    /// Queues what [`Self::ready`] found and every batch the reader has ready besides.
    ///
    /// # Errors
    /// The reader ended ([`Ready::Closed`]), or the loop's own read failed.
    pub fn take(&mut self, ready: Ready) -> Result<(), RuntimeError> {
        let how = match ready {
            Ready::Direct => Read::Ready,
            Ready::DirectError => Read::Error,
            Ready::Thread(msg) => Read::Thread(msg),
            Ready::Closed => return Err(self.reader_error()),
        };
        self.queue_input(how)?;
        self.take_ready();
        Ok(())
    }

    /// Reads one packet after the loop's own `poll` found the TUN readable
    /// (see [`TunInput::read_polled`]) and passes it to `send`, past the
    /// flow queue: the loop waits idle only while that queue is empty, so
    /// there is nothing to order (and the queue's cold memory stays off the
    /// idle round trip). Returns how many packets came (0 or 1).
    ///
    /// # Errors
    /// The read failed: the TUN is unusable.
    pub fn read_polled(&mut self, mut send: impl FnMut(&[u8])) -> Result<u64, RuntimeError> {
        let mut packets = 0;
        let result = self.input.read_polled(Instant::now(), |packet| {
            packets += 1;
            send(packet);
        });
        self.counters.count_read(packets, None);
        result.map(|()| packets).map_err(read_error)
    }

    /// The loop's own TUN fd while it reads the TUN itself (light traffic).
    pub fn direct_fd(&self) -> Option<BorrowedFd<'_>> {
        self.input.direct_fd()
    }

    /// Whether decrypted packets wait to be written.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// Right after a TUN write, reads what the write made the kernel answer
    /// (direct mode; nothing otherwise); see [`TunInput::read_after_write`].
    ///
    /// # Errors
    /// The read failed: the TUN is unusable.
    pub fn read_after_write(&mut self) -> Result<(), RuntimeError> {
        self.queue_input(Read::AfterWrite).map(drop)
    }

    /// Queues every batch the reader has ready, without waiting, and reads
    /// in the thread's stead if it is not reading right now (see
    /// [`TunInput::help_read`]); the reader's end is left to [`Self::ready`]
    /// to report.
    pub fn take_ready(&mut self) {
        // Taking queued batches reads nothing, so it cannot fail.
        let _ = self.queue_input(Read::Queued);
    }

    /// Moves TUN input (`how`) into the flow queue, counting packets and
    /// read batches; returns how many packets came.
    fn queue_input(&mut self, how: Read) -> Result<u64, RuntimeError> {
        let Self {
            input,
            outbound,
            counters,
            ..
        } = self;
        let now = Instant::now();
        let mut packets = 0;
        let mut sink = |packet: &[u8]| {
            packets += 1;
            outbound.push(packet, now);
        };
        // Batches that brought packets; `None`: one if any packet came.
        let (result, batches) = match how {
            Read::Ready => (input.read_direct(now, sink), None),
            Read::AfterWrite => (input.read_after_write(now, sink), None),
            Read::Error => (input.read_error(now, sink), None),
            Read::Thread(msg) => {
                input.handle(msg, sink);
                (Ok(()), None)
            }
            Read::Queued => {
                let batches = input.take_ready(&mut sink);
                let helped = input.help_read(MAX_BATCH, &mut sink);
                (Ok(()), Some(batches + u64::from(helped > 0)))
            }
        };
        counters.count_read(packets, batches);
        result.map(|()| packets).map_err(read_error)
    }

    /// Why the reader ended, once [`Self::ready`] returned [`Ready::Closed`].
    pub fn reader_error(&mut self) -> RuntimeError {
        let source = match self.input.exit() {
            Some(ReaderExit::Failed(source)) => source,
            _ => std::io::ErrorKind::BrokenPipe.into(),
        };
        RuntimeError::Io {
            context: "reading the TUN",
            source,
        }
    }

    /// Whether packets wait in the flow queue.
    pub fn has_queued(&self) -> bool {
        !self.outbound.is_empty()
    }

    /// The next packet the flow queue lets out at `now`.
    pub fn dequeue(&mut self, now: Instant) -> Option<&[u8]> {
        self.outbound.dequeue(now)
    }

    /// Where decrypted packets gather until [`Self::flush`].
    pub fn out(&mut self) -> &mut PacketBatch {
        &mut self.out
    }

    /// Flushes first when the gathered batch has less than `room` bytes free.
    pub async fn make_room(&mut self, room: usize) {
        if self.out.room() < room {
            self.flush().await;
        }
    }

    /// Writes every gathered packet to the TUN, waiting for room as needed.
    pub async fn flush(&mut self) {
        if !self.out.is_empty() {
            self.writer
                .write_all(
                    &mut self.out,
                    &mut self.counters.packets_out,
                    &mut self.counters.write_drops,
                )
                .await;
        }
    }

    /// [`Self::flush`], then, if that wrote something and the loop reads
    /// the TUN itself, reads the answers the write made the kernel queue
    /// (see [`TunInput::read_after_write`]).
    ///
    /// # Errors
    /// The read failed: the TUN is unusable.
    pub async fn flush_and_read_answers(&mut self) -> Result<(), RuntimeError> {
        let wrote = !self.out.is_empty();
        self.flush().await;
        if wrote && self.input.is_direct() {
            self.read_after_write()?;
        }
        Ok(())
    }

    /// Moves the writer and reader onto `fd`. The writer switches now; the
    /// reader drains the old fd, closes it and then answers `reply`. On
    /// failure `fd` is closed and the old fd stays in use.
    pub fn swap(&mut self, fd: OwnedFd, reply: std_mpsc::SyncSender<Result<(), RuntimeError>>) {
        let writer = set_nonblocking(fd.as_fd())
            .map_err(io_error("setting the new TUN fd non-blocking"))
            .and_then(|()| {
                fd.try_clone()
                    .map_err(io_error("duplicating the new TUN fd"))
            })
            .and_then(|dup| {
                self.writer
                    .for_new_fd(dup)
                    .map_err(io_error("registering the new TUN fd"))
            });
        let writer = match writer {
            Ok(writer) => writer,
            Err(e) => {
                tracing::warn!(error = %e, "TUN swap refused");
                let _ = reply.send(Err(e));
                return;
            }
        };
        // Decrypted packets are written out at the end of every turn, so none
        // wait for the old writer here; dropping it closes its copy of the old fd.
        self.writer = writer;
        let done = Box::new(move || {
            let _ = reply.send(Ok(()));
        });
        if let Err(e) = self.input.swap(fd, done) {
            // The reader has ended; the loop sees that and stops with its reason.
            tracing::warn!(error = %e, "TUN swap: the reader has ended");
        } else {
            tracing::info!("TUN fd swapped");
        }
    }

    /// Adds this side's counters and drops to `stats`.
    pub fn add_stats(&self, stats: &mut TunnelStats) {
        stats.ip_packets_in += self.counters.packets_in;
        stats.ip_packets_out += self.counters.packets_out;
        stats.tun_read_batches += self.counters.read_batches;
        let reader = self.input.drops();
        stats.drops.malformed_ip += reader.empty.load(Ordering::Relaxed);
        stats.drops.oversized_tun_packet += reader.oversized.load(Ordering::Relaxed);
        stats.drops.tun_write += self.counters.write_drops;
        stats.drops.queue += self.outbound.stats().drops();
    }

    /// Stops the reader thread and waits for it, so nothing reads any more.
    pub fn stop(self) {
        let exit = self.input.stop();
        tracing::debug!(?exit, "TUN reader ended");
    }
}

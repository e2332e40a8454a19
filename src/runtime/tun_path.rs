//! The TUN side of the event loop: the reader thread and its batches, the
//! outbound flow queue they empty into, and the writer with the batch of
//! decrypted packets it writes.

use std::os::fd::{AsFd as _, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::mpsc as std_mpsc;
use std::time::Instant;

use tokio::sync::mpsc;

use super::budget::{
    MAX_BATCH, TUN_BATCHES, TUN_WRITE_BYTES, TUN_WRITE_PACKETS, fq_packets, tun_batch_bytes,
};
use super::{RuntimeError, TunFraming, TunnelStats};
use crate::batch::PacketBatch;
use crate::fq::{CodelParams, FairQueue};
use crate::io::tun::{ReaderExit, TunReader, TunWriter, set_nonblocking};

/// TUN-side counters (the reader counts its own drops).
#[derive(Debug, Default)]
struct TunCounters {
    packets_in: u64,
    packets_out: u64,
    read_batches: u64,
    write_drops: u64,
}

/// See the module docs.
pub(super) struct TunPath {
    reader: TunReader,
    /// Filled batches from the reader.
    batches: mpsc::Receiver<PacketBatch>,
    /// Emptied batches back to the reader.
    pool: std_mpsc::SyncSender<PacketBatch>,
    /// Packets read from the TUN, waiting for encryption, flow-fair with CoDel.
    outbound: FairQueue,
    writer: TunWriter,
    /// Decrypted packets gathered for the next write.
    out: PacketBatch,
    counters: TunCounters,
}

fn io_error(context: &'static str) -> impl FnOnce(std::io::Error) -> RuntimeError {
    move |source| RuntimeError::Io { context, source }
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
        let reader = TunReader::spawn(fd, framing, max_packet, pool_rx, batch_tx)
            .map_err(io_error("starting the TUN reader"))?;
        Ok(Self {
            reader,
            batches,
            pool,
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

    /// The next batch from the reader; `None` once the reader has ended
    /// (ask [`Self::reader_error`] why). Cancel-safe.
    pub async fn next_batch(&mut self) -> Option<PacketBatch> {
        self.batches.recv().await
    }

    /// Moves a TUN batch into the flow queue and hands it back to the reader.
    pub fn queue(&mut self, mut batch: PacketBatch) {
        self.counters.read_batches += 1;
        self.counters.packets_in += batch.len() as u64;
        let now = Instant::now();
        for packet in batch.iter() {
            self.outbound.push(packet, now);
        }
        batch.clear();
        // The reader is waiting for it or will be; if it is gone, so is the batch.
        let _ = self.pool.try_send(batch);
    }

    /// Queues every batch the reader has ready, without waiting; the reader's
    /// end is left to [`Self::next_batch`] to report.
    pub fn take_ready(&mut self) {
        while let Ok(batch) = self.batches.try_recv() {
            self.queue(batch);
        }
    }

    /// Why the reader ended, once [`Self::next_batch`] returned `None`.
    pub fn reader_error(&mut self) -> RuntimeError {
        let source = match self.reader.stop() {
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
        if let Err(e) = self.reader.swap(fd, done) {
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
        let reader = self.reader.drops();
        stats.drops.malformed_ip += reader.empty.load(Ordering::Relaxed);
        stats.drops.oversized_tun_packet += reader.oversized.load(Ordering::Relaxed);
        stats.drops.tun_write += self.counters.write_drops;
        stats.drops.queue += self.outbound.stats().drops();
    }

    /// Stops the reader thread and waits for it, so nothing reads any more.
    pub fn stop(self) {
        let Self {
            mut reader,
            batches,
            pool,
            ..
        } = self;
        // Dropping both channels first: a reader blocked on either sees it close.
        drop(batches);
        drop(pool);
        let exit = reader.stop();
        tracing::debug!(?exit, "TUN reader ended");
    }
}

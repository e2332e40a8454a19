//! The event loop: one tokio current-thread runtime that owns the node, the
//! UDP socket, the GSO queue, the TUN writer and the timers.
//!
//! Each iteration first delivers what is pending (GSO queue, TUN writes), so
//! a full socket or TUN pushes back on input instead of growing a queue, then
//! takes every TUN batch the reader has ready into the outbound flow queue
//! (cheap copies, so the reader gets its batches back at once and keeps the
//! kernel's TUN queue drained), then does one bounded piece of work, the first ready of: a
//! command, the node's timer, a UDP receive call, a TUN batch, or up to
//! [`MAX_BATCH`] packets from the flow queue. The flow queue decides the
//! order (sparse flows first) and, under load, what to drop (CoDel).

use std::io::IoSliceMut;
use std::os::fd::{AsFd as _, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use quinn_udp::RecvMeta;
use tokio::sync::mpsc;

use super::background_resolve::{BackgroundResolver, Resolved};
use super::budget::{
    MAX_BATCH, RECV_BUFFER_LEN, RECV_BUFFERS, TUN_WRITE_BYTES, TUN_WRITE_PACKETS, fq_packets,
};
use super::{RuntimeError, TunnelEvent, TunnelStats};
use crate::batch::PacketBatch;
use crate::config::TunnelConfig;
use crate::fq::{CodelParams, FairQueue};
use crate::gso::{FlushStats, GsoQueue};
use crate::io::tun::{ReaderExit, TunReader, TunWriter};
use crate::io::udp::UdpIo;
use crate::node::{Event, HANDSHAKE_INIT_LEN, Node};

/// Receive calls handled per turn before other sources get theirs, so a
/// flood on the socket cannot starve TUN input, timers or commands. One call
/// brings up to `RECV_BUFFERS` GRO buffers (see there for why so few).
const MAX_RECV_CALLS_PER_WAKEUP: usize = 1;

/// Events kept for an app that does not read them; older ones are dropped
/// beyond this.
pub(super) const EVENT_QUEUE: usize = 256;

/// Sent to the loop by the [`super::Tunnel`] handle.
pub(super) enum Command {
    Stop,
    SwapTun(OwnedFd, std_mpsc::SyncSender<Result<(), RuntimeError>>),
    /// A background endpoint lookup finished.
    Resolved(Resolved),
    UpdateConfig(TunnelConfig, std_mpsc::SyncSender<Result<(), RuntimeError>>),
    NetworkChanged(std_mpsc::SyncSender<Result<(), RuntimeError>>),
    Stats(std_mpsc::SyncSender<TunnelStats>),
}

/// IO-side counters (the node keeps its own drops and per-peer counters).
#[derive(Debug, Default)]
struct IoCounters {
    ip_packets_in: u64,
    ip_packets_out: u64,
    udp_datagrams_received: u64,
    gro_batches: u64,
    tun_read_batches: u64,
    tun_write_drops: u64,
    flush: FlushStats,
}

pub(super) struct EventLoop {
    pub node: Node,
    pub udp: UdpIo,
    pub gso: GsoQueue,
    pub tun_writer: TunWriter,
    pub tun_reader: TunReader,
    pub tun_out: PacketBatch,
    pub tun_batches: mpsc::Receiver<PacketBatch>,
    pub pool: std_mpsc::SyncSender<PacketBatch>,
    /// Packets read from the TUN, waiting for encryption, flow-fair with CoDel.
    outbound: FairQueue,
    pub commands: mpsc::UnboundedReceiver<Command>,
    /// Set by [`super::Tunnel::stop`]; ends the loop at any await point.
    stop_signal: Arc<tokio::sync::Notify>,
    pub events: mpsc::Sender<TunnelEvent>,
    pub final_event: Arc<Mutex<Option<TunnelEvent>>>,
    pub protect: Box<dyn Fn(std::os::fd::RawFd) -> bool + Send>,
    resolver: BackgroundResolver,
    recv_bufs: Vec<Box<[u8]>>,
    recv_meta: Vec<RecvMeta>,
    counters: IoCounters,
    /// One moment on both clocks, so reported handshake times do not drift between calls.
    clock_anchor: (Instant, SystemTime),
}

impl EventLoop {
    #[allow(clippy::too_many_arguments)] // the parts built by `Tunnel::start`, moved in once
    pub fn new(
        node: Node,
        udp: UdpIo,
        gso: GsoQueue,
        tun_writer: TunWriter,
        tun_reader: TunReader,
        tun_batches: mpsc::Receiver<PacketBatch>,
        pool: std_mpsc::SyncSender<PacketBatch>,
        commands: mpsc::UnboundedReceiver<Command>,
        stop_signal: Arc<tokio::sync::Notify>,
        events: mpsc::Sender<TunnelEvent>,
        final_event: Arc<Mutex<Option<TunnelEvent>>>,
        protect: Box<dyn Fn(std::os::fd::RawFd) -> bool + Send>,
        resolver: BackgroundResolver,
    ) -> Self {
        let max_packet = node.max_packet();
        Self {
            outbound: FairQueue::new(
                fq_packets(max_packet),
                max_packet,
                max_packet,
                CodelParams::default(),
                rand_core::RngCore::next_u64(&mut rand_core::OsRng),
            ),
            node,
            udp,
            gso,
            tun_writer,
            tun_reader,
            tun_out: PacketBatch::new(TUN_WRITE_PACKETS, TUN_WRITE_BYTES),
            tun_batches,
            pool,
            commands,
            stop_signal,
            events,
            final_event,
            protect,
            resolver,
            recv_bufs: (0..RECV_BUFFERS)
                .map(|_| vec![0u8; RECV_BUFFER_LEN].into_boxed_slice())
                .collect(),
            recv_meta: vec![RecvMeta::default(); RECV_BUFFERS],
            counters: IoCounters::default(),
            clock_anchor: (Instant::now(), SystemTime::now()),
        }
    }

    /// Runs until stopped or a fatal error; always leaves a `Stopped` event.
    pub async fn run(mut self) {
        let result = self.run_inner().await;
        let error = match result {
            Ok(()) => None,
            Err(e) => {
                tracing::error!(error = %e, "tunnel stopped on error");
                Some(e.to_string())
            }
        };
        // Stop the reader before reporting, so `Stopped` means nothing runs any more.
        // Dropping both channels first: a reader blocked on either sees it close.
        drop(self.tun_batches);
        drop(self.pool);
        let exit = self.tun_reader.stop();
        tracing::debug!(?exit, "TUN reader ended");
        let stopped = TunnelEvent::Stopped { error };
        if let Ok(mut slot) = self.final_event.lock() {
            *slot = Some(stopped);
        }
    }

    /// Runs the loop until a stop, which also cancels a wait for socket or
    /// TUN room: a stuck peer or app never keeps `stop()` from returning.
    async fn run_inner(&mut self) -> Result<(), RuntimeError> {
        // Started comes first even when stop() was called right after start.
        self.emit(TunnelEvent::Started {
            listen_port: self.udp.local_port(),
        });
        let stop = self.stop_signal.clone();
        tokio::select! {
            biased;
            () = stop.notified() => Ok(()),
            result = self.run_until_error() => result,
        }
    }

    async fn run_until_error(&mut self) -> Result<(), RuntimeError> {
        self.resolve_unresolved();
        loop {
            self.deliver_pending().await;
            self.forward_events();
            self.take_tun_batches();

            let timeout = self.node.poll_timeout().map(|(at, _)| at);
            // Check the clock before arming a sleep: a due timer runs now.
            if let Some(at) = timeout
                && at <= Instant::now()
            {
                self.node.handle_timeout(Instant::now(), &mut self.gso);
                continue;
            }
            let sleep = async {
                match timeout {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };

            // Unbiased: tokio picks among ready branches at random, so a saturated
            // TUN cannot starve UDP receives (the ACKs of the same flows), nor the reverse.
            tokio::select! {
                command = self.commands.recv() => match command {
                    None | Some(Command::Stop) => return Ok(()),
                    Some(command) => self.handle_command(command)?,
                },
                batch = self.tun_batches.recv() => match batch {
                    Some(batch) => {
                        self.queue_tun_batch(batch);
                        self.take_tun_batches();
                    }
                    None => {
                        return Err(match self.tun_reader.stop() {
                            Some(ReaderExit::Failed(source)) => RuntimeError::Io { context: "reading the TUN", source },
                            _ => RuntimeError::Io { context: "reading the TUN", source: std::io::ErrorKind::BrokenPipe.into() },
                        });
                    }
                },
                ready = self.udp.readable() => {
                    if let Err(source) = ready {
                        return Err(RuntimeError::Io { context: "waiting for the UDP socket", source });
                    }
                    self.receive().await;
                },
                () = sleep => self.node.handle_timeout(Instant::now(), &mut self.gso),
                () = std::future::ready(()), if !self.outbound.is_empty() => self.send_queued().await,
            }
        }
    }

    fn emit(&mut self, event: TunnelEvent) {
        if self.events.try_send(event).is_err() {
            tracing::debug!("event queue full; event dropped");
        }
    }

    fn forward_events(&mut self) {
        while let Some(event) = self.node.poll_event() {
            let event = match event {
                Event::HandshakeCompleted { public_key } => {
                    TunnelEvent::HandshakeCompleted { public_key }
                }
                Event::EndpointChanged {
                    public_key,
                    endpoint,
                } => TunnelEvent::EndpointChanged {
                    public_key,
                    endpoint,
                },
                Event::PeerUnreachable {
                    public_key,
                    unanswered_for,
                } => {
                    // The name may point elsewhere now (a moved server, DNS64 after a switch).
                    self.resolve_host_of(&public_key);
                    TunnelEvent::PeerUnreachable {
                        public_key,
                        unanswered_for,
                    }
                }
                Event::PeerReachable { public_key } => TunnelEvent::PeerReachable { public_key },
            };
            self.emit(event);
        }
    }

    /// Sends the GSO queue and writes decrypted packets, waiting as needed;
    /// then lets the node release packets it held for lack of room.
    async fn deliver_pending(&mut self) {
        loop {
            self.flush_udp().await;
            self.flush_tun().await;
            if !self.node.has_pending() {
                return;
            }
            self.node.drain_pending(Instant::now(), &mut self.gso);
            if self.gso.is_empty() {
                return;
            }
        }
    }

    async fn flush_udp(&mut self) {
        flush_udp(&mut self.udp, &mut self.gso, &mut self.counters.flush).await;
    }

    async fn flush_tun(&mut self) {
        flush_tun(&self.tun_writer, &mut self.tun_out, &mut self.counters).await;
    }

    /// Moves a TUN batch into the flow queue and hands it back to the reader.
    fn queue_tun_batch(&mut self, mut batch: PacketBatch) {
        self.counters.tun_read_batches += 1;
        self.counters.ip_packets_in += batch.len() as u64;
        let now = Instant::now();
        for packet in batch.iter() {
            self.outbound.push(packet, now);
        }
        batch.clear();
        // The reader is waiting for it or will be; if it is gone, so is the batch.
        let _ = self.pool.try_send(batch);
    }

    /// Queues every batch the reader has ready, without waiting; the reader's
    /// end closing is left to the `select!` to report.
    fn take_tun_batches(&mut self) {
        while let Ok(batch) = self.tun_batches.try_recv() {
            self.queue_tun_batch(batch);
        }
    }

    /// Encrypts and sends up to one batch of packets from the flow queue.
    async fn send_queued(&mut self) {
        let need = self.node.max_datagram();
        for _ in 0..MAX_BATCH {
            if self.gso.room() < need {
                self.flush_udp().await;
            }
            let now = Instant::now();
            let Some(packet) = self.outbound.dequeue(now) else {
                break;
            };
            self.node.handle_tun_packet(packet, now, &mut self.gso);
        }
        self.flush_udp().await;
    }

    async fn receive(&mut self) {
        for _ in 0..MAX_RECV_CALLS_PER_WAKEUP {
            let n = {
                let mut it = self.recv_bufs.iter_mut();
                let mut slices: [IoSliceMut<'_>; RECV_BUFFERS] = std::array::from_fn(|_| {
                    IoSliceMut::new(it.next().expect("RECV_BUFFERS buffers"))
                });
                match self.udp.try_recv(&mut slices, &mut self.recv_meta) {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                    Err(e) => {
                        // E.g. ICMP-triggered errors on a connected path; the socket stays usable.
                        tracing::debug!(error = %e, "UDP receive failed");
                        return;
                    }
                }
            };
            let now = Instant::now();
            let need_net = self.node.max_datagram();
            for i in 0..n {
                let meta = self.recv_meta[i];
                let stride = meta.stride.max(1);
                if meta.len > stride {
                    self.counters.gro_batches += 1;
                }
                let buf = &self.recv_bufs[i][..meta.len];
                for datagram in buf.chunks(stride) {
                    self.counters.udp_datagrams_received += 1;
                    if self.tun_out.room() < datagram.len().max(HANDSHAKE_INIT_LEN) {
                        flush_tun(&self.tun_writer, &mut self.tun_out, &mut self.counters).await;
                    }
                    if self.gso.room() < need_net {
                        flush_udp(&mut self.udp, &mut self.gso, &mut self.counters.flush).await;
                    }
                    self.node.handle_datagram(
                        meta.addr,
                        datagram,
                        now,
                        &mut self.gso,
                        &mut self.tun_out,
                    );
                }
                // Each write runs the kernel's receive path (and makes the
                // ACKs the reader must fetch): keep TUN input flowing between buffers.
                self.flush_tun().await;
                self.take_tun_batches();
            }
            self.flush_udp().await;
        }
    }

    fn handle_command(&mut self, command: Command) -> Result<(), RuntimeError> {
        match command {
            Command::Stop => {}
            Command::UpdateConfig(config, reply) => {
                self.node.update_config(config, Instant::now());
                let _ = reply.send(Ok(()));
                self.resolve_unresolved();
            }
            Command::SwapTun(fd, reply) => self.swap_tun(fd, reply),
            Command::Resolved(resolved) => self.apply_resolved(resolved),
            Command::NetworkChanged(reply) => {
                let result = self.rebind();
                // Without a protected socket, sending could loop into the tunnel: stop.
                let fatal = match &result {
                    Ok(()) => None,
                    Err(RuntimeError::ProtectFailed) => Some(RuntimeError::ProtectFailed),
                    Err(e) => Some(RuntimeError::Io {
                        context: "rebinding the UDP socket",
                        source: std::io::Error::other(e.to_string()),
                    }),
                };
                let _ = reply.send(result);
                if let Some(error) = fatal {
                    return Err(error);
                }
                // The new network may answer differently (e.g. DNS64 on an IPv6-only one).
                for (public_key, endpoint) in self.node.host_endpoints() {
                    self.resolver.request(public_key, endpoint);
                }
            }
            Command::Stats(reply) => {
                let _ = reply.send(self.stats());
            }
        }
        Ok(())
    }

    /// Looks up every host-name endpoint that has no address yet.
    fn resolve_unresolved(&mut self) {
        for (public_key, endpoint) in self.node.unresolved_peers() {
            self.resolver.request(public_key, endpoint);
        }
    }

    /// Looks up the peer's endpoint again if it is a host name.
    fn resolve_host_of(&mut self, public_key: &crate::config::PublicKey) {
        if let Some(endpoint) = self.node.configured_endpoint(public_key)
            && endpoint.is_host_name()
        {
            self.resolver.request(*public_key, endpoint.clone());
        }
    }

    fn apply_resolved(&mut self, resolved: Resolved) {
        let again = self.resolver.finished(&resolved.public_key);
        // The config may have changed while the lookup ran.
        let still_configured =
            self.node.configured_endpoint(&resolved.public_key) == Some(&resolved.endpoint);
        match resolved.result {
            Ok(addr) if still_configured => {
                self.node.set_resolved_endpoint(
                    &resolved.public_key,
                    addr,
                    Instant::now(),
                    &mut self.gso,
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "peer endpoint lookup failed"),
        }
        if again {
            self.resolve_host_of(&resolved.public_key);
        }
    }

    /// Moves the TUN writer and reader onto `fd`. The writer switches now;
    /// the reader drains the old fd, closes it and then answers `reply`. On
    /// failure `fd` is closed and the old fd stays in use.
    fn swap_tun(&mut self, fd: OwnedFd, reply: std_mpsc::SyncSender<Result<(), RuntimeError>>) {
        let writer = crate::io::tun::set_nonblocking(fd.as_fd())
            .map_err(|source| RuntimeError::Io {
                context: "setting the new TUN fd non-blocking",
                source,
            })
            .and_then(|()| {
                fd.try_clone().map_err(|source| RuntimeError::Io {
                    context: "duplicating the new TUN fd",
                    source,
                })
            })
            .and_then(|dup| {
                self.tun_writer
                    .for_new_fd(dup)
                    .map_err(|source| RuntimeError::Io {
                        context: "registering the new TUN fd",
                        source,
                    })
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
        self.tun_writer = writer;
        let done = Box::new(move || {
            let _ = reply.send(Ok(()));
        });
        if let Err(e) = self.tun_reader.swap(fd, done) {
            // The reader has ended; the loop sees that and stops with its reason.
            tracing::warn!(error = %e, "TUN swap: the reader has ended");
        } else {
            tracing::info!("TUN fd swapped");
        }
    }

    /// A new socket on the same port, protected again, then fresh handshakes.
    fn rebind(&mut self) -> Result<(), RuntimeError> {
        let port = self.udp.local_port();
        self.gso.reset();
        let protect = &self.protect;
        // Swap in a throwaway socket (it never sends) so the old one closes and
        // its port is free for the new one.
        let placeholder = UdpIo::bind(0, &|_| true).map_err(|source| RuntimeError::Io {
            context: "binding a UDP socket",
            source,
        })?;
        drop(std::mem::replace(&mut self.udp, placeholder));
        let udp = match UdpIo::bind(port, &|fd| protect(fd)) {
            Ok(udp) => udp,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                UdpIo::bind(0, &|fd| protect(fd)).map_err(map_bind_error)?
            }
            Err(e) => return Err(map_bind_error(e)),
        };
        self.udp = udp;
        self.node.reconnect(Instant::now(), &mut self.gso);
        tracing::info!(port = self.udp.local_port(), "UDP socket rebound");
        Ok(())
    }

    fn stats(&self) -> TunnelStats {
        let mut drops = self.node.drops().clone();
        let reader = self.tun_reader.drops();
        drops.malformed_ip += reader.empty.load(Ordering::Relaxed);
        drops.oversized_tun_packet += reader.oversized.load(Ordering::Relaxed);
        drops.tun_write += self.counters.tun_write_drops;
        drops.udp_send += self.counters.flush.datagrams_dropped;
        drops.queue += self.outbound.stats().drops();
        TunnelStats {
            ip_packets_in: self.counters.ip_packets_in,
            ip_packets_out: self.counters.ip_packets_out,
            udp_datagrams_sent: self.counters.flush.datagrams_sent,
            udp_send_syscalls: self.counters.flush.send_syscalls,
            udp_datagrams_received: self.counters.udp_datagrams_received,
            gro_batches: self.counters.gro_batches,
            tun_read_batches: self.counters.tun_read_batches,
            drops,
            peers: self
                .node
                .peer_stats(self.clock_anchor.0, self.clock_anchor.1),
        }
    }
}

/// Sends the whole GSO queue, waiting for socket room as needed.
async fn flush_udp(udp: &mut UdpIo, gso: &mut GsoQueue, stats: &mut FlushStats) {
    while !gso.is_empty() {
        let now = Instant::now();
        if gso.probe_due(now) {
            // quinn-udp lowered the socket's limit on the same refusal; probe both.
            udp.restore_gso();
        }
        match gso.flush(udp.max_gso_segments(), now, stats, |t| udp.try_send(t)) {
            Ok(()) => return,
            Err(_would_block) => {
                if udp.writable().await.is_err() {
                    gso.clear();
                    return;
                }
            }
        }
    }
}

/// Writes every gathered packet to the TUN.
async fn flush_tun(writer: &TunWriter, out: &mut PacketBatch, counters: &mut IoCounters) {
    if !out.is_empty() {
        writer
            .write_all(
                out,
                &mut counters.ip_packets_out,
                &mut counters.tun_write_drops,
            )
            .await;
    }
}

pub(super) fn map_bind_error(source: std::io::Error) -> RuntimeError {
    if crate::io::udp::is_protect_refusal(&source) {
        RuntimeError::ProtectFailed
    } else {
        RuntimeError::Io {
            context: "binding the UDP socket",
            source,
        }
    }
}

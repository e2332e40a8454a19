//! The event loop: one tokio current-thread runtime that owns the node and
//! drives its three sources, each with its own type: the UDP path (socket,
//! GSO queue, receive buffers), the TUN path (reader batches, flow queue,
//! writer) and the control channel (commands, events, lookups).
//!
//! Each iteration first delivers what is pending (GSO queue, TUN writes), so
//! a full socket or TUN pushes back on input instead of growing a queue, then
//! takes every TUN batch the reader thread has ready into the outbound flow queue
//! (cheap copies, so the reader gets its batches back at once and keeps the
//! kernel's TUN queue drained), then does one bounded piece of work, the
//! first ready of: a command, the node's timer, a UDP receive call, TUN
//! input (a batch from the reader thread, or, while traffic is light, the
//! loop's own read of the TUN, encrypted and sent in the same turn), or up
//! to [`MAX_BATCH`] packets from the flow queue. The flow queue
//! decides the order (sparse flows first) and, under load, what to drop (CoDel).
//!
//! An idle loop (reading the TUN itself, nothing queued) waits in its own
//! `poll` instead of tokio's reactor, and sends or writes what woke it at
//! once; see [`super::idle_wait`]. For half a second after traffic, that wait
//! also ends every few tens of milliseconds, to keep the loop warm for the
//! next packet; see [`super::keep_warm`].

use std::time::{Duration, Instant, SystemTime};

use super::budget::MAX_BATCH;
use super::control::{Command, Control};
use super::idle_wait;
use super::keep_warm::KeepWarm;
use super::timer::Timer;
use super::tun_path::TunPath;
use super::udp_path::UdpPath;
use super::{RuntimeError, TunnelEvent, TunnelStats};
use crate::config::PublicKey;
use crate::io::fd_wait::Heard;
use crate::io::tun_input::Ready;
use crate::io::udp::PolledReadable;
use crate::node::{Event, HANDSHAKE_INIT_LEN, Node};

/// Receive calls handled per turn before other sources get theirs, so a
/// flood on the socket cannot starve TUN input, timers or commands. One call
/// brings up to `RECV_BUFFERS` GRO buffers (see there for why so few).
const MAX_RECV_CALLS_PER_WAKEUP: usize = 1;

/// See the module docs.
pub(super) struct EventLoop {
    node: Node,
    udp: UdpPath,
    tun: TunPath,
    control: Control,
    keep_warm: KeepWarm,
    /// One moment on both clocks, so reported handshake times do not drift between calls.
    clock_anchor: (Instant, SystemTime),
}

impl EventLoop {
    pub fn new(node: Node, udp: UdpPath, tun: TunPath, control: Control) -> Self {
        Self {
            node,
            udp,
            tun,
            control,
            keep_warm: KeepWarm::new(),
            clock_anchor: (Instant::now(), SystemTime::now()),
        }
    }

    /// Runs until stopped or a fatal error; always leaves a `Stopped` event.
    pub async fn run(mut self) {
        let error = match self.run_until_stopped().await {
            Ok(()) => None,
            Err(e) => {
                tracing::error!(error = %e, "tunnel stopped on error");
                Some(e.to_string())
            }
        };
        // Stop the reader before reporting, so `Stopped` means nothing runs any more.
        let Self { tun, control, .. } = self;
        tun.stop();
        control.finish(TunnelEvent::Stopped { error });
    }

    /// Runs the loop until a stop, which also cancels a wait for socket or
    /// TUN room: a stuck peer or app never keeps `stop()` from returning.
    async fn run_until_stopped(&mut self) -> Result<(), RuntimeError> {
        // Started comes first even when stop() was called right after start.
        self.control.emit(TunnelEvent::Started {
            listen_port: self.udp.local_port(),
        });
        let stopped = self.control.stopped();
        tokio::select! {
            biased;
            () = stopped => Ok(()),
            result = self.run_until_error() => result,
        }
    }

    async fn run_until_error(&mut self) -> Result<(), RuntimeError> {
        self.resolve_unresolved();
        let mut timer = Timer::new();
        let sleep = tokio::time::sleep_until(tokio::time::Instant::now());
        tokio::pin!(sleep);
        // False for one turn after an idle wait found a fd readable that
        // then gave nothing: that turn waits through tokio, so a condition
        // `poll` keeps reporting cannot spin the loop.
        let mut may_wait_idle = true;
        loop {
            self.deliver_pending().await;
            self.forward_events();
            self.tun.take_ready();

            let now = Instant::now();
            // Check the clock before polling the sleep: a due timer runs now.
            if timer.due(self.node.poll_timeout().map(|(at, _)| at), now) {
                self.node.handle_timeout(now, self.udp.queue());
                continue;
            }
            if let Some(at) = timer.rearm() {
                sleep.as_mut().reset(at.into());
            }
            let armed = timer.armed().is_some();
            let has_queued = self.tun.has_queued();

            if may_wait_idle && !has_queued && self.is_idle() {
                let wake_at = [timer.armed(), self.keep_warm.deadline(now)]
                    .into_iter()
                    .flatten()
                    .min();
                let timeout = wake_at.map(|at| at.saturating_duration_since(now));
                may_wait_idle = self.wait_idle(timeout).await?;
                continue;
            }
            may_wait_idle = true;

            // Unbiased: tokio picks among ready branches at random, so a saturated
            // TUN cannot starve UDP receives (the ACKs of the same flows), nor the reverse.
            tokio::select! {
                command = self.control.recv() => match command {
                    None | Some(Command::Stop) => return Ok(()),
                    Some(command) => self.handle_command(command)?,
                },
                ready = self.tun.ready() => {
                    self.keep_warm.traffic(now);
                    let direct = matches!(ready, Ready::Direct);
                    self.tun.take(ready)?;
                    if direct {
                        // Read by the loop: on to encryption and the socket in
                        // this same wakeup (what reading it here is for).
                        self.send_queued().await;
                    }
                },
                ready = self.udp.readable() => {
                    ready?;
                    self.keep_warm.traffic(now);
                    self.receive(None).await?;
                },
                () = &mut sleep, if armed => {
                    timer.fired();
                    self.node.handle_timeout(Instant::now(), self.udp.queue());
                }
                () = std::future::ready(()), if has_queued => self.send_queued().await,
            }
        }
    }

    fn forward_events(&mut self) {
        while let Some(event) = self.node.poll_event() {
            let event = match event {
                Event::HandshakeCompleted { public_key } => {
                    self.follow_sole_peer(true);
                    TunnelEvent::HandshakeCompleted { public_key }
                }
                Event::EndpointChanged {
                    public_key,
                    endpoint,
                } => {
                    self.follow_sole_peer(false);
                    TunnelEvent::EndpointChanged {
                        public_key,
                        endpoint,
                    }
                }
                Event::PeerUnreachable {
                    public_key,
                    unanswered_for,
                } => {
                    // The path under the connected socket may be what broke
                    // (its source address was fixed at connect): sends leave
                    // from the listening socket until a handshake completes
                    // again and connects it afresh.
                    self.udp.follow_peer(None, self.control.protect());
                    // The name may point elsewhere now (a moved server, DNS64 after a switch).
                    self.resolve_host_of(&public_key);
                    TunnelEvent::PeerUnreachable {
                        public_key,
                        unanswered_for,
                    }
                }
                Event::PeerReachable { public_key } => TunnelEvent::PeerReachable { public_key },
            };
            self.control.emit(event);
        }
    }

    /// Sends the GSO queue and writes decrypted packets, waiting as needed;
    /// then lets the node release packets it held for lack of room.
    async fn deliver_pending(&mut self) {
        loop {
            self.udp.flush().await;
            self.tun.flush().await;
            if !self.node.has_pending() {
                return;
            }
            self.node.drain_pending(Instant::now(), self.udp.queue());
            if self.udp.queue().is_empty() {
                return;
            }
        }
    }

    /// Encrypts and sends up to one batch of packets from the flow queue.
    async fn send_queued(&mut self) {
        let need = self.node.max_datagram();
        for _ in 0..MAX_BATCH {
            self.udp.make_room(need).await;
            let now = Instant::now();
            let Some(packet) = self.tun.dequeue(now) else {
                break;
            };
            self.node.handle_tun_packet(packet, now, self.udp.queue());
        }
        self.udp.flush().await;
    }

    /// Whether the loop may wait in its own `poll` (see
    /// [`super::idle_wait`]): it reads the TUN itself, and nothing waits to
    /// be sent, written, released or commanded.
    fn is_idle(&self) -> bool {
        self.tun.direct_fd().is_some()
            && !self.tun.has_output()
            && !self.udp.has_queued()
            && !self.node.has_pending()
            && !self.control.has_commands()
    }

    /// Waits idle until a packet, a datagram, a command or `timeout`, and
    /// handles a packet or datagram at once: a packet is encrypted and sent,
    /// a datagram decrypted, written, and the answer the write brought sent.
    /// Commands and timers are left to the next turn. Returns false when a
    /// fd `poll` called readable gave nothing (see `may_wait_idle`).
    async fn wait_idle(&mut self, timeout: Option<Duration>) -> Result<bool, RuntimeError> {
        let Some(tun_fd) = self.tun.direct_fd() else {
            return Ok(true);
        };
        let woken = match idle_wait::wait(
            tun_fd,
            self.udp.fd(),
            self.udp.peer_fd(),
            self.control.bell(),
            timeout,
        ) {
            Ok(woken) => woken,
            Err(e) => {
                tracing::debug!(error = %e, "idle wait failed; waiting through tokio");
                return Ok(false);
            }
        };
        // Hung up: no sender is left, so the bell reads as ringing forever;
        // the next turn goes through tokio, which sees the channel closed.
        let mut progress = !(woken.bell && self.control.bell().answer() == Heard::HungUp);
        let now = Instant::now();
        let datagram = woken.udp.listening || woken.udp.peer;
        if woken.tun || datagram {
            self.keep_warm.traffic(now);
        }
        if woken.tun_error {
            // Reads once for the fd's error; always an error, so the tunnel stops.
            self.tun.take(Ready::DirectError)?;
        }
        if woken.tun {
            let Self { node, udp, tun, .. } = self;
            let read =
                tun.read_polled(|packet| node.handle_tun_packet(packet, now, udp.queue()))?;
            progress &= read > 0;
            self.udp.flush().await;
        }
        if datagram {
            progress &= self.receive(Some(woken.udp)).await?;
            if self.tun.direct_fd().is_some() && self.tun.has_queued() {
                // The answers the write brought (an echo reply, a TCP ACK).
                self.send_queued().await;
            }
        }
        Ok(progress)
    }

    /// Decrypts what one receive call brings (bounded by the receive
    /// buffers); `polled`: which sockets the loop's own `poll` found
    /// readable (`None`: tokio's reactor did). Returns whether any datagram came.
    async fn receive(&mut self, polled: Option<PolledReadable>) -> Result<bool, RuntimeError> {
        let mut received = false;
        for _ in 0..MAX_RECV_CALLS_PER_WAKEUP {
            let buffers = self.udp.recv(polled);
            if buffers == 0 {
                return Ok(received);
            }
            received = true;
            let now = Instant::now();
            let need_net = self.node.max_datagram();
            for buffer in 0..buffers {
                for datagram in self.udp.datagrams(buffer) {
                    self.tun
                        .make_room(datagram.len().max(HANDSHAKE_INIT_LEN))
                        .await;
                    self.udp.make_room(need_net).await;
                    let (bytes, net) = self.udp.datagram(&datagram);
                    self.node
                        .handle_datagram(datagram.from, bytes, now, net, self.tun.out());
                }
                // Each write runs the kernel's receive path (and makes the
                // ACKs the reader must fetch): keep TUN input flowing between buffers.
                self.tun.flush_and_read_answers().await?;
                self.tun.take_ready();
            }
            self.udp.flush().await;
        }
        Ok(received)
    }

    fn handle_command(&mut self, command: Command) -> Result<(), RuntimeError> {
        match command {
            Command::Stop => {}
            Command::UpdateConfig(config, reply) => {
                self.node.update_config(config, Instant::now());
                let _ = reply.send(Ok(()));
                // The peers, or the sole peer's endpoint, may have changed.
                self.follow_sole_peer(false);
                self.resolve_unresolved();
            }
            Command::SwapTun(fd, reply) => self.tun.swap(fd, reply),
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
                    self.control.resolve(public_key, endpoint);
                }
            }
            Command::Stats(reply) => {
                let _ = reply.send(self.stats());
            }
        }
        Ok(())
    }

    /// Keeps the UDP socket connected to the sole peer's endpoint, or
    /// none with several peers or none known (see [`crate::io::udp`]).
    /// `handshake`: one just completed, the only time a socket is made
    /// (so never before the peer first answered); otherwise (the endpoint
    /// moved, the config changed) one in use is moved, or let go (sends
    /// then leave from the listening socket), so it always points where
    /// the node sends.
    fn follow_sole_peer(&mut self, handshake: bool) {
        if !handshake && self.udp.connected_peer().is_none() {
            return;
        }
        let peer = self.node.sole_peer_endpoint();
        self.udp.follow_peer(peer, self.control.protect());
    }

    /// Looks up every host-name endpoint that has no address yet.
    fn resolve_unresolved(&mut self) {
        for (public_key, endpoint) in self.node.unresolved_peers() {
            self.control.resolve(public_key, endpoint);
        }
    }

    /// Looks up the peer's endpoint again if it is a host name.
    fn resolve_host_of(&mut self, public_key: &PublicKey) {
        if let Some(endpoint) = self.node.configured_endpoint(public_key)
            && endpoint.is_host_name()
        {
            self.control.resolve(*public_key, endpoint.clone());
        }
    }

    fn apply_resolved(&mut self, resolved: super::background_resolve::Resolved) {
        let again = self.control.resolve_finished(&resolved.public_key);
        // The config may have changed while the lookup ran.
        let still_configured =
            self.node.configured_endpoint(&resolved.public_key) == Some(&resolved.endpoint);
        match resolved.result {
            Ok(addr) if still_configured => {
                self.node.set_resolved_endpoint(
                    &resolved.public_key,
                    addr,
                    Instant::now(),
                    self.udp.queue(),
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "peer endpoint lookup failed"),
        }
        if again {
            self.resolve_host_of(&resolved.public_key);
        }
    }

    /// A new socket on the same port, protected again, then fresh handshakes.
    fn rebind(&mut self) -> Result<(), RuntimeError> {
        self.udp.rebind(self.control.protect())?;
        self.node.reconnect(Instant::now(), self.udp.queue());
        tracing::info!(port = self.udp.local_port(), "UDP socket rebound");
        Ok(())
    }

    fn stats(&self) -> TunnelStats {
        let sent = self.udp.sent();
        let received = self.udp.received();
        let mut stats = TunnelStats {
            udp_datagrams_sent: sent.datagrams_sent,
            udp_send_syscalls: sent.send_syscalls,
            udp_datagrams_received: received.datagrams,
            gro_batches: received.gro_batches,
            drops: self.node.drops().clone(),
            peers: self
                .node
                .peer_stats(self.clock_anchor.0, self.clock_anchor.1),
            ..TunnelStats::default()
        };
        stats.drops.udp_send += sent.datagrams_dropped;
        self.tun.add_stats(&mut stats);
        stats
    }
}

//! Wires [`crate::node`] and [`crate::io`] into threads and an event loop.
//!
//! [`Tunnel`] is the handle apps hold: start, stop, reconfigure, network
//! changes, stats and events.
//!
//! Threads: one event-loop thread (a tokio current-thread runtime owning
//! the node, the UDP socket, the timers and the TUN writes, and reading the
//! TUN itself while traffic is light) and one TUN reader (blocking reads,
//! batches handed over a bounded channel) that reads while traffic is
//! heavy; see [`crate::io::tun_input`].

mod background_resolve;
mod budget;
mod control;
mod event_loop;
mod idle_wait;
mod keep_warm;
mod timer;
mod tun_path;
mod udp_path;

use std::net::SocketAddr;
use std::os::fd::{OwnedFd, RawFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use budget::{BUFFER_BUDGET_BYTES, MAX_BATCH};

use crate::io::resolve::{Resolver, SystemResolver};
use crate::node::{Node, NodeOptions};
use control::{Command, CommandSender, Control, ControlHandle, Protect};
use event_loop::EventLoop;
use tun_path::TunPath;
use udp_path::UdpPath;

use crate::config::{PublicKey, TunnelConfig};
pub use crate::io::tun::TunFraming;
pub use crate::node::{DropStats, PeerStats};

/// Called with each UDP socket's fd after it is created and before its
/// first send (Android: `VpnService.protect`): the listening socket at
/// start and after every rebind, and on Linux and Android the socket
/// connected to the tunnel's only peer, made when the first handshake
/// after each of those completes (see [`crate::io::udp`]).
pub trait SocketProtector: Send + Sync + 'static {
    /// Returns `false` when the socket could not be protected; the tunnel then
    /// refuses to use it (for the connected socket: carries on without it).
    fn protect(&self, fd: RawFd) -> bool;
}

/// Options for [`Tunnel::start`] beyond the config and the fd.
#[derive(Clone, Default)]
pub struct TunnelOptions {
    /// Protects the UDP socket from being routed into the tunnel.
    pub protector: Option<Arc<dyn SocketProtector>>,
    /// TUN framing; raw IP unless on Apple utun.
    pub framing: TunFraming,
    /// Resolves host-name endpoints in the background (after start when a
    /// peer has no `resolved_endpoint`, after network changes, and when a
    /// peer stops answering). `None`: the system resolver.
    pub resolver: Option<Arc<dyn Resolver>>,
}

/// Something the app may want to show or react to (Kotlin/Swift:
/// `Tunnel.nextEvent`). Exported as it is; keys are base64 text there.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum TunnelEvent {
    /// The event loop is running and the UDP socket is bound.
    Started {
        /// The UDP port actually bound.
        listen_port: u16,
    },
    /// A handshake with a peer completed (first one and every rekey).
    HandshakeCompleted {
        /// Which peer.
        public_key: PublicKey,
    },
    /// A peer's endpoint moved (roaming) or was learned.
    EndpointChanged {
        /// Which peer.
        public_key: PublicKey,
        /// Its new `address:port`.
        endpoint: SocketAddr,
    },
    /// A peer's handshakes have gone unanswered for 15 s (three WireGuard
    /// handshake timeouts, `PEER_UNREACHABLE_AFTER`): show it as "not
    /// reachable". Host-name endpoints are resolved again in the background.
    /// Reported once per outage.
    PeerUnreachable {
        /// Which peer.
        public_key: PublicKey,
        /// How long since the first unanswered handshake initiation.
        unanswered_for: Duration,
    },
    /// A peer reported unreachable was heard from again.
    PeerReachable {
        /// Which peer.
        public_key: PublicKey,
    },
    /// The tunnel stopped; `error` says why when it was not asked to.
    Stopped {
        /// The failure that stopped it, if any.
        error: Option<String>,
    },
}

/// Counters for the whole tunnel plus each peer. Exported as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, uniffi::Record)]
pub struct TunnelStats {
    /// IP packets read from the TUN.
    pub ip_packets_in: u64,
    /// IP packets written to the TUN.
    pub ip_packets_out: u64,
    /// UDP datagrams sent.
    pub udp_datagrams_sent: u64,
    /// UDP send syscalls made (fewer than datagrams when GSO batches them).
    pub udp_send_syscalls: u64,
    /// UDP datagrams received.
    pub udp_datagrams_received: u64,
    /// UDP receive buffers that held more than one datagram (GRO).
    pub gro_batches: u64,
    /// TUN read batches handed to the event loop.
    pub tun_read_batches: u64,
    /// Drops by reason.
    pub drops: DropStats,
    /// Per-peer counters, in config order.
    pub peers: Vec<PeerStats>,
}

/// Why a tunnel operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The socket protector returned false or failed.
    #[error("the UDP socket could not be protected from the tunnel")]
    ProtectFailed,
    /// An OS call failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The tunnel has stopped.
    #[error("the tunnel is stopped")]
    Stopped,
}

/// A running tunnel. Dropping it stops it.
///
/// None of its methods waits for DNS (host names are looked up on
/// background threads) or for the network. [`Tunnel::update_config`],
/// [`Tunnel::network_changed`], [`Tunnel::swap_tun`] and [`Tunnel::stats`]
/// hand a command to the event loop and wait at most [`COMMAND_TIMEOUT`] for
/// its answer; [`Tunnel::stop`] waits for the loop and TUN reader threads to
/// end; [`Tunnel::next_event`] waits for the next event. The packet path
/// never calls back into the app (the protector runs only when a socket is
/// created).
pub struct Tunnel {
    commands: CommandSender,
    /// Ends the event loop wherever it waits (a TUN write waiting for room
    /// the app never makes), where [`Command::Stop`] waits its turn.
    stop_signal: Arc<tokio::sync::Notify>,
    events: tokio::sync::Mutex<EventStream>,
    loop_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    listen_port: u16,
}

struct EventStream {
    receiver: tokio::sync::mpsc::Receiver<TunnelEvent>,
    final_event: Arc<Mutex<Option<TunnelEvent>>>,
}

/// Longest a [`Tunnel`] method waits for the event loop to answer.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

impl std::fmt::Debug for Tunnel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tunnel")
            .field("listen_port", &self.listen_port)
            .finish_non_exhaustive()
    }
}

fn io_error(context: &'static str) -> impl FnOnce(std::io::Error) -> RuntimeError {
    move |source| RuntimeError::Io { context, source }
}

impl Tunnel {
    /// Starts a tunnel on `tun`, which it now owns (it is closed on failure too).
    ///
    /// Never waits for DNS: a peer uses its `resolved_endpoint` (see
    /// [`crate::io::resolve::resolve_config`]) or literal endpoint; a host
    /// name without one is resolved in the background, and the peer has no
    /// endpoint until then.
    ///
    /// # Errors
    /// Socket or protect failures; nothing keeps running then.
    pub fn start(
        config: TunnelConfig,
        tun: OwnedFd,
        options: TunnelOptions,
    ) -> Result<Tunnel, RuntimeError> {
        let max_packet = usize::from(config.effective_mtu());
        let listen_port = config.listen_port().map_or(0, std::num::NonZeroU16::get);
        let node = Node::new(
            config,
            NodeOptions {
                seed: rand_core::RngCore::next_u64(&mut rand_core::OsRng),
                max_packet,
            },
            Instant::now(),
        );

        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(io_error("starting the event loop"))?;
        let protector = options.protector.clone();
        let protect: Protect = Box::new(move |fd| match &protector {
            Some(p) => p.protect(fd),
            None => true,
        });
        let (udp, tun) = {
            // Both register with the loop's reactor.
            let _guard = runtime.enter();
            let udp = UdpPath::bind(listen_port, &*protect, max_packet)?;
            (udp, TunPath::start(tun, options.framing, max_packet)?)
        };
        let resolver = options
            .resolver
            .clone()
            .unwrap_or_else(|| Arc::new(SystemResolver));
        let (control, handle) =
            Control::new(resolver, protect).map_err(io_error("creating the loop's doorbell"))?;
        let ControlHandle {
            commands,
            stop_signal,
            events,
            final_event,
        } = handle;
        let port = udp.local_port();
        let event_loop = EventLoop::new(node, udp, tun, control);
        let panic_slot = final_event.clone();
        let loop_thread = std::thread::Builder::new()
            .name("ferrotun-loop".into())
            .spawn(move || {
                let run = std::panic::AssertUnwindSafe(|| runtime.block_on(event_loop.run()));
                if std::panic::catch_unwind(run).is_err()
                    && let Ok(mut slot) = panic_slot.lock()
                {
                    // A bug, never network input; still report it instead of vanishing.
                    *slot = Some(TunnelEvent::Stopped {
                        error: Some("internal error: the event loop panicked".into()),
                    });
                }
            })
            .map_err(io_error("starting the event loop thread"))?;

        Ok(Tunnel {
            commands,
            stop_signal,
            events: tokio::sync::Mutex::new(EventStream {
                receiver: events,
                final_event,
            }),
            loop_thread: Mutex::new(Some(loop_thread)),
            listen_port: port,
        })
    }

    /// Stops the tunnel and waits for its threads to end. Idempotent.
    pub fn stop(&self) {
        // A stored permit: the loop sees it even when it is not waiting yet.
        self.stop_signal.notify_one();
        let _ = self.commands.send(Command::Stop);
        let thread = self.loop_thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            tracing::error!("event loop thread panicked");
        }
    }

    fn request<T>(
        &self,
        make: impl FnOnce(std::sync::mpsc::SyncSender<T>) -> Command,
    ) -> Result<T, RuntimeError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.commands.send(make(tx))?;
        rx.recv_timeout(COMMAND_TIMEOUT)
            .map_err(|_| RuntimeError::Stopped)
    }

    /// Applies a new config: peers added, removed or changed; unchanged peers
    /// keep their sessions. The listen port and MTU stay as they were.
    ///
    /// Like [`Tunnel::start`], never waits for DNS.
    ///
    /// # Errors
    /// A stopped tunnel.
    pub fn update_config(&self, config: TunnelConfig) -> Result<(), RuntimeError> {
        self.request(|reply| Command::UpdateConfig(config, reply))?
    }

    /// Rebinds the UDP socket (protecting it again), re-handshakes every
    /// peer and resolves host-name endpoints again in the background. If the
    /// new socket cannot be protected the tunnel stops.
    ///
    /// # Errors
    /// Socket or protect failures, or a stopped tunnel.
    pub fn network_changed(&self) -> Result<(), RuntimeError> {
        self.request(Command::NetworkChanged)?
    }

    /// Moves the tunnel onto a new TUN fd (Android re-establishes the
    /// interface to change routes): the reader and writer switch to `tun`,
    /// sessions and queued packets are kept, and the old fd is closed.
    /// `tun` is owned by the tunnel from here on, also when this fails.
    ///
    /// # Errors
    /// The fd cannot be used (it is closed then; the tunnel keeps the old
    /// one), or a stopped tunnel.
    pub fn swap_tun(&self, tun: OwnedFd) -> Result<(), RuntimeError> {
        self.request(|reply| Command::SwapTun(tun, reply))?
    }

    /// A snapshot of the counters.
    ///
    /// # Errors
    /// A stopped tunnel.
    pub fn stats(&self) -> Result<TunnelStats, RuntimeError> {
        self.request(Command::Stats)
    }

    /// The next event; after the tunnel stopped, the remaining events, then one
    /// `Stopped`, then `None`.
    pub async fn next_event(&self) -> Option<TunnelEvent> {
        let mut stream = self.events.lock().await;
        if let Some(event) = stream.receiver.recv().await {
            return Some(event);
        }
        stream
            .final_event
            .lock()
            .ok()
            .and_then(|mut slot| slot.take())
    }

    /// The UDP port the tunnel was bound to at start.
    pub fn listen_port(&self) -> u16 {
        self.listen_port
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        self.stop();
    }
}

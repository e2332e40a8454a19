//! The control channel between a [`super::Tunnel`] handle and its event loop:
//! commands in, events out, the stop signal, the final `Stopped` event, and
//! the side jobs commands start (background endpoint lookups, protecting a
//! new socket).

use std::os::fd::{OwnedFd, RawFd};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, mpsc};

use super::background_resolve::{BackgroundResolver, Resolved};
use super::{RuntimeError, TunnelEvent, TunnelStats};
use crate::config::{Endpoint, PublicKey, TunnelConfig};
use crate::io::resolve::{DEFAULT_RETRY, Resolver};

/// Events kept for an app that does not read them; older ones are dropped
/// beyond this.
const EVENT_QUEUE: usize = 256;

/// Calls the app's socket protector (or accepts every socket without one).
pub(super) type Protect = Box<dyn Fn(RawFd) -> bool + Send>;

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

/// The handle's end of the control channel.
pub(super) struct ControlHandle {
    pub commands: mpsc::UnboundedSender<Command>,
    /// Ends the event loop wherever it waits; see [`Control::stopped`].
    pub stop_signal: Arc<Notify>,
    pub events: mpsc::Receiver<TunnelEvent>,
    /// Where the loop leaves its `Stopped` event once nothing runs any more.
    pub final_event: Arc<Mutex<Option<TunnelEvent>>>,
}

/// The loop's end of the control channel.
pub(super) struct Control {
    commands: mpsc::UnboundedReceiver<Command>,
    stop_signal: Arc<Notify>,
    events: mpsc::Sender<TunnelEvent>,
    final_event: Arc<Mutex<Option<TunnelEvent>>>,
    resolver: BackgroundResolver,
    protect: Protect,
}

impl Control {
    /// Both ends of a new control channel; host names are looked up with
    /// `resolver`, new sockets protected with `protect`.
    pub fn new(resolver: Arc<dyn Resolver>, protect: Protect) -> (Self, ControlHandle) {
        let (command_tx, commands) = mpsc::unbounded_channel();
        let (events, event_rx) = mpsc::channel(EVENT_QUEUE);
        let stop_signal = Arc::new(Notify::new());
        let final_event = Arc::new(Mutex::new(None));
        let control = Self {
            commands,
            stop_signal: stop_signal.clone(),
            events,
            final_event: final_event.clone(),
            resolver: BackgroundResolver::new(resolver, DEFAULT_RETRY, &command_tx),
            protect,
        };
        let handle = ControlHandle {
            commands: command_tx,
            stop_signal,
            events: event_rx,
            final_event,
        };
        (control, handle)
    }

    /// The next command; `None` once every handle is gone. Cancel-safe.
    pub async fn recv(&mut self) -> Option<Command> {
        self.commands.recv().await
    }

    /// Completes when [`super::Tunnel::stop`] was called, also before this
    /// was first polled (the signal stores a permit).
    pub fn stopped(&self) -> impl Future<Output = ()> + 'static {
        let signal = self.stop_signal.clone();
        async move { signal.notified().await }
    }

    /// Queues an event for the app; dropped when the app lets the queue fill.
    pub fn emit(&self, event: TunnelEvent) {
        if self.events.try_send(event).is_err() {
            tracing::debug!("event queue full; event dropped");
        }
    }

    /// Leaves the final `Stopped` event, for after the queued ones.
    pub fn finish(&self, stopped: TunnelEvent) {
        if let Ok(mut slot) = self.final_event.lock() {
            *slot = Some(stopped);
        }
    }

    /// Starts a background lookup of a peer's host-name endpoint (or queues
    /// one after the lookup in flight). Never blocks.
    pub fn resolve(&mut self, public_key: PublicKey, endpoint: Endpoint) {
        self.resolver.request(public_key, endpoint);
    }

    /// Marks a peer's lookup finished; true when another was asked for meanwhile.
    pub fn resolve_finished(&mut self, public_key: &PublicKey) -> bool {
        self.resolver.finished(public_key)
    }

    /// The app's socket protector.
    pub fn protect(&self) -> &(dyn Fn(RawFd) -> bool + Send) {
        &*self.protect
    }
}

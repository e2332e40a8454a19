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
use crate::io::fd_wait::{self, Bell, Listener};
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

/// Sends commands to the loop and rings its doorbell, so a loop waiting
/// idle (see [`super::idle_wait`]) sees them at once.
#[derive(Clone)]
pub(super) struct CommandSender {
    commands: mpsc::UnboundedSender<Command>,
    bell: Arc<Bell>,
}

impl CommandSender {
    /// Queues `command` for the loop.
    ///
    /// # Errors
    /// [`RuntimeError::Stopped`]: the loop has ended.
    pub fn send(&self, command: Command) -> Result<(), RuntimeError> {
        self.commands
            .send(command)
            .map_err(|_| RuntimeError::Stopped)?;
        // Fails only once the loop is gone; the command is then never read anyway.
        let _ = self.bell.ring();
        Ok(())
    }

    /// A sender that does not keep the channel open (see [`WeakCommandSender`]).
    pub fn downgrade(&self) -> WeakCommandSender {
        WeakCommandSender {
            commands: self.commands.downgrade(),
            bell: self.bell.clone(),
        }
    }
}

/// A [`CommandSender`] that does not keep the loop's channel open: sending
/// fails once every handle is gone.
pub(super) struct WeakCommandSender {
    commands: mpsc::WeakUnboundedSender<Command>,
    bell: Arc<Bell>,
}

impl WeakCommandSender {
    /// A sender again, while the channel is open.
    pub fn upgrade(&self) -> Option<CommandSender> {
        Some(CommandSender {
            commands: self.commands.upgrade()?,
            bell: self.bell.clone(),
        })
    }
}

/// The handle's end of the control channel.
pub(super) struct ControlHandle {
    pub commands: CommandSender,
    /// Ends the event loop wherever it waits; see [`Control::stopped`].
    pub stop_signal: Arc<Notify>,
    pub events: mpsc::Receiver<TunnelEvent>,
    /// Where the loop leaves its `Stopped` event once nothing runs any more.
    pub final_event: Arc<Mutex<Option<TunnelEvent>>>,
}

/// The loop's end of the control channel.
pub(super) struct Control {
    commands: mpsc::UnboundedReceiver<Command>,
    bell: Listener,
    stop_signal: Arc<Notify>,
    events: mpsc::Sender<TunnelEvent>,
    final_event: Arc<Mutex<Option<TunnelEvent>>>,
    resolver: BackgroundResolver,
    protect: Protect,
}

impl Control {
    /// Both ends of a new control channel; host names are looked up with
    /// `resolver`, new sockets protected with `protect`.
    ///
    /// # Errors
    /// The doorbell cannot be made.
    pub fn new(
        resolver: Arc<dyn Resolver>,
        protect: Protect,
    ) -> std::io::Result<(Self, ControlHandle)> {
        let (command_tx, commands) = mpsc::unbounded_channel();
        let (ring, bell) = fd_wait::doorbell()?;
        let command_tx = CommandSender {
            commands: command_tx,
            bell: Arc::new(ring),
        };
        let (events, event_rx) = mpsc::channel(EVENT_QUEUE);
        let stop_signal = Arc::new(Notify::new());
        let final_event = Arc::new(Mutex::new(None));
        let control = Self {
            commands,
            bell,
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
        Ok((control, handle))
    }

    /// Whether commands wait (then the loop does not wait idle).
    pub fn has_commands(&self) -> bool {
        !self.commands.is_empty()
    }

    /// The doorbell every command rings.
    pub fn bell(&self) -> &Listener {
        &self.bell
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

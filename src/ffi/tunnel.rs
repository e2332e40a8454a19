//! The `Tunnel` object and the `SocketProtector` foreign trait. Its stats,
//! events and framing are the runtime's own types, exported as they are.

use std::future::Future;
use std::os::fd::{OwnedFd, RawFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use crate::runtime::{self, TunFraming, TunnelEvent, TunnelStats};

use super::{FerrotunError, TunnelConfig, guard, panic_error};

/// Why a [`SocketProtector`] could not protect a socket. Thrown from the
/// app's implementation; any other exception it throws arrives as `Failed` too.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum ProtectError {
    /// Protection failed.
    #[error("{reason}")]
    Failed {
        /// Why.
        reason: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for ProtectError {
    fn from(value: uniffi::UnexpectedUniFFICallbackError) -> Self {
        // Kotlin sends the whole stack trace; its first line names the exception and message.
        let reason = value
            .reason
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        ProtectError::Failed { reason }
    }
}

/// Implemented by the app to keep the tunnel's own UDP socket out of the
/// tunnel (Android: `VpnService.protect(fd)`).
///
/// Called with each socket's fd after it is created and before its first
/// send, from a Ferrotun thread, never once per packet: the listening socket
/// at `start` and after every rebind (`networkChanged`), and on Android a
/// second socket on the same port, connected to the tunnel's only peer,
/// when the first handshake after each of those completes. Return `true`
/// when protected. Returning `false` or throwing makes `start` /
/// `networkChanged` fail with `FerrotunError::ProtectFailed`; for the
/// connected socket the tunnel just goes on without it. Don't close or keep the fd.
#[uniffi::export(with_foreign)]
pub trait SocketProtector: Send + Sync {
    /// Protects the socket `fd`.
    ///
    /// # Errors
    /// [`ProtectError`] when it could not; the tunnel then refuses the socket.
    fn protect(&self, fd: i32) -> Result<bool, ProtectError>;
}

/// Adapts the foreign protector to the runtime's trait and remembers why the
/// last call failed, so the error the app sees says what its protector did.
struct ProtectorBridge {
    foreign: Arc<dyn SocketProtector>,
    last_failure: Mutex<Option<String>>,
}

impl ProtectorBridge {
    fn take_failure(&self) -> Option<String> {
        self.last_failure
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }

    fn record_failure(&self, reason: String) {
        tracing::warn!(%reason, "socket protection failed");
        *self
            .last_failure
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(reason);
    }
}

impl runtime::SocketProtector for ProtectorBridge {
    fn protect(&self, fd: RawFd) -> bool {
        match catch_unwind(AssertUnwindSafe(|| self.foreign.protect(fd))) {
            Ok(Ok(true)) => true,
            Ok(Ok(false)) => {
                self.record_failure(format!("protect({fd}) returned false"));
                false
            }
            Ok(Err(e)) => {
                self.record_failure(format!("protect({fd}) threw: {e}"));
                false
            }
            Err(_) => {
                self.record_failure(format!("protect({fd}) panicked"));
                false
            }
        }
    }
}

/// A running WireGuard tunnel. Closing/dropping it stops it.
///
/// Calls are cheap and thread-safe. `start`, `stop`, `swapTun` and
/// `networkChanged` may take a few milliseconds (socket setup, joining
/// threads): call them off the main thread. None of them waits for DNS.
#[derive(uniffi::Object)]
pub struct Tunnel {
    inner: runtime::Tunnel,
    protector: Option<Arc<ProtectorBridge>>,
}

impl std::fmt::Debug for Tunnel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tunnel").finish_non_exhaustive()
    }
}

/// Takes ownership of `fd` after checking that it is an open descriptor.
fn own_fd(fd: i32) -> Result<OwnedFd, FerrotunError> {
    // SAFETY: the caller handed its ownership of `fd` to us by contract
    // (`Tunnel.start` and `swapTun` document that they take the fd), so
    // nothing else will use or close it.
    unsafe { crate::io::tun::adopt_fd(fd) }.map_err(|e| FerrotunError::InvalidFd {
        fd,
        reason: if fd < 0 {
            "negative".into()
        } else {
            e.to_string()
        },
    })
}

impl Tunnel {
    fn protect_error(&self, error: runtime::RuntimeError) -> FerrotunError {
        with_protect_reason(error, self.protector.as_deref())
    }
}

fn with_protect_reason(
    error: runtime::RuntimeError,
    protector: Option<&ProtectorBridge>,
) -> FerrotunError {
    match (&error, protector.and_then(ProtectorBridge::take_failure)) {
        (runtime::RuntimeError::ProtectFailed, Some(reason)) => {
            FerrotunError::ProtectFailed { reason }
        }
        _ => error.into(),
    }
}

#[uniffi::export]
impl Tunnel {
    /// Starts a tunnel on the TUN fd `tun_fd`, which the tunnel now owns and
    /// closes when it stops (also when `start` fails; on Android pass
    /// `ParcelFileDescriptor.detachFd()`).
    ///
    /// `protector` is called with the UDP socket before its first send (needed
    /// on Android; pass `null`/`nil` on Apple platforms). `framing` defaults to
    /// raw IP; use `AppleUtun` for a utun fd.
    ///
    /// Never waits for DNS: each peer starts at its `resolvedEndpoint` (from
    /// `resolveEndpoints`, which the app calls before establishing the
    /// interface) or its literal endpoint; a host name without a
    /// `resolvedEndpoint` is resolved in the background and the peer has no
    /// endpoint until then.
    ///
    /// # Errors
    /// Invalid config or fd, socket errors, or
    /// [`FerrotunError::ProtectFailed`]; no thread or socket is left behind then.
    #[uniffi::constructor(default(framing = None))]
    pub fn start(
        config: TunnelConfig,
        tun_fd: i32,
        protector: Option<Arc<dyn SocketProtector>>,
        framing: Option<TunFraming>,
    ) -> Result<Arc<Self>, FerrotunError> {
        // Own the fd first, so that every later failure closes it.
        let tun = own_fd(tun_fd)?;
        guard("Tunnel.start", move || {
            crate::platform::log::init();
            let config = crate::config::TunnelConfig::try_from(config)?;
            let bridge = protector.map(|foreign| {
                Arc::new(ProtectorBridge {
                    foreign,
                    last_failure: Mutex::new(None),
                })
            });
            let options = runtime::TunnelOptions {
                protector: bridge
                    .clone()
                    .map(|b| b as Arc<dyn runtime::SocketProtector>),
                framing: framing.unwrap_or_default(),
                resolver: None,
            };
            let inner = runtime::Tunnel::start(config, tun, options)
                .map_err(|e| with_protect_reason(e, bridge.as_deref()))?;
            tracing::info!(listen_port = inner.listen_port(), "tunnel started");
            Ok(Arc::new(Tunnel {
                inner,
                protector: bridge,
            }))
        })
    }

    /// Stops the tunnel: closes the socket and the TUN fd and joins its
    /// threads. Idempotent. `nextEvent` then returns `Stopped` and after it `null`.
    ///
    /// # Errors
    /// Only [`FerrotunError::Internal`].
    pub fn stop(&self) -> Result<(), FerrotunError> {
        guard("Tunnel.stop", || {
            self.inner.stop();
            Ok(())
        })
    }

    /// Applies a new config: peers added, removed or changed; unchanged peers keep their sessions.
    ///
    /// # Errors
    /// Invalid config, or [`FerrotunError::Stopped`].
    pub fn update_config(&self, config: TunnelConfig) -> Result<(), FerrotunError> {
        guard("Tunnel.updateConfig", || {
            let config = crate::config::TunnelConfig::try_from(config)?;
            Ok(self.inner.update_config(config)?)
        })
    }

    /// Call when the device's network changed (Wi-Fi to cellular, new
    /// default network): rebinds the UDP socket, protects it again and
    /// re-handshakes every peer.
    ///
    /// # Errors
    /// Socket errors, [`FerrotunError::ProtectFailed`], or [`FerrotunError::Stopped`].
    pub fn network_changed(&self) -> Result<(), FerrotunError> {
        guard("Tunnel.networkChanged", || {
            self.inner
                .network_changed()
                .map_err(|e| self.protect_error(e))
        })
    }

    /// Moves the running tunnel onto a new TUN fd, e.g. after Android
    /// re-established the interface with new routes (`VpnService.Builder
    /// .establish()` returns a new fd; pass `detachFd()`). Sessions and
    /// queued packets are kept; the old fd is closed. Framing stays as at
    /// `start`. The tunnel owns `tun_fd` from here on, also when this throws.
    ///
    /// # Errors
    /// [`FerrotunError::InvalidFd`] (not an open fd; the tunnel keeps the
    /// old one), [`FerrotunError::Io`], or [`FerrotunError::Stopped`].
    pub fn swap_tun(&self, tun_fd: i32) -> Result<(), FerrotunError> {
        let tun = own_fd(tun_fd)?;
        guard("Tunnel.swapTun", move || Ok(self.inner.swap_tun(tun)?))
    }

    /// A snapshot of the counters.
    ///
    /// # Errors
    /// [`FerrotunError::Stopped`].
    pub fn stats(&self) -> Result<TunnelStats, FerrotunError> {
        guard("Tunnel.stats", || Ok(self.inner.stats()?))
    }

    /// The UDP port the tunnel is bound to.
    ///
    /// # Errors
    /// Only [`FerrotunError::Internal`].
    pub fn listen_port(&self) -> Result<u16, FerrotunError> {
        guard("Tunnel.listenPort", || Ok(self.inner.listen_port()))
    }

    /// Waits for the next event. After the tunnel stops, returns the
    /// `Stopped` event and then `null` for every later call.
    ///
    /// # Errors
    /// Only [`FerrotunError::Internal`].
    pub async fn next_event(&self) -> Result<Option<TunnelEvent>, FerrotunError> {
        let event = CatchUnwind(Box::pin(self.inner.next_event()))
            .await
            .map_err(|payload| panic_error("Tunnel.nextEvent", &*payload))?;
        Ok(event)
    }
}

/// A future that turns a panic while polling into an `Err` with the panic payload.
struct CatchUnwind<'a, T>(Pin<Box<dyn Future<Output = T> + Send + 'a>>);

impl<T> Future for CatchUnwind<'_, T> {
    type Output = Result<T, Box<dyn std::any::Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::SocketProtector as _;

    #[test]
    fn closed_and_negative_fds_are_refused() {
        assert!(matches!(
            own_fd(-1),
            Err(FerrotunError::InvalidFd { fd: -1, .. })
        ));
        // Far above any fd limit, so no test running in parallel can have it open.
        let closed = i32::MAX - 1;
        assert!(matches!(own_fd(closed), Err(FerrotunError::InvalidFd { fd, .. }) if fd == closed));
    }

    #[test]
    fn catch_unwind_future_reports_panics() {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut ok = CatchUnwind(Box::pin(async { 5 }));
        assert!(matches!(
            Pin::new(&mut ok).poll(&mut cx),
            Poll::Ready(Ok(5))
        ));
        let mut bad = CatchUnwind::<()>(Box::pin(async { panic!("nope") }));
        assert!(matches!(
            Pin::new(&mut bad).poll(&mut cx),
            Poll::Ready(Err(_))
        ));
    }

    struct Refuse;
    impl SocketProtector for Refuse {
        fn protect(&self, _fd: i32) -> Result<bool, ProtectError> {
            Err(ProtectError::Failed {
                reason: "no VPN permission".into(),
            })
        }
    }

    fn config() -> TunnelConfig {
        use crate::config::PrivateKey;
        TunnelConfig {
            private_key: PrivateKey::generate().to_base64(),
            listen_port: None,
            mtu: None,
            addresses: vec!["10.98.0.1/32".into()],
            dns: vec![],
            dns_search: vec![],
            peers: vec![super::super::PeerConfig {
                public_key: PrivateKey::generate().public_key().to_base64(),
                preshared_key: None,
                endpoint: None,
                allowed_ips: vec!["10.98.0.2/32".into()],
                persistent_keepalive: None,
                resolved_endpoint: None,
            }],
        }
    }

    /// A socketpair: the raw fd to give away, and the end the test keeps.
    fn fake_tun() -> (i32, std::os::unix::net::UnixDatagram) {
        use std::os::fd::IntoRawFd as _;
        let (tun, app) = std::os::unix::net::UnixDatagram::pair().unwrap();
        (tun.into_raw_fd(), app)
    }

    #[test]
    fn start_refused_by_the_protector_fails_and_closes_the_fd() {
        let (fd, app) = fake_tun();
        let err = Tunnel::start(config(), fd, Some(Arc::new(Refuse)), None).unwrap_err();
        assert!(
            matches!(&err, FerrotunError::ProtectFailed { reason } if reason.contains("no VPN permission")),
            "{err:?}"
        );
        assert!(app.send(&[0x45; 20]).is_err(), "the TUN fd is still open");
    }

    #[test]
    fn start_with_a_bad_config_closes_the_fd() {
        let (fd, app) = fake_tun();
        let mut bad = config();
        bad.addresses.push("10.0.0.300/32".into());
        let err = Tunnel::start(bad, fd, None, None).unwrap_err();
        assert!(
            matches!(err, FerrotunError::InvalidField { ref field, .. } if field == "addresses[1]")
        );
        assert!(app.send(&[0x45; 20]).is_err(), "the TUN fd is still open");
    }

    #[test]
    fn swap_tun_takes_the_fd_and_refuses_a_closed_one() {
        let (fd, _app) = fake_tun();
        let tunnel = Tunnel::start(config(), fd, None, None).unwrap();
        let err = tunnel.swap_tun(-1).unwrap_err();
        assert!(
            matches!(err, FerrotunError::InvalidFd { fd: -1, .. }),
            "{err:?}"
        );
        let (new_fd, new_app) = fake_tun();
        tunnel.swap_tun(new_fd).unwrap();
        tunnel.stop().unwrap();
        assert!(
            new_app.send(&[0x45; 20]).is_err(),
            "stop closed the swapped-in fd"
        );
        let (late_fd, late_app) = fake_tun();
        assert!(matches!(
            tunnel.swap_tun(late_fd),
            Err(FerrotunError::Stopped)
        ));
        assert!(
            late_app.send(&[0x45; 20]).is_err(),
            "closed also on failure"
        );
    }

    #[test]
    fn a_started_tunnel_stops_and_its_events_end() {
        let (fd, _app) = fake_tun();
        let tunnel = Tunnel::start(config(), fd, None, Some(TunFraming::Raw)).unwrap();
        let port = tunnel.listen_port().unwrap();
        assert_ne!(port, 0);
        assert_eq!(tunnel.stats().unwrap().peers.len(), 1);
        tunnel.stop().unwrap();
        tunnel.stop().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut events = Vec::new();
        while let Some(event) = rt.block_on(tunnel.next_event()).unwrap() {
            events.push(event);
        }
        assert_eq!(
            events.first(),
            Some(&TunnelEvent::Started { listen_port: port })
        );
        assert_eq!(events.last(), Some(&TunnelEvent::Stopped { error: None }));
        assert_eq!(rt.block_on(tunnel.next_event()).unwrap(), None);
        assert!(matches!(tunnel.stats(), Err(FerrotunError::Stopped)));
    }

    #[test]
    fn protect_failures_are_reported_with_the_protectors_reason() {
        let bridge = ProtectorBridge {
            foreign: Arc::new(Refuse),
            last_failure: Mutex::new(None),
        };
        assert!(!bridge.protect(7));
        let err = with_protect_reason(runtime::RuntimeError::ProtectFailed, Some(&bridge));
        assert!(
            err.to_string()
                .contains("protect(7) threw: no VPN permission"),
            "{err}"
        );
        // The reason was consumed; a later failure without one stays generic.
        let err = with_protect_reason(runtime::RuntimeError::ProtectFailed, Some(&bridge));
        assert!(matches!(err, FerrotunError::ProtectFailed { .. }));
    }
}

//! The `Tunnel` object, the `SocketProtector` foreign trait, and the stats
//! and event records.

use std::future::Future;
use std::os::fd::{OwnedFd, RawFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::SystemTime;

use crate::runtime;

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
/// Called with the socket's fd after it is created and before its first send,
/// and again after every rebind (`networkChanged`), from a Ferrotun thread;
/// never on the packet path. Return `true` when protected. Returning `false`
/// or throwing makes `start` / `networkChanged` fail with
/// `FerrotunError::ProtectFailed`. Don't close or keep the fd.
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

/// How IP packets are framed on the TUN fd.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, uniffi::Enum)]
pub enum TunFraming {
    /// One raw IP packet per read/write: Android `VpnService`, Linux TUN, socketpairs.
    #[default]
    Raw,
    /// Apple utun (the fd behind `NEPacketTunnelFlow`): a 4-byte address-family header per packet.
    AppleUtun,
}

impl From<TunFraming> for runtime::TunFraming {
    fn from(value: TunFraming) -> Self {
        match value {
            TunFraming::Raw => runtime::TunFraming::Raw,
            TunFraming::AppleUtun => runtime::TunFraming::AppleUtun,
        }
    }
}

/// Something the app may want to show or react to, from [`Tunnel::next_event`].
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum TunnelEvent {
    /// The tunnel is running and its UDP socket is bound.
    Started {
        /// The UDP port actually bound.
        listen_port: u16,
    },
    /// A handshake with a peer completed (the first one and every rekey).
    HandshakeCompleted {
        /// The peer's public key, base64.
        public_key: String,
    },
    /// A peer's endpoint was learned or moved (roaming).
    EndpointChanged {
        /// The peer's public key, base64.
        public_key: String,
        /// Its new `address:port`.
        endpoint: String,
    },
    /// A peer's handshakes have gone unanswered for 15 s (three WireGuard
    /// handshake timeouts): show it as "not reachable". Host-name endpoints
    /// are resolved again in the background. Reported once per outage.
    PeerUnreachable {
        /// The peer's public key, base64.
        public_key: String,
        /// Seconds since the first unanswered handshake initiation.
        unanswered_secs: u64,
    },
    /// A peer reported unreachable was heard from again.
    PeerReachable {
        /// The peer's public key, base64.
        public_key: String,
    },
    /// The tunnel stopped; `error` says why when nobody asked it to.
    Stopped {
        /// The failure that stopped it, if any.
        error: Option<String>,
    },
}

impl From<runtime::TunnelEvent> for TunnelEvent {
    fn from(value: runtime::TunnelEvent) -> Self {
        match value {
            runtime::TunnelEvent::Started { listen_port } => TunnelEvent::Started { listen_port },
            runtime::TunnelEvent::HandshakeCompleted { public_key } => {
                TunnelEvent::HandshakeCompleted {
                    public_key: public_key.to_base64(),
                }
            }
            runtime::TunnelEvent::EndpointChanged {
                public_key,
                endpoint,
            } => TunnelEvent::EndpointChanged {
                public_key: public_key.to_base64(),
                endpoint: endpoint.to_string(),
            },
            runtime::TunnelEvent::PeerUnreachable {
                public_key,
                unanswered_for,
            } => TunnelEvent::PeerUnreachable {
                public_key: public_key.to_base64(),
                unanswered_secs: unanswered_for.as_secs(),
            },
            runtime::TunnelEvent::PeerReachable { public_key } => TunnelEvent::PeerReachable {
                public_key: public_key.to_base64(),
            },
            runtime::TunnelEvent::Stopped { error } => TunnelEvent::Stopped { error },
        }
    }
}

/// Counters for one peer.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct PeerStats {
    /// The peer's public key, base64.
    pub public_key: String,
    /// Where its packets currently go, `address:port`.
    pub endpoint: Option<String>,
    /// Bytes of IP packets sent to the peer (before encryption).
    pub tx_bytes: u64,
    /// Bytes of IP packets received from the peer (after decryption).
    pub rx_bytes: u64,
    /// IP packets sent to the peer.
    pub tx_packets: u64,
    /// IP packets received from the peer.
    pub rx_packets: u64,
    /// Wall-clock time of the last completed handshake.
    pub last_handshake: Option<SystemTime>,
}

/// Packets dropped, by reason.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct DropStats {
    /// IP packets from the TUN that were not IPv4/IPv6 or were truncated,
    /// and empty datagrams.
    pub malformed_ip: u64,
    /// IP packets from the TUN larger than the config's MTU (the interface's
    /// MTU is set larger), dropped whole.
    pub oversized_tun_packet: u64,
    /// IP packets for a destination no peer's allowed IPs cover.
    pub no_route: u64,
    /// Decrypted packets whose source address is not in the sender's allowed IPs.
    pub source_not_allowed: u64,
    /// Datagrams that are not WireGuard messages, fail authentication, or are replays.
    pub invalid_datagram: u64,
    /// Handshake initiations for a public key that is not a peer.
    pub unknown_peer: u64,
    /// IP packets for a peer with no endpoint yet.
    pub no_endpoint: u64,
    /// Packets that could not be written to the TUN.
    pub tun_write: u64,
    /// Datagrams that could not be sent.
    pub udp_send: u64,
    /// IP packets the tunnel's flow queue dropped under load (CoDel's
    /// congestion signal, or the fattest flow's oldest when full).
    pub queue: u64,
}

/// Counters for the whole tunnel plus each peer.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
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

impl From<runtime::TunnelStats> for TunnelStats {
    fn from(value: runtime::TunnelStats) -> Self {
        let d = value.drops;
        TunnelStats {
            ip_packets_in: value.ip_packets_in,
            ip_packets_out: value.ip_packets_out,
            udp_datagrams_sent: value.udp_datagrams_sent,
            udp_send_syscalls: value.udp_send_syscalls,
            udp_datagrams_received: value.udp_datagrams_received,
            gro_batches: value.gro_batches,
            tun_read_batches: value.tun_read_batches,
            drops: DropStats {
                malformed_ip: d.malformed_ip,
                oversized_tun_packet: d.oversized_tun_packet,
                no_route: d.no_route,
                source_not_allowed: d.source_not_allowed,
                invalid_datagram: d.invalid_datagram,
                unknown_peer: d.unknown_peer,
                no_endpoint: d.no_endpoint,
                tun_write: d.tun_write,
                udp_send: d.udp_send,
                queue: d.queue,
            },
            peers: value
                .peers
                .into_iter()
                .map(|p| PeerStats {
                    public_key: p.public_key.to_base64(),
                    endpoint: p.endpoint.map(|e| e.to_string()),
                    tx_bytes: p.tx_bytes,
                    rx_bytes: p.rx_bytes,
                    tx_packets: p.tx_packets,
                    rx_packets: p.rx_packets,
                    last_handshake: p.last_handshake,
                })
                .collect(),
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
                framing: framing.unwrap_or_default().into(),
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
        guard("Tunnel.stats", || Ok(self.inner.stats()?.into()))
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
        Ok(event.map(TunnelEvent::from))
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

//! Wires [`crate::node`] and [`crate::io`] into threads and an event loop.
//!
//! [`Tunnel`] is the handle apps hold: start, stop, reconfigure, network
//! changes, stats and events. (Bodies being written; the API below is fixed.)

use std::net::SocketAddr;
use std::os::fd::{OwnedFd, RawFd};
use std::sync::Arc;
use std::time::SystemTime;

use crate::config::{ConfigError, PublicKey, TunnelConfig};

/// Called with the UDP socket's fd after it is created and before its first
/// send, and again after every rebind (Android: `VpnService.protect`).
pub trait SocketProtector: Send + Sync + 'static {
    /// Returns `false` when the socket could not be protected; the tunnel then
    /// refuses to use it.
    fn protect(&self, fd: RawFd) -> bool;
}

/// How IP packets are framed on the TUN fd.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TunFraming {
    /// One raw IP packet per read/write (Linux/Android `IFF_TUN|IFF_NO_PI`, socketpairs).
    #[default]
    Raw,
    /// Apple utun: each packet is preceded by a 4-byte address-family header.
    AppleUtun,
}

/// Options for [`Tunnel::start`] beyond the config and the fd.
#[derive(Clone, Default)]
pub struct TunnelOptions {
    /// Protects the UDP socket from being routed into the tunnel.
    pub protector: Option<Arc<dyn SocketProtector>>,
    /// TUN framing; raw IP unless on Apple utun.
    pub framing: TunFraming,
}

/// Something the app may want to show or react to.
#[derive(Clone, Debug, PartialEq, Eq)]
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
        /// Its new address.
        endpoint: SocketAddr,
    },
    /// The tunnel stopped; `error` says why when it was not asked to.
    Stopped {
        /// The failure that stopped it, if any.
        error: Option<String>,
    },
}

/// Counters for one peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerStats {
    /// The peer's public key.
    pub public_key: PublicKey,
    /// Where its packets currently go.
    pub endpoint: Option<SocketAddr>,
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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DropStats {
    /// IP packets from the TUN that were not IPv4/IPv6 or were truncated.
    pub malformed_ip: u64,
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
}

/// Counters for the whole tunnel plus each peer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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
    /// The config is unusable.
    #[error("invalid config: {0}")]
    Config(#[from] ConfigError),
    /// A peer endpoint host name did not resolve.
    #[error("cannot resolve endpoint {host}: {reason}")]
    Resolve {
        /// The host:port text.
        host: String,
        /// The resolver's error.
        reason: String,
    },
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
pub struct Tunnel {
    _private: (),
}

impl Tunnel {
    /// Starts a tunnel on `tun`, which it now owns.
    ///
    /// # Errors
    /// Config, resolve, socket or protect failures; nothing keeps running then.
    pub fn start(
        _config: TunnelConfig,
        _tun: OwnedFd,
        _options: TunnelOptions,
    ) -> Result<Tunnel, RuntimeError> {
        todo!()
    }

    /// Stops the tunnel and joins its threads. Idempotent.
    pub fn stop(&self) {
        todo!()
    }

    /// Applies a new config: peers added, removed or changed; unchanged peers keep their sessions.
    ///
    /// # Errors
    /// Invalid config or a stopped tunnel.
    pub fn update_config(&self, _config: TunnelConfig) -> Result<(), RuntimeError> {
        todo!()
    }

    /// Rebinds the UDP socket (protecting it again) and re-handshakes every peer.
    ///
    /// # Errors
    /// Socket or protect failures, or a stopped tunnel.
    pub fn network_changed(&self) -> Result<(), RuntimeError> {
        todo!()
    }

    /// A snapshot of the counters.
    ///
    /// # Errors
    /// A stopped tunnel.
    pub fn stats(&self) -> Result<TunnelStats, RuntimeError> {
        todo!()
    }

    /// The next event; `None` once the tunnel has stopped and every event was taken.
    pub async fn next_event(&self) -> Option<TunnelEvent> {
        todo!()
    }

    /// The UDP port the tunnel is bound to.
    pub fn listen_port(&self) -> u16 {
        todo!()
    }
}

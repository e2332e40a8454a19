//! The UDP socket: quinn-udp for GSO sends and GRO/recvmmsg receives, the
//! protect hook, and rebinding after a network change.

use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, RawFd};

use quinn_udp::{RecvMeta, UdpSocketState};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;

use crate::gso::Transmit;

/// Socket buffer sizes we ask for: deep enough to absorb a full GSO flush and
/// a burst of GRO receives. The kernel may grant less (see `net.core.*mem_max`).
const SOCKET_BUFFER_BYTES: usize = 4 << 20;

/// The error inside the `io::Error` that [`UdpIo::bind`] returns when the
/// protector refuses the socket.
#[derive(Debug, thiserror::Error)]
#[error("the socket protector refused the UDP socket")]
pub struct ProtectRefused;

/// Whether `e` says the protector refused the socket.
pub fn is_protect_refusal(e: &io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.is::<ProtectRefused>())
}

/// A bound, protected UDP socket registered with the event loop's reactor.
#[derive(Debug)]
pub struct UdpIo {
    socket: tokio::net::UdpSocket,
    state: UdpSocketState,
    /// See [`Self::max_gso_segments`].
    max_gso_segments: usize,
    /// Dual-stack IPv6 socket: IPv4 destinations are written as v4-mapped.
    ipv6: bool,
}

impl UdpIo {
    /// Binds to `port` (0: any) on all addresses, dual-stack when the host has
    /// IPv6, and calls `protect` with the fd before anything is sent.
    /// Must run inside the tokio runtime that will drive it.
    ///
    /// # Errors
    /// Socket errors, or `PermissionDenied` when `protect` returns `false`.
    pub fn bind(port: u16, protect: &dyn Fn(RawFd) -> bool) -> io::Result<Self> {
        let (socket, ipv6) = match bind_socket(Domain::IPV6, port) {
            Ok(s) => (s, true),
            Err(e) => {
                tracing::debug!(error = %e, "no IPv6 socket; using IPv4 only");
                (bind_socket(Domain::IPV4, port)?, false)
            }
        };
        if !protect(socket.as_raw_fd()) {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                ProtectRefused,
            ));
        }
        let state = UdpSocketState::new((&socket).into())?;
        // Best effort: a smaller buffer costs throughput, not correctness.
        let _ = state.set_send_buffer_size((&socket).into(), SOCKET_BUFFER_BYTES);
        let _ = state.set_recv_buffer_size((&socket).into(), SOCKET_BUFFER_BYTES);
        let max_gso_segments = state.max_gso_segments();
        let socket = tokio::net::UdpSocket::from_std(std::net::UdpSocket::from(socket))?;
        Ok(Self {
            socket,
            state,
            max_gso_segments,
            ipv6,
        })
    }

    /// The bound port.
    pub fn local_port(&self) -> u16 {
        self.socket.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The socket's fd (for the protector after a rebind, and for tests).
    pub fn raw_fd(&self) -> RawFd {
        self.socket.as_fd().as_raw_fd()
    }

    /// How many datagrams one send may carry (1 without GSO), as the kernel
    /// said when the socket was created. quinn-udp lowers its own copy to 1
    /// for good after one EIO/EINVAL; that copy is not read: the GSO queue
    /// alone handles refusals at runtime (see [`crate::gso::GsoQueue::reset`]).
    pub fn max_gso_segments(&self) -> usize {
        self.max_gso_segments
    }

    /// Most datagrams the kernel may coalesce into one receive buffer.
    pub fn gro_segments(&self) -> usize {
        self.state.gro_segments()
    }

    /// Sends one transmit without waiting; `WouldBlock` when the socket is full.
    ///
    /// # Errors
    /// The send's OS error.
    pub fn try_send(&self, transmit: &Transmit<'_>) -> io::Result<()> {
        let destination = self.map_destination(transmit.destination);
        let t = quinn_udp::Transmit {
            destination,
            ecn: None,
            contents: transmit.contents,
            segment_size: transmit.segment_size,
            src_ip: None,
        };
        self.socket.try_io(Interest::WRITABLE, || {
            self.state.try_send((&self.socket).into(), &t)
        })
    }

    /// Waits until the socket can take more.
    ///
    /// # Errors
    /// Reactor errors.
    pub async fn writable(&self) -> io::Result<()> {
        self.socket.writable().await
    }

    /// Waits until datagrams may be waiting.
    ///
    /// # Errors
    /// Reactor errors.
    pub async fn readable(&self) -> io::Result<()> {
        self.socket.readable().await
    }

    /// Receives into several buffers with one syscall; returns how many were
    /// filled. Each buffer may hold several datagrams (GRO): split by `stride`.
    /// Source addresses come back in canonical form (no v4-mapped IPv6).
    ///
    /// # Errors
    /// `WouldBlock` when nothing is waiting, or the OS error.
    pub fn try_recv(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> io::Result<usize> {
        let n = self.socket.try_io(Interest::READABLE, || {
            self.state.recv((&self.socket).into(), bufs, meta)
        })?;
        for m in &mut meta[..n] {
            m.addr = SocketAddr::new(m.addr.ip().to_canonical(), m.addr.port());
        }
        Ok(n)
    }

    fn map_destination(&self, addr: SocketAddr) -> SocketAddr {
        match (self.ipv6, addr.ip()) {
            (true, IpAddr::V4(v4)) => SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), addr.port()),
            _ => addr,
        }
    }
}

fn bind_socket(domain: Domain, port: u16) -> io::Result<Socket> {
    let socket = Socket::new(domain, Type::DGRAM.cloexec(), Some(Protocol::UDP))?;
    let addr: SocketAddr = if domain == Domain::IPV6 {
        socket.set_only_v6(false)?;
        (Ipv6Addr::UNSPECIFIED, port).into()
    } else {
        (std::net::Ipv4Addr::UNSPECIFIED, port).into()
    };
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

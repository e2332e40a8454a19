//! The UDP socket: quinn-udp for GSO sends and GRO/recvmmsg receives, the
//! protect hook, and rebinding after a network change.
//!
//! The socket is registered with tokio for readability only. Registered for
//! writability too, every datagram sent would wake the loop once more: the
//! kernel signals "writable" (an EPOLLOUT edge) each time a sent buffer is
//! freed, which on most paths is during the send itself. The loop waits
//! for room only when a send finds the socket full, and then registers a
//! duplicate of the fd for writability just for that wait ([`UdpIo::writable`]).
#![allow(unsafe_code)] // registering the fd with tokio; the SAFETY notes say why it is sound

use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use quinn_udp::{RecvMeta, UdpSocketState};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::gso::Transmit;

/// Socket buffer sizes we ask for: deep enough to absorb a full GSO flush and
/// a burst of GRO receives. The kernel may grant less (see `net.core.*mem_max`).
const SOCKET_BUFFER_BYTES: usize = 4 << 20;

/// Whether a receive that filled fewer buffers than offered means the
/// socket's queue was empty: true where quinn-udp receives with `recvmmsg`
/// (Linux, Android), which, after the first datagram, stops only when the
/// next one would block (up to quinn-udp's batch of 32, far above the
/// buffers the loop offers). Elsewhere quinn-udp may receive one datagram
/// per call whatever is queued.
const RECVMMSG_STOPS_WHEN_EMPTY: bool = cfg!(any(target_os = "linux", target_os = "android"));

/// Most datagrams quinn-udp 0.6 asks `recvmmsg` for in one call (its
/// private `BATCH_SIZE`): a call that returns this many says nothing about
/// what is left.
const QUINN_RECV_BATCH: usize = 32;

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
    socket: AsyncFd<std::net::UdpSocket>,
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
        let socket = register(std::net::UdpSocket::from(socket), Interest::READABLE)?;
        Ok(Self {
            socket,
            state,
            max_gso_segments,
            ipv6,
        })
    }

    /// The bound port.
    pub fn local_port(&self) -> u16 {
        self.socket
            .get_ref()
            .local_addr()
            .map(|a| a.port())
            .unwrap_or(0)
    }

    /// The socket's fd (for the protector after a rebind, and for tests).
    pub fn raw_fd(&self) -> RawFd {
        self.socket.as_fd().as_raw_fd()
    }

    /// The socket's fd, for the event loop's own `poll` while idle.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
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
        // Non-blocking: a full socket answers WouldBlock, and the caller waits with `writable`.
        self.state.try_send(self.socket.get_ref().into(), &t)
    }

    /// Waits until the socket can take more, after a send found it full:
    /// registers a duplicate of the fd for writability for the wait only
    /// (see the module docs), which reports at once if there is room now.
    ///
    /// # Errors
    /// Duplicating or registering the fd, or reactor errors.
    pub async fn writable(&self) -> io::Result<()> {
        let dup = self.socket.get_ref().try_clone()?;
        let fd = register(dup, Interest::WRITABLE)?;
        fd.writable().await.map(drop)
    }

    /// Waits until datagrams may be waiting.
    ///
    /// # Errors
    /// Reactor errors.
    pub async fn readable(&self) -> io::Result<()> {
        self.socket.readable().await.map(drop)
    }

    /// Like [`Self::try_recv`], but after the caller's own `poll` found the
    /// socket readable: receives without asking tokio, which has not seen it.
    ///
    /// # Errors
    /// As [`Self::try_recv`].
    pub fn recv_polled(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> io::Result<usize> {
        let n = self.state.recv(self.socket.get_ref().into(), bufs, meta)?;
        canonical_sources(&mut meta[..n]);
        Ok(n)
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
        let asked = bufs.len().min(meta.len()).min(QUINN_RECV_BATCH);
        let mut received = 0;
        let result = self.socket.try_io(Interest::READABLE, |socket| {
            let n = self.state.recv(socket.into(), bufs, meta)?;
            received = n;
            if n > 0 && n < asked && RECVMMSG_STOPS_WHEN_EMPTY {
                // Fewer than asked: the queue was empty. Saying WouldBlock
                // clears the readiness now, so the loop does not find that
                // out from one more (empty) call. A datagram arriving from
                // here on is a new edge that epoll reports.
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(n)
        });
        let n = match result {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && received > 0 => received,
            other => other?,
        };
        canonical_sources(&mut meta[..n]);
        Ok(n)
    }

    fn map_destination(&self, addr: SocketAddr) -> SocketAddr {
        match (self.ipv6, addr.ip()) {
            (true, IpAddr::V4(v4)) => SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), addr.port()),
            _ => addr,
        }
    }
}

/// Source addresses as IPv4 where a dual-stack socket reports them v4-mapped.
fn canonical_sources(meta: &mut [RecvMeta]) {
    for m in meta {
        m.addr = SocketAddr::new(m.addr.ip().to_canonical(), m.addr.port());
    }
}

/// Registers `socket` with the current tokio runtime for `interest`.
fn register(
    socket: std::net::UdpSocket,
    interest: Interest,
) -> io::Result<AsyncFd<std::net::UdpSocket>> {
    // SAFETY: the socket owns a valid open fd, and it stays inside the
    // `AsyncFd` (never replaced or closed) until the `AsyncFd` drops.
    unsafe { AsyncFd::register_with_interest(socket, interest) }.map_err(io::Error::from)
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

//! One UDP socket of the tunnel, registered with the event loop's reactor:
//! quinn-udp for GSO sends and GRO/`recvmmsg` receives, plain `sendto` and
//! `recvmsg` for lone datagrams (see [`LEAN_SINGLES`]), and the socket
//! options set once at creation. [`super::udp::UdpIo`] decides which socket
//! (listening or connected to the peer) carries what.
#![allow(unsafe_code)] // registering the fd with tokio, recvmsg and setsockopt; the SAFETY notes say why each is sound

use std::cell::Cell;
use std::io::{self, IoSliceMut};
use std::net::{Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::task::{Context, Poll, Waker};

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

/// A bound UDP socket, registered with the current tokio runtime for
/// readability (see [`super::udp`] for why not writability), and, once
/// [`Self::connect`]ed, tied to one remote address.
#[derive(Debug)]
pub(super) struct UdpSocketIo {
    socket: AsyncFd<std::net::UdpSocket>,
    state: UdpSocketState,
    /// Set by `connect`: lone datagrams to it go out with plain `send`,
    /// which reuses the route the kernel cached at `connect`.
    connected_to: Cell<Option<SocketAddr>>,
}

impl UdpSocketIo {
    /// Binds a socket of `domain` to `port` (0: any) on the unspecified
    /// address, dual-stack for IPv6 unless `v6_only`, with `SO_REUSEPORT`
    /// when `reuse_port` (to share a port; see [`Self::set_reuse_port`]),
    /// and calls `protect` with its fd before it is used. Must run inside a
    /// tokio runtime.
    ///
    /// # Errors
    /// Socket errors, or `PermissionDenied` wrapping [`super::udp::ProtectRefused`].
    pub fn bind(
        domain: Domain,
        v6_only: bool,
        port: u16,
        reuse_port: bool,
        protect: &dyn Fn(std::os::fd::RawFd) -> bool,
    ) -> io::Result<Self> {
        let socket = bind_socket(domain, v6_only, port, reuse_port)?;
        if !protect(socket.as_raw_fd()) {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                super::udp::ProtectRefused,
            ));
        }
        let state = UdpSocketState::new((&socket).into())?;
        stop_unread_metadata(&socket, domain == Domain::IPV6);
        // Best effort: a smaller buffer costs throughput, not correctness.
        let _ = state.set_send_buffer_size((&socket).into(), SOCKET_BUFFER_BYTES);
        let _ = state.set_recv_buffer_size((&socket).into(), SOCKET_BUFFER_BYTES);
        let socket = register(std::net::UdpSocket::from(socket), Interest::READABLE)?;
        Ok(Self {
            socket,
            state,
            connected_to: Cell::new(None),
        })
    }

    /// Ties the socket to `peer`: the kernel then hands it only `peer`'s
    /// datagrams, found without a route lookup (early demultiplexing).
    ///
    /// # Errors
    /// The `connect` error (e.g. no route to `peer`).
    pub fn connect(&self, peer: SocketAddr) -> io::Result<()> {
        self.socket.get_ref().connect(peer)?;
        self.connected_to.set(Some(peer));
        Ok(())
    }

    /// Ties a connected socket to `peer` afresh: first undoes the old
    /// `connect` (which also forgets the source address it fixed, so the
    /// new one picks its route and source anew), then connects. What the
    /// socket has queued stays queued; for the moment in between it is an
    /// unconnected socket on the port and may be handed anyone's datagram,
    /// which its reader takes like any other.
    ///
    /// # Errors
    /// Either call's error; after one the socket is not connected.
    pub fn reconnect(&self, peer: SocketAddr) -> io::Result<()> {
        self.connected_to.set(None);
        // SAFETY: all-zero is a valid `sockaddr`; AF_UNSPEC asks `connect`
        // to dissolve the association. The fd is open (owned by `socket`)
        // and the pointer and length describe the local `unspec`.
        let rc = unsafe {
            let mut unspec: libc::sockaddr = std::mem::zeroed();
            unspec.sa_family = libc::AF_UNSPEC as libc::sa_family_t;
            libc::connect(
                self.socket.as_raw_fd(),
                &raw const unspec,
                size_of::<libc::sockaddr>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        self.connect(peer)
    }

    /// Sets or clears `SO_REUSEPORT`, which a socket binding an already
    /// bound port needs on both sockets at the moment it binds (see
    /// [`super::udp::UdpIo::follow_peer`] for why only for that moment).
    ///
    /// # Errors
    /// The `setsockopt` error.
    pub fn set_reuse_port(&self, on: bool) -> io::Result<()> {
        set_reuse_port(&socket2::SockRef::from(self.socket.get_ref()), on)
    }

    /// The bound port (0 if the socket cannot say).
    pub fn local_port(&self) -> u16 {
        self.socket
            .get_ref()
            .local_addr()
            .map(|a| a.port())
            .unwrap_or(0)
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    /// See [`super::udp::UdpIo::max_gso_segments`].
    pub fn max_gso_segments(&self) -> usize {
        self.state.max_gso_segments()
    }

    pub fn gro_segments(&self) -> usize {
        self.state.gro_segments()
    }

    /// Sends `transmit`'s datagrams to `destination` (already in the
    /// socket's address family) without waiting.
    ///
    /// # Errors
    /// `WouldBlock` when the socket is full, or the OS error.
    pub fn try_send(&self, transmit: &Transmit<'_>, destination: SocketAddr) -> io::Result<()> {
        if LEAN_SINGLES && transmit.segment_size.is_none() {
            let socket = self.socket.get_ref();
            if self.connected_to.get() == Some(destination) {
                return retry_interrupted(|| socket.send(transmit.contents));
            }
            return retry_interrupted(|| socket.send_to(transmit.contents, destination));
        }
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
    /// registers a duplicate of the fd for writability for the wait only,
    /// which reports at once if there is room now.
    ///
    /// # Errors
    /// Duplicating or registering the fd, or reactor errors.
    pub async fn writable(&self) -> io::Result<()> {
        let dup = self.socket.get_ref().try_clone()?;
        let fd = register(dup, Interest::WRITABLE)?;
        fd.writable().await.map(drop)
    }

    /// Waits until datagrams may be waiting. Cancel-safe.
    ///
    /// # Errors
    /// Reactor errors.
    pub async fn readable(&self) -> io::Result<()> {
        self.socket.readable().await.map(drop)
    }

    /// Whether the reactor has seen the socket readable since its last
    /// `WouldBlock`, asked without waiting (and without a syscall).
    pub fn seems_readable(&self) -> bool {
        // A no-op waker: this asks, it does not wait. `poll_read_ready`
        // keeps its own waker slot, apart from `readable()`'s waiters.
        let mut cx = Context::from_waker(Waker::noop());
        matches!(self.socket.poll_read_ready(&mut cx), Poll::Ready(_))
    }

    /// See [`super::udp::UdpIo::recv_polled`].
    pub fn recv_polled(&self, buf: &mut [u8]) -> io::Result<RecvMeta> {
        let mut meta = if LEAN_SINGLES {
            recv_one(self.socket.get_ref(), buf)?
        } else {
            let mut meta = [RecvMeta::default()];
            self.state.recv(
                self.socket.get_ref().into(),
                &mut [IoSliceMut::new(buf)],
                &mut meta,
            )?;
            meta[0]
        };
        canonical_sources(std::slice::from_mut(&mut meta));
        Ok(meta)
    }

    /// See [`super::udp::UdpIo::try_recv`].
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
}

/// Runs a send until no signal interrupts it.
fn retry_interrupted(mut send: impl FnMut() -> io::Result<usize>) -> io::Result<()> {
    loop {
        match send() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            result => return result.map(drop),
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

/// Whether lone datagrams bypass quinn-udp: sent with `sendto`, and the
/// one that wakes an idle loop received with one `recvmsg` (`send`/`sendto`,
/// [`recv_one`]). quinn-udp's calls are built for batches: each send
/// carries a control message and each receive sets up its whole batch of
/// 32 message headers (a 9 KiB stack frame, 2 KiB of it zeroed) for one
/// datagram. After a long idle that is cold memory on the round trip's
/// path: without it an idle round trip (pings 50 ms apart) took 8.5 and
/// 13.5 µs less in two `bench/idle.py` comparisons (median per-run
/// differences over 10 and 16 runs). Bulk traffic (GSO sends, batched
/// receives) still goes through quinn-udp.
const LEAN_SINGLES: bool = cfg!(any(target_os = "linux", target_os = "android"));

/// Receives one datagram, or one GRO batch, with `recvmsg` into `buf`. The
/// only control message asked for is UDP_GRO's segment size (the metadata
/// quinn-udp turned on is off again: see [`UNREAD_METADATA`]), which the
/// kernel sends only with a batch of several datagrams.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn recv_one(socket: &std::net::UdpSocket, buf: &mut [u8]) -> io::Result<RecvMeta> {
    let mut name = socket2::SockAddrStorage::zeroed();
    // Aligned for `cmsghdr`; room for several small messages, if an option
    // is on after all (a message that does not fit is cut, never overrun).
    let mut control = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: all-zero is a valid `msghdr` (null pointers, zero lengths).
    let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
    hdr.msg_name = (&raw mut name).cast();
    hdr.msg_namelen = name.size_of();
    hdr.msg_iov = &raw mut iov;
    hdr.msg_iovlen = 1;
    hdr.msg_control = control.as_mut_ptr().cast();
    hdr.msg_controllen = size_of_val(&control) as _;
    let len = loop {
        // SAFETY: every pointer in `hdr` points at a live local or at `buf`,
        // with the lengths of those; the kernel writes within them.
        let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &raw mut hdr, 0) };
        if let Ok(n) = usize::try_from(n) {
            break n;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    let mut stride = len;
    // SAFETY: `hdr` is the header the kernel just filled: its control
    // pointer and length describe `control`, which outlives the walk, and
    // the CMSG functions stay within them.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&raw const hdr);
        while let Some(c) = cmsg.as_ref() {
            if c.cmsg_level == libc::SOL_UDP && c.cmsg_type == libc::UDP_GRO {
                let size = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>());
                stride = usize::try_from(size).unwrap_or(len).max(1);
            }
            cmsg = libc::CMSG_NXTHDR(&raw const hdr, cmsg);
        }
    }
    // SAFETY: the kernel wrote a socket address of `msg_namelen` bytes
    // into `name` (zeroed before, so any unwritten rest is zeros).
    let addr = unsafe { socket2::SockAddr::new(name, hdr.msg_namelen) };
    let mut meta = RecvMeta::default();
    meta.addr = addr.as_socket().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidData, "datagram from a non-IP address")
    })?;
    meta.len = len;
    meta.stride = stride;
    Ok(meta)
}

/// Never called where [`LEAN_SINGLES`] is false.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn recv_one(_socket: &std::net::UdpSocket, _buf: &mut [u8]) -> io::Result<RecvMeta> {
    Err(io::ErrorKind::Unsupported.into())
}

/// Per-datagram metadata quinn-udp asks the kernel for that the tunnel never
/// reads, as `(level, option)`: the time each datagram arrived, its TOS/ECN
/// byte and the address it was sent to. Each costs the kernel a control
/// message per receive, and `SO_TIMESTAMPNS` also switches on timestamping
/// of every packet the host receives, on every interface, for as long as
/// the socket lives.
#[cfg(any(target_os = "linux", target_os = "android"))]
const UNREAD_METADATA: [(libc::c_int, libc::c_int); 5] = [
    (libc::SOL_SOCKET, libc::SO_TIMESTAMPNS),
    (libc::IPPROTO_IP, libc::IP_RECVTOS),
    (libc::IPPROTO_IP, libc::IP_PKTINFO),
    (libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO),
    (libc::IPPROTO_IPV6, libc::IPV6_RECVTCLASS),
];

/// Turns off [`UNREAD_METADATA`] after quinn-udp turned it on. Best effort:
/// an option left on costs a little work per datagram, nothing else.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn stop_unread_metadata(socket: &Socket, ipv6: bool) {
    for (level, option) in UNREAD_METADATA {
        if level == libc::IPPROTO_IPV6 && !ipv6 {
            continue;
        }
        let off: libc::c_int = 0;
        // SAFETY: the fd is open (owned by `socket`), and the value pointer
        // and length describe a live `c_int`, as these options take.
        let _ = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                level,
                option,
                (&raw const off).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
    }
}

/// Other platforms: quinn-udp's options differ there; left as they are.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn stop_unread_metadata(_socket: &Socket, _ipv6: bool) {}

fn bind_socket(domain: Domain, v6_only: bool, port: u16, reuse_port: bool) -> io::Result<Socket> {
    let socket = Socket::new(domain, Type::DGRAM.cloexec(), Some(Protocol::UDP))?;
    let addr: SocketAddr = if domain == Domain::IPV6 {
        socket.set_only_v6(v6_only)?;
        (Ipv6Addr::UNSPECIFIED, port).into()
    } else {
        (std::net::Ipv4Addr::UNSPECIFIED, port).into()
    };
    if reuse_port {
        set_reuse_port(&socket, true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

#[cfg(unix)]
fn set_reuse_port(socket: &Socket, on: bool) -> io::Result<()> {
    socket.set_reuse_port(on)
}

#[cfg(not(unix))]
fn set_reuse_port(_socket: &Socket, _on: bool) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::*;

    fn option(fd: std::os::fd::RawFd, level: libc::c_int, option: libc::c_int) -> libc::c_int {
        let mut value: libc::c_int = -1;
        let mut len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `fd` is open for the call; pointer and length describe `value`.
        let rc =
            unsafe { libc::getsockopt(fd, level, option, (&raw mut value).cast(), &raw mut len) };
        assert_eq!(
            rc,
            0,
            "getsockopt({level}, {option}): {}",
            io::Error::last_os_error()
        );
        value
    }

    #[tokio::test]
    async fn asks_the_kernel_for_no_metadata_it_never_reads_and_keeps_gro() {
        let udp = UdpSocketIo::bind(Domain::IPV6, false, 0, false, &|_| true).unwrap();
        let fd = udp.fd().as_raw_fd();
        let mut checked = 0;
        for (level, name) in UNREAD_METADATA {
            assert_eq!(
                option(fd, level, name),
                0,
                "option ({level}, {name}) is still on"
            );
            checked += 1;
        }
        assert!(checked >= 3, "only {checked} options checked");
        assert_eq!(
            option(fd, libc::SOL_UDP, libc::UDP_GRO),
            1,
            "GRO must stay on"
        );
    }
}

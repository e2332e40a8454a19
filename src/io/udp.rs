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
        stop_unread_metadata(&socket, ipv6);
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
        if LEAN_SINGLES && transmit.segment_size.is_none() {
            return send_one(self.socket.get_ref(), transmit.contents, destination);
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

    /// Receives one datagram, or one GRO batch of them, into `buf` after
    /// the caller's own `poll` found the socket readable (so without asking
    /// tokio, which has not seen it). For the datagram that woke an idle
    /// loop: on Linux and Android with one plain `recvmsg` (see
    /// `LEAN_SINGLES` in this module); elsewhere through quinn-udp.
    ///
    /// # Errors
    /// `WouldBlock` when nothing is waiting, or the OS error.
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

/// Whether lone datagrams bypass quinn-udp: sent with `sendto`, and the
/// one that wakes an idle loop received with one `recvmsg` ([`send_one`],
/// [`recv_one`]). quinn-udp's calls are built for batches: each send
/// carries a control message and each receive sets up its whole batch of
/// 32 message headers (a 9 KiB stack frame, 2 KiB of it zeroed) for one
/// datagram. After a long idle that is cold memory on the round trip's
/// path: without it an idle round trip (pings 50 ms apart) took 8.5 and
/// 13.5 µs less in two `bench/idle.py` comparisons (median per-run
/// differences over 10 and 16 runs). Bulk traffic (GSO sends, batched
/// receives) still goes through quinn-udp.
const LEAN_SINGLES: bool = cfg!(any(target_os = "linux", target_os = "android"));

/// Sends one datagram with `sendto`, retrying when a signal interrupts it.
fn send_one(socket: &std::net::UdpSocket, datagram: &[u8], to: SocketAddr) -> io::Result<()> {
    loop {
        match socket.send_to(datagram, to) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            result => return result.map(drop),
        }
    }
}

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

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::*;

    fn option(fd: RawFd, level: libc::c_int, option: libc::c_int) -> libc::c_int {
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
        let udp = UdpIo::bind(0, &|_| true).unwrap();
        let fd = udp.raw_fd();
        let mut checked = 0;
        for (level, name) in UNREAD_METADATA {
            if level == libc::IPPROTO_IPV6 && !udp.ipv6 {
                continue;
            }
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

    fn loopback_to(udp: &UdpIo) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], udp.local_port()))
    }

    #[tokio::test]
    async fn a_lone_datagram_goes_out_and_comes_in_whole_with_its_source() {
        let (a, b) = (
            UdpIo::bind(0, &|_| true).unwrap(),
            UdpIo::bind(0, &|_| true).unwrap(),
        );
        let t = Transmit {
            destination: loopback_to(&b),
            contents: b"one datagram",
            segment_size: None,
        };
        a.try_send(&t).unwrap();
        b.readable().await.unwrap();
        let mut buf = [0u8; 2048];
        let meta = b.recv_polled(&mut buf).unwrap();
        assert_eq!(&buf[..meta.len], b"one datagram");
        assert_eq!(meta.stride, meta.len);
        // Canonical IPv4, not v4-mapped, from a dual-stack socket.
        assert_eq!(meta.addr, loopback_to(&a));
        let empty = b.recv_polled(&mut buf).unwrap_err();
        assert_eq!(empty.kind(), io::ErrorKind::WouldBlock);
    }

    #[tokio::test]
    async fn a_polled_receive_of_a_gro_batch_reports_its_segment_size() {
        let (a, b) = (
            UdpIo::bind(0, &|_| true).unwrap(),
            UdpIo::bind(0, &|_| true).unwrap(),
        );
        assert!(
            a.max_gso_segments() >= 3,
            "this test needs UDP GSO (Linux 4.18+)"
        );
        // Three datagrams of 100 bytes in one GSO send: loopback hands the
        // batch on whole to a socket with UDP_GRO on.
        let contents: Vec<u8> = (0..300u16).map(|i| (i / 100) as u8).collect();
        let t = Transmit {
            destination: loopback_to(&b),
            contents: &contents,
            segment_size: Some(100),
        };
        a.try_send(&t).unwrap();
        b.readable().await.unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let meta = b.recv_polled(&mut buf).unwrap();
        assert_eq!((meta.len, meta.stride), (300, 100));
        assert_eq!(&buf[..300], &contents[..]);
    }

    #[tokio::test]
    async fn still_receives_with_the_metadata_off() {
        let udp = UdpIo::bind(0, &|_| true).unwrap();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = SocketAddr::from(([127, 0, 0, 1], udp.local_port()));
        sender.send_to(b"datagram", to).unwrap();
        udp.readable().await.unwrap();
        let mut buf = [0u8; 64];
        let mut meta = [RecvMeta::default()];
        let n = udp
            .try_recv(&mut [IoSliceMut::new(&mut buf)], &mut meta)
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(&buf[..meta[0].len], b"datagram");
        assert_eq!(meta[0].addr, sender.local_addr().unwrap());
    }
}

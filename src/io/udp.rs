//! The tunnel's UDP sockets: the listening socket, and, while the tunnel
//! has a single peer that answers, a second socket `connect()`ed to that
//! peer's endpoint on the same port. [`UdpIo`] routes each send and
//! receive to the right one; `io::udp_socket` (private) does the socket calls.
//!
//! Why a connected socket. For a datagram to an unconnected socket the
//! kernel looks up the route of every datagram it receives (and of every
//! one sent); a connected socket is found by early demultiplexing, which
//! reuses a cached route, and `send` on it reuses the route cached at
//! `connect`. On the bench VM that took the veth's receive to the socket's
//! wake-up from 10.0 to 7.5 µs (bpftrace, averaged over `bench/idle.py`),
//! about what boringtun-cli, whose per-peer sockets are connected, shows.
//!
//! Its rules:
//! - Only on Linux and Android, only for a tunnel with exactly one peer,
//!   and only after a handshake with it completed (the event loop decides
//!   when). It moves with the peer's endpoint (which itself moves only on
//!   authenticated packets, a config change or a fresh lookup), in place.
//!   When the peer stops answering it stops carrying sends until a
//!   handshake completes again and connects it afresh, so a path that broke
//!   under it (its source address is fixed at `connect`) cannot keep the
//!   tunnel down. It is never closed before the listening socket (a rebind
//!   replaces both), so nothing it has queued is lost.
//! - Right after it is made or moved, the listening socket's queue is read
//!   first: the peer's datagrams that came before are older than the ones
//!   the connected socket gets, and a flow keeps its order.
//! - It shares the listening socket's port (`SO_REUSEPORT`, on only while
//!   it binds, so the port stays the tunnel's alone); the kernel gives a
//!   connected socket the datagrams from its peer over the listening one.
//! - It is protected like the listening socket (Android: `VpnService.protect`);
//!   if the protector refuses it, or `connect` or a send on it fails, the
//!   listening socket carries everything, as without it.
//! - Datagrams from anyone else (other endpoints, strangers) still come to
//!   the listening socket, so roaming and cookie replies work as before.
//!
//! The sockets are registered with tokio for readability only. Registered
//! for writability too, every datagram sent would wake the loop once more:
//! the kernel signals "writable" (an EPOLLOUT edge) each time a sent buffer
//! is freed, which on most paths is during the send itself. The loop waits
//! for room only when a send finds a socket full, and then registers a
//! duplicate of that fd for writability just for that wait ([`UdpIo::writable`]).

use std::cell::Cell;
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{BorrowedFd, RawFd};

use quinn_udp::RecvMeta;
use socket2::Domain;

use super::udp_socket::UdpSocketIo;
use crate::gso::{Transmit, is_gso_refusal};

/// Whether the tunnel keeps a socket connected to its sole peer (see the module docs).
const CONNECT_TO_PEER: bool = cfg!(any(target_os = "linux", target_os = "android"));

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

/// Which of the idle loop's polled UDP fds were readable ([`UdpIo::recv_polled`]).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PolledReadable {
    /// The listening socket ([`UdpIo::fd`]).
    pub listening: bool,
    /// The socket connected to the peer ([`UdpIo::peer_fd`]).
    pub peer: bool,
}

/// Which socket a send found full.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Which {
    #[default]
    Listening,
    Peer,
}

/// The socket connected to the sole peer. Once made it lives as long as
/// the listening socket (closing it would lose what it has queued): the
/// loop moves it to a new address in place, or stops sending through it.
#[derive(Debug)]
struct PeerSocket {
    socket: UdpSocketIo,
    /// The address it is connected to.
    addr: SocketAddr,
    /// Sends to `addr` go through it. False after a send on it failed or
    /// the loop let it go ([`UdpIo::follow_peer`] with `None`): the
    /// listening socket sends, and this one is still read.
    in_use: Cell<bool>,
}

/// The listening socket and, at times, the socket connected to the peer
/// (see the module docs).
#[derive(Debug)]
pub struct UdpIo {
    listening: UdpSocketIo,
    peer: Option<PeerSocket>,
    /// The socket whose send last said `WouldBlock`: the one to wait for.
    full: Cell<Which>,
    /// Which socket [`Self::try_recv`] tries first next time.
    listening_first: Cell<bool>,
    /// Set when the connected socket is made or moved: receives take the
    /// listening socket's queue first, until it is empty.
    drain_listening_first: Cell<bool>,
    /// See [`Self::max_gso_segments`].
    max_gso_segments: usize,
    /// Dual-stack IPv6 listening socket: IPv4 destinations are written as v4-mapped.
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
        let (listening, ipv6) = match UdpSocketIo::bind(Domain::IPV6, false, port, false, protect) {
            Ok(s) => (s, true),
            Err(e) if is_protect_refusal(&e) => return Err(e),
            Err(e) => {
                tracing::debug!(error = %e, "no IPv6 socket; using IPv4 only");
                (
                    UdpSocketIo::bind(Domain::IPV4, false, port, false, protect)?,
                    false,
                )
            }
        };
        let max_gso_segments = listening.max_gso_segments();
        Ok(Self {
            listening,
            peer: None,
            full: Cell::new(Which::Listening),
            listening_first: Cell::new(false),
            drain_listening_first: Cell::new(false),
            max_gso_segments,
            ipv6,
        })
    }

    /// Keeps a socket connected to `peer` for its datagrams (`None`: sends
    /// go out of the listening socket; the connected one, if any, is still
    /// read): makes the socket, or moves it to `peer` in place when it is
    /// connected elsewhere or a send on it failed (which also picks a
    /// fresh route and source address). Best effort: when it cannot be
    /// made or moved, the listening socket sends. Returns whether sends to
    /// `peer` go through a connected socket afterwards.
    pub fn follow_peer(
        &mut self,
        peer: Option<SocketAddr>,
        protect: &dyn Fn(RawFd) -> bool,
    ) -> bool {
        let peer = peer.filter(|_| CONNECT_TO_PEER);
        let Some(addr) = peer else {
            if let Some(current) = &self.peer {
                current.in_use.set(false);
            }
            return false;
        };
        if let Some(current) = &mut self.peer {
            if current.addr == addr && current.in_use.get() {
                return true;
            }
            let moved = current.socket.reconnect(addr);
            if let Err(e) = &moved {
                tracing::debug!(error = %e, "cannot move the connected socket; the listening socket sends");
            }
            current.addr = addr;
            current.in_use.set(moved.is_ok());
            // Datagrams from `addr` that came before the move wait on the
            // listening socket: read them first.
            self.drain_listening_first.set(true);
            return moved.is_ok();
        }
        match self.connect_peer_socket(addr, protect) {
            Ok(socket) => {
                tracing::debug!(peer = %addr, "UDP socket connected to the peer");
                self.peer = Some(PeerSocket {
                    socket,
                    addr,
                    in_use: Cell::new(true),
                });
                // The peer's datagrams that came before the connect wait
                // on the listening socket: read them first, so a flow's
                // packets keep their order.
                self.drain_listening_first.set(true);
                true
            }
            Err(e) => {
                tracing::debug!(error = %e, "no socket connected to the peer; the listening socket carries it");
                false
            }
        }
    }

    /// A socket on the listening port, `connect()`ed to `addr`. The port is
    /// shared (`SO_REUSEPORT`) only while this socket binds: with the option
    /// left on, any later socket of the same user could bind the port too
    /// and the kernel would share the listening socket's datagrams with it,
    /// where now such a bind fails (`EADDRINUSE`) as without this socket.
    fn connect_peer_socket(
        &self,
        addr: SocketAddr,
        protect: &dyn Fn(RawFd) -> bool,
    ) -> io::Result<UdpSocketIo> {
        let (domain, v6_only) = match addr.ip() {
            IpAddr::V4(_) => (Domain::IPV4, false),
            IpAddr::V6(_) => (Domain::IPV6, true),
        };
        self.listening.set_reuse_port(true)?;
        let socket = UdpSocketIo::bind(domain, v6_only, self.local_port(), true, protect).and_then(
            |socket| {
                socket.connect(addr)?;
                socket.set_reuse_port(false)?;
                Ok(socket)
            },
        );
        if let Err(e) = self.listening.set_reuse_port(false) {
            // Not expected (it was just set); the port stays shareable.
            tracing::warn!(error = %e, "cannot clear SO_REUSEPORT on the listening socket");
        }
        socket
    }

    /// The address the connected socket is tied to, while one is in use.
    pub fn connected_peer(&self) -> Option<SocketAddr> {
        self.peer
            .as_ref()
            .filter(|p| p.in_use.get())
            .map(|p| p.addr)
    }

    /// The bound port.
    pub fn local_port(&self) -> u16 {
        self.listening.local_port()
    }

    /// The listening socket's fd, for the event loop's own `poll` while idle.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.listening.fd()
    }

    /// The connected socket's fd, for the same `poll`, while there is one.
    pub fn peer_fd(&self) -> Option<BorrowedFd<'_>> {
        self.peer.as_ref().map(|p| p.socket.fd())
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
        self.listening.gro_segments()
    }

    /// Sends one transmit without waiting; `WouldBlock` when the socket is
    /// full. Datagrams for the connected peer go through its socket; if
    /// that send fails (other than full, or a GSO batch refused), they go
    /// out of the listening one, and so does everything after until the
    /// loop connects it afresh.
    ///
    /// # Errors
    /// The send's OS error.
    pub fn try_send(&self, transmit: &Transmit<'_>) -> io::Result<()> {
        if let Some(peer) = &self.peer
            && peer.addr == transmit.destination
            && peer.in_use.get()
        {
            match peer.socket.try_send(transmit, transmit.destination) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.full.set(Which::Peer);
                    return Err(e);
                }
                // The path refusing GSO (Android on cellular, a blackhole
                // route) is no fault of this socket: the queue retries the
                // batch in smaller pieces, through it again.
                Err(e) if transmit.segment_size.is_some() && is_gso_refusal(&e) => return Err(e),
                Err(e) => {
                    tracing::debug!(error = %e, "send on the connected socket failed; using the listening socket");
                    peer.in_use.set(false);
                }
                Ok(()) => return Ok(()),
            }
        }
        let result = self
            .listening
            .try_send(transmit, self.map_destination(transmit.destination));
        if matches!(&result, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
            self.full.set(Which::Listening);
        }
        result
    }

    /// Waits until the socket a send found full can take more (see the module docs).
    ///
    /// # Errors
    /// Duplicating or registering the fd, or reactor errors.
    pub async fn writable(&self) -> io::Result<()> {
        match (&self.peer, self.full.get()) {
            (Some(peer), Which::Peer) => peer.socket.writable().await,
            _ => self.listening.writable().await,
        }
    }

    /// Waits until datagrams may be waiting on either socket. Cancel-safe.
    ///
    /// # Errors
    /// Reactor errors.
    pub async fn readable(&self) -> io::Result<()> {
        match &self.peer {
            None => self.listening.readable().await,
            Some(peer) => tokio::select! {
                ready = peer.socket.readable() => ready,
                ready = self.listening.readable() => ready,
            },
        }
    }

    /// Receives one datagram, or one GRO batch of them, into `buf` after
    /// the caller's own `poll` found a socket readable (so without asking
    /// tokio, which has not seen it): from the connected socket first,
    /// except right after it was made or moved, when what the listening
    /// socket holds is older and comes first (checked with a call). For
    /// the datagram that woke an idle loop: on Linux and Android with one
    /// plain `recvmsg`; elsewhere through quinn-udp.
    ///
    /// # Errors
    /// `WouldBlock` when nothing is waiting, or the OS error.
    pub fn recv_polled(&self, buf: &mut [u8], readable: PolledReadable) -> io::Result<RecvMeta> {
        let mut listening = readable.listening;
        if self.peer.is_some() && self.drain_listening_first.get() {
            match self.listening.recv_polled(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.drain_listening_first.set(false);
                    listening = false;
                }
                result => return result,
            }
        }
        if readable.peer
            && let Some(peer) = &self.peer
        {
            match peer.socket.recv_polled(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && listening => {}
                result => return result,
            }
        }
        if !listening {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.listening.recv_polled(buf)
    }

    /// Receives into several buffers with one syscall, from a socket the
    /// reactor saw readable (when both were, the two take turns); returns
    /// how many were filled. Each buffer may hold several
    /// datagrams (GRO): split by `stride`. Source addresses come back in
    /// canonical form (no v4-mapped IPv6).
    ///
    /// # Errors
    /// `WouldBlock` when nothing is waiting, or the OS error.
    pub fn try_recv(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> io::Result<usize> {
        let Some(peer) = &self.peer else {
            return self.listening.try_recv(bufs, meta);
        };
        if self.drain_listening_first.get() {
            // Asked of the socket, not of the reactor, which may not have
            // seen all of what waits there yet.
            match self.listening.try_recv(bufs, meta) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.drain_listening_first.set(false);
                }
                result => return result,
            }
        }
        // Both ready: take turns, so a busy peer cannot starve the
        // listening socket (its handshakes from a new address) nor the reverse.
        let peer_first = !self.listening_first.replace(!self.listening_first.get());
        let order = if peer_first {
            [&peer.socket, &self.listening]
        } else {
            [&self.listening, &peer.socket]
        };
        for socket in order {
            if socket.seems_readable() {
                match socket.try_recv(bufs, meta) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    result => return result,
                }
            }
        }
        Err(io::ErrorKind::WouldBlock.into())
    }

    fn map_destination(&self, addr: SocketAddr) -> SocketAddr {
        match (self.ipv6, addr.ip()) {
            (true, IpAddr::V4(v4)) => SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), addr.port()),
            _ => addr,
        }
    }
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::*;

    const LISTENING: PolledReadable = PolledReadable {
        listening: true,
        peer: false,
    };

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
        let meta = b.recv_polled(&mut buf, LISTENING).unwrap();
        assert_eq!(&buf[..meta.len], b"one datagram");
        assert_eq!(meta.stride, meta.len);
        // Canonical IPv4, not v4-mapped, from a dual-stack socket.
        assert_eq!(meta.addr, loopback_to(&a));
        let empty = b.recv_polled(&mut buf, LISTENING).unwrap_err();
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
        let meta = b.recv_polled(&mut buf, LISTENING).unwrap();
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

    const PEER: PolledReadable = PolledReadable {
        listening: false,
        peer: true,
    };

    fn local_to(udp: &UdpIo) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], udp.local_port()))
    }

    fn remote() -> (std::net::UdpSocket, SocketAddr) {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        (socket, addr)
    }

    /// Receives what one polled receive of `which` brings, as (bytes, source).
    fn polled(udp: &UdpIo, which: PolledReadable) -> io::Result<(Vec<u8>, SocketAddr)> {
        let mut buf = [0u8; 2048];
        let meta = udp.recv_polled(&mut buf, which)?;
        Ok((buf[..meta.len].to_vec(), meta.addr))
    }

    /// After loopback delivered: the connected socket holds `peer`'s
    /// datagram, the listening one `listening`'s.
    async fn assert_each_got(
        udp: &UdpIo,
        peer: (&[u8], SocketAddr),
        listening: (&[u8], SocketAddr),
    ) {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let (bytes, from) = polled(udp, PEER).unwrap();
        assert_eq!((&bytes[..], from), peer, "on the connected socket");
        let (bytes, from) = polled(udp, LISTENING).unwrap();
        assert_eq!((&bytes[..], from), listening, "on the listening socket");
    }

    /// A socket following a peer, after the peer and a stranger each sent
    /// it a datagram; with their addresses.
    fn following_with_one_datagram_each() -> (UdpIo, SocketAddr, SocketAddr) {
        let (peer, peer_addr) = remote();
        let (stranger, stranger_addr) = remote();
        let mut udp = UdpIo::bind(0, &|_| true).unwrap();
        assert!(udp.follow_peer(Some(peer_addr), &|_| true));
        nothing_before_the_connect(&udp);
        peer.send_to(b"from the peer", local_to(&udp)).unwrap();
        stranger
            .send_to(b"from a stranger", local_to(&udp))
            .unwrap();
        (udp, peer_addr, stranger_addr)
    }

    /// Right after a connect or move, receives read the listening queue
    /// first; with nothing there, the first (empty) receive ends that.
    fn nothing_before_the_connect(udp: &UdpIo) {
        let e = polled(udp, PEER).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    }

    #[tokio::test]
    async fn the_followed_peer_gets_a_socket_of_its_own_and_everyone_else_the_listening_one() {
        let (udp, peer_addr, stranger_addr) = following_with_one_datagram_each();
        assert_eq!(udp.connected_peer(), Some(peer_addr));
        assert!(udp.peer_fd().is_some());
        udp.readable().await.unwrap();
        assert_each_got(
            &udp,
            (b"from the peer", peer_addr),
            (b"from a stranger", stranger_addr),
        )
        .await;
        for which in [PEER, LISTENING] {
            let empty = polled(&udp, which).unwrap_err();
            assert_eq!(empty.kind(), io::ErrorKind::WouldBlock);
        }
    }

    #[tokio::test]
    async fn the_reactor_path_receives_from_both_sockets() {
        let (udp, peer_addr, stranger_addr) = following_with_one_datagram_each();
        let mut got = Vec::new();
        while got.len() < 2 {
            tokio::time::timeout(std::time::Duration::from_secs(5), udp.readable())
                .await
                .expect("a datagram left unreported")
                .unwrap();
            let mut buf = [0u8; 2048];
            let mut meta = [RecvMeta::default()];
            match udp.try_recv(&mut [IoSliceMut::new(&mut buf)], &mut meta) {
                Ok(n) => {
                    assert_eq!(n, 1);
                    got.push((buf[..meta[0].len].to_vec(), meta[0].addr));
                }
                Err(e) => assert_eq!(e.kind(), io::ErrorKind::WouldBlock),
            }
        }
        got.sort();
        assert_eq!(
            got,
            vec![
                (b"from a stranger".to_vec(), stranger_addr),
                (b"from the peer".to_vec(), peer_addr),
            ]
        );
    }

    #[tokio::test]
    async fn sends_to_the_peer_leave_from_the_listening_port_single_and_in_batches() {
        let (peer, peer_addr) = remote();
        let mut udp = UdpIo::bind(0, &|_| true).unwrap();
        assert!(udp.follow_peer(Some(peer_addr), &|_| true));
        let single = Transmit {
            destination: peer_addr,
            contents: b"alone",
            segment_size: None,
        };
        udp.try_send(&single).unwrap();
        let batch = Transmit {
            destination: peer_addr,
            contents: b"aaabbbcc",
            segment_size: Some(3),
        };
        udp.try_send(&batch).unwrap();
        let mut buf = [0u8; 64];
        for expected in [&b"alone"[..], b"aaa", b"bbb", b"cc"] {
            let (n, from) = peer.recv_from(&mut buf).unwrap();
            assert_eq!((&buf[..n], from), (expected, local_to(&udp)));
        }
        assert_eq!(udp.connected_peer(), Some(peer_addr), "no send failed");
    }

    #[tokio::test]
    async fn a_refused_gso_batch_is_the_callers_to_split_and_keeps_the_connected_socket() {
        let (peer, peer_addr) = remote();
        let mut udp = UdpIo::bind(0, &|_| true).unwrap();
        assert!(udp.follow_peer(Some(peer_addr), &|_| true));
        // 300 segments: more than the kernel's UDP_MAX_SEGMENTS (64, or 128
        // on newer kernels), so EINVAL, as a path that refuses GSO answers.
        let contents = vec![7u8; 300 * 10];
        let batch = Transmit {
            destination: peer_addr,
            contents: &contents,
            segment_size: Some(10),
        };
        let refused = udp.try_send(&batch).unwrap_err();
        assert!(is_gso_refusal(&refused), "{refused}");
        assert_eq!(udp.connected_peer(), Some(peer_addr));
        let single = Transmit {
            destination: peer_addr,
            contents: b"after",
            segment_size: None,
        };
        udp.try_send(&single).unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = peer.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"after"[..], local_to(&udp)));
    }

    #[tokio::test]
    async fn following_another_address_moves_the_socket_and_none_only_stops_its_sends() {
        let (first, first_addr) = remote();
        let (second, second_addr) = remote();
        let mut udp = UdpIo::bind(0, &|_| true).unwrap();
        assert!(udp.follow_peer(Some(first_addr), &|_| true));
        assert!(udp.follow_peer(Some(second_addr), &|_| true));
        assert_eq!(udp.connected_peer(), Some(second_addr));
        nothing_before_the_connect(&udp);
        first.send_to(b"first", local_to(&udp)).unwrap();
        second.send_to(b"second", local_to(&udp)).unwrap();
        assert_each_got(&udp, (b"second", second_addr), (b"first", first_addr)).await;

        // Let go: no sends through it, but it stays (closing it would lose
        // what it has queued) and is still read.
        assert!(!udp.follow_peer(None, &|_| true));
        assert_eq!(
            (udp.connected_peer(), udp.peer_fd().is_some()),
            (None, true)
        );
        second.send_to(b"second again", local_to(&udp)).unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert_eq!(
            polled(&udp, PEER).unwrap(),
            (b"second again".to_vec(), second_addr)
        );
    }

    /// The peer's datagrams that reached the listening socket before the
    /// connect are older than those on the connected socket: a flow keeps
    /// its order only if they are read first, on either receive path.
    #[tokio::test]
    async fn datagrams_from_before_the_connect_are_read_first() {
        for polled_path in [true, false] {
            let (peer, peer_addr) = remote();
            let mut udp = UdpIo::bind(0, &|_| true).unwrap();
            for n in 0..3u8 {
                peer.send_to(&[n], local_to(&udp)).unwrap();
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            assert!(udp.follow_peer(Some(peer_addr), &|_| true));
            for n in 3..6u8 {
                peer.send_to(&[n], local_to(&udp)).unwrap();
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            let mut order = Vec::new();
            while order.len() < 6 {
                let mut buf = [0u8; 64];
                let got = if polled_path {
                    let both = PolledReadable {
                        listening: true,
                        peer: true,
                    };
                    udp.recv_polled(&mut buf, both).map(|meta| meta.len)
                } else {
                    tokio::time::timeout(std::time::Duration::from_secs(5), udp.readable())
                        .await
                        .expect("a datagram left unreported")
                        .unwrap();
                    let mut meta = [RecvMeta::default()];
                    udp.try_recv(&mut [IoSliceMut::new(&mut buf)], &mut meta)
                        .map(|_| meta[0].len)
                };
                match got {
                    Ok(len) => order.extend_from_slice(&buf[..len]),
                    Err(e) => assert_eq!(e.kind(), io::ErrorKind::WouldBlock),
                }
            }
            assert_eq!(order, [0, 1, 2, 3, 4, 5], "polled path: {polled_path}");
        }
    }

    #[tokio::test]
    async fn a_refused_protect_leaves_the_listening_socket_carrying_everything() {
        let (peer, peer_addr) = remote();
        let mut udp = UdpIo::bind(0, &|_| true).unwrap();
        assert!(!udp.follow_peer(Some(peer_addr), &|_| false));
        assert_eq!(
            (udp.connected_peer(), udp.peer_fd().is_none()),
            (None, true)
        );
        let t = Transmit {
            destination: peer_addr,
            contents: b"still sent",
            segment_size: None,
        };
        udp.try_send(&t).unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = peer.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"still sent"[..], local_to(&udp)));
    }

    #[tokio::test]
    async fn a_send_the_connected_socket_fails_goes_out_of_the_listening_one() {
        // Nothing listens at `gone`: the first send draws an ICMP port
        // unreachable, which the connected socket (unlike the listening
        // one) reports on its next send as ECONNREFUSED.
        let gone = remote().1;
        let mut udp = UdpIo::bind(0, &|_| true).unwrap();
        assert!(udp.follow_peer(Some(gone), &|_| true));
        let t = Transmit {
            destination: gone,
            contents: b"anyone?",
            segment_size: None,
        };
        for _ in 0..10 {
            udp.try_send(&t)
                .expect("a failed send must fall back, not fail");
            if udp.connected_peer().is_none() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(udp.connected_peer(), None, "the refusal was never seen");
        // Following the same address again replaces the failed socket.
        assert!(udp.follow_peer(Some(gone), &|_| true));
        assert_eq!(udp.connected_peer(), Some(gone));
    }

    /// Whether any other socket, with or without `SO_REUSEPORT`, fails to bind `port`.
    fn port_taken_for_all(port: u16) -> Result<(), String> {
        for (domain, reuse_port) in [
            (Domain::IPV4, false),
            (Domain::IPV4, true),
            (Domain::IPV6, false),
            (Domain::IPV6, true),
        ] {
            let other = socket2::Socket::new(domain, socket2::Type::DGRAM, None).unwrap();
            other.set_reuse_port(reuse_port).unwrap();
            let addr: SocketAddr = match domain {
                Domain::IPV4 => ([0, 0, 0, 0], port).into(),
                _ => (std::net::Ipv6Addr::UNSPECIFIED, port).into(),
            };
            match other.bind(&addr.into()) {
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => {}
                other => return Err(format!("{domain:?}, SO_REUSEPORT {reuse_port}: {other:?}")),
            }
        }
        Ok(())
    }

    #[tokio::test]
    async fn the_port_stays_the_tunnels_alone_with_a_connected_socket_in_use_or_not() {
        let (_peer, peer_addr) = remote();
        let mut udp = UdpIo::bind(0, &|_| true).unwrap();
        assert!(udp.follow_peer(Some(peer_addr), &|_| true));
        port_taken_for_all(udp.local_port()).expect("with the connected socket");
        assert!(!udp.follow_peer(None, &|_| true));
        port_taken_for_all(udp.local_port()).expect("with the connected socket let go");
    }
}

//! The UDP side of the event loop: the socket, the GSO send queue, the
//! receive buffers and their counters.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::ops::Range;
use std::os::fd::BorrowedFd;
use std::time::Instant;

use quinn_udp::RecvMeta;

use super::budget::{RECV_BUFFER_LEN, RECV_BUFFERS, gso_queue_bytes};
use super::{RuntimeError, io_error};
use crate::gso::{FlushStats, GsoQueue};
use crate::io::udp::{PolledReadable, UdpIo};

/// Receive-side counters (the send side's are the queue's [`FlushStats`]).
#[derive(Debug, Default)]
pub(super) struct RecvStats {
    pub datagrams: u64,
    /// Receive buffers that held more than one datagram (GRO).
    pub gro_batches: u64,
}

/// One datagram of the last [`UdpPath::recv`]: which buffer, where in it,
/// and who sent it. Borrow its bytes with [`UdpPath::datagram`].
#[derive(Debug, Clone)]
pub(super) struct Datagram {
    pub from: SocketAddr,
    buffer: usize,
    range: Range<usize>,
}

impl Datagram {
    pub fn len(&self) -> usize {
        self.range.len()
    }
}

/// The datagrams of one receive buffer, in order (GRO buffers split by `stride`).
#[derive(Debug, Clone)]
pub(super) struct Datagrams {
    from: SocketAddr,
    buffer: usize,
    next: usize,
    len: usize,
    stride: usize,
}

impl Iterator for Datagrams {
    type Item = Datagram;

    fn next(&mut self) -> Option<Datagram> {
        if self.next >= self.len {
            return None;
        }
        let start = self.next;
        self.next = (start + self.stride).min(self.len);
        Some(Datagram {
            from: self.from,
            buffer: self.buffer,
            range: start..self.next,
        })
    }
}

/// See the module docs.
pub(super) struct UdpPath {
    socket: UdpIo,
    gso: GsoQueue,
    recv_bufs: [Box<[u8]>; RECV_BUFFERS],
    recv_meta: [RecvMeta; RECV_BUFFERS],
    sent: FlushStats,
    received: RecvStats,
}

impl UdpPath {
    /// Binds the socket (see [`UdpIo::bind`]) and sizes the buffers for
    /// packets of `max_packet` bytes. Must run inside the loop's runtime.
    ///
    /// # Errors
    /// Bind or protect failures.
    pub fn bind(
        port: u16,
        protect: &dyn Fn(std::os::fd::RawFd) -> bool,
        max_packet: usize,
    ) -> Result<Self, RuntimeError> {
        let socket = UdpIo::bind(port, protect).map_err(map_bind_error)?;
        let mut gso = GsoQueue::with_capacity(gso_queue_bytes(max_packet));
        gso.reset(socket.max_gso_segments());
        Ok(Self {
            socket,
            gso,
            recv_bufs: std::array::from_fn(|_| vec![0u8; RECV_BUFFER_LEN].into_boxed_slice()),
            recv_meta: [RecvMeta::default(); RECV_BUFFERS],
            sent: FlushStats::default(),
            received: RecvStats::default(),
        })
    }

    /// The bound port.
    pub fn local_port(&self) -> u16 {
        self.socket.local_port()
    }

    /// Whether datagrams wait to be sent.
    pub fn has_queued(&self) -> bool {
        !self.gso.is_empty()
    }

    /// The send queue, for the node to write datagrams into.
    pub fn queue(&mut self) -> &mut GsoQueue {
        &mut self.gso
    }

    /// Flushes first when the queue has less than `room` bytes free.
    pub async fn make_room(&mut self, room: usize) {
        if self.gso.room() < room {
            self.flush().await;
        }
    }

    /// Sends the whole GSO queue, waiting for socket room as needed; a
    /// socket that cannot wait any more drops what is queued.
    pub async fn flush(&mut self) {
        while !self.gso.is_empty() {
            let socket = &self.socket;
            match self
                .gso
                .flush(Instant::now(), &mut self.sent, |t| socket.try_send(t))
            {
                Ok(()) => return,
                Err(_would_block) => {
                    if self.socket.writable().await.is_err() {
                        self.gso.clear();
                        return;
                    }
                }
            }
        }
    }

    /// Waits until datagrams may be waiting. Cancel-safe.
    pub async fn readable(&self) -> Result<(), RuntimeError> {
        self.socket
            .readable()
            .await
            .map_err(io_error("waiting for the UDP socket"))
    }

    /// The listening socket's fd, for the loop's own `poll` while idle.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.socket.fd()
    }

    /// The fd of the socket connected to the peer, if there is one, for the same `poll`.
    pub fn peer_fd(&self) -> Option<BorrowedFd<'_>> {
        self.socket.peer_fd()
    }

    /// Where the socket connected to the peer points, while one is in use.
    pub fn connected_peer(&self) -> Option<SocketAddr> {
        self.socket.connected_peer()
    }

    /// Keeps a socket connected to `peer` (`None`: none); see [`UdpIo::follow_peer`].
    pub fn follow_peer(
        &mut self,
        peer: Option<SocketAddr>,
        protect: &dyn Fn(std::os::fd::RawFd) -> bool,
    ) {
        self.socket.follow_peer(peer, protect);
    }

    /// One receive call into the buffers; returns how many buffers it filled
    /// (0 when nothing waits or the call failed). Walk them with
    /// [`Self::datagrams`]. `polled`: the idle loop's own `poll` found
    /// these sockets readable, so receive the datagram (or GRO batch) that
    /// woke it into the first buffer, without asking tokio (see
    /// [`UdpIo::recv_polled`]).
    pub fn recv(&mut self, polled: Option<PolledReadable>) -> usize {
        let received = if let Some(readable) = polled {
            self.socket
                .recv_polled(&mut self.recv_bufs[0], readable)
                .map(|meta| {
                    self.recv_meta[0] = meta;
                    1
                })
        } else {
            let mut slices = self.recv_bufs.each_mut().map(|buf| IoSliceMut::new(buf));
            self.socket.try_recv(&mut slices, &mut self.recv_meta)
        };
        match received {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) => {
                // E.g. ICMP-triggered errors on a connected path; the socket stays usable.
                tracing::debug!(error = %e, "UDP receive failed");
                0
            }
        }
    }

    /// The datagrams in receive buffer `buffer` of the last [`Self::recv`], counted.
    pub fn datagrams(&mut self, buffer: usize) -> Datagrams {
        let meta = self.recv_meta[buffer];
        let stride = meta.stride.max(1);
        if meta.len > stride {
            self.received.gro_batches += 1;
        }
        self.received.datagrams += meta.len.div_ceil(stride) as u64;
        Datagrams {
            from: meta.addr,
            buffer,
            next: 0,
            len: meta.len,
            stride,
        }
    }

    /// The bytes of `datagram`, and the send queue for what answering it produces.
    pub fn datagram(&mut self, datagram: &Datagram) -> (&[u8], &mut GsoQueue) {
        let bytes = self.recv_bufs[datagram.buffer]
            .get(datagram.range.clone())
            .unwrap_or_default();
        (bytes, &mut self.gso)
    }

    /// A new socket on the same port (any port when that one is taken),
    /// protected again; the queue starts empty, with full GSO.
    ///
    /// # Errors
    /// Bind or protect failures; the old socket is closed either way.
    pub fn rebind(
        &mut self,
        protect: &dyn Fn(std::os::fd::RawFd) -> bool,
    ) -> Result<(), RuntimeError> {
        let port = self.socket.local_port();
        self.gso.clear();
        // Swap in a throwaway socket (it never sends) so the old one closes and
        // its port is free for the new one.
        let placeholder = UdpIo::bind(0, &|_| true).map_err(io_error("binding a UDP socket"))?;
        drop(std::mem::replace(&mut self.socket, placeholder));
        let socket = match UdpIo::bind(port, protect) {
            Ok(socket) => socket,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                UdpIo::bind(0, protect).map_err(map_bind_error)?
            }
            Err(e) => return Err(map_bind_error(e)),
        };
        self.gso.reset(socket.max_gso_segments());
        self.socket = socket;
        Ok(())
    }

    /// Counters of the send side.
    pub fn sent(&self) -> &FlushStats {
        &self.sent
    }

    /// Counters of the receive side.
    pub fn received(&self) -> &RecvStats {
        &self.received
    }
}

pub(super) fn map_bind_error(source: io::Error) -> RuntimeError {
    if crate::io::udp::is_protect_refusal(&source) {
        RuntimeError::ProtectFailed
    } else {
        RuntimeError::Io {
            context: "binding the UDP socket",
            source,
        }
    }
}

//! The TUN side: a reader thread that drains the fd in batches, and a
//! non-blocking batch writer driven by the event loop.
//!
//! Works on any fd that reads and writes whole IP packets: a Linux/Android
//! TUN (`IFF_TUN|IFF_NO_PI`), an Apple utun (4-byte address-family header,
//! [`TunFraming::AppleUtun`]), or a `socketpair(AF_UNIX, SOCK_DGRAM)` in tests.
#![allow(unsafe_code)] // raw read/write/poll on the TUN fd; each block says why it is sound

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;

use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;

use crate::batch::PacketBatch;
use crate::runtime::TunFraming;

/// Length of the Apple utun packet-information header.
const UTUN_HEADER_LEN: usize = 4;

/// Puts `fd` in non-blocking mode.
pub fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: fcntl on a valid, borrowed fd with integer arguments only.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// What one read produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    /// A packet of this many bytes, at the start of the buffer.
    Packet(usize),
    /// An empty datagram (or a utun header with nothing after it).
    Empty,
    /// A packet longer than the buffer's `max_packet`; its bytes are not used.
    Oversized,
    /// End of file: the fd will never yield another packet.
    Eof,
}

/// Whether a 0-byte read on `fd` is an empty datagram rather than end of
/// file: true for datagram sockets (socketpairs standing in for a TUN, Apple
/// utun). A TUN character device never reads 0 bytes, and a stream at its
/// end reads 0 bytes forever.
fn zero_read_is_empty_datagram(fd: BorrowedFd<'_>) -> bool {
    socket2::SockRef::from(&fd)
        .r#type()
        .is_ok_and(|t| t == socket2::Type::DGRAM)
}

/// Reads one packet into `buf`, stripping the utun header when framed.
/// `buf` holds one byte more than `max_packet`, so a longer packet shows.
fn read_packet(
    fd: BorrowedFd<'_>,
    framing: TunFraming,
    buf: &mut [u8],
    max_packet: usize,
    zero_is_empty: bool,
) -> io::Result<Read> {
    let header_len = match framing {
        TunFraming::Raw => 0,
        TunFraming::AppleUtun => UTUN_HEADER_LEN,
    };
    let n = match framing {
        TunFraming::Raw => {
            // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the whole call.
            unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) }
        }
        TunFraming::AppleUtun => {
            let mut header = [0u8; UTUN_HEADER_LEN];
            let iov = [
                libc::iovec {
                    iov_base: header.as_mut_ptr().cast(),
                    iov_len: header.len(),
                },
                libc::iovec {
                    iov_base: buf.as_mut_ptr().cast(),
                    iov_len: buf.len(),
                },
            ];
            // SAFETY: both iovecs point to live buffers of the stated lengths.
            unsafe { libc::readv(fd.as_raw_fd(), iov.as_ptr(), 2) }
        }
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = n as usize;
    Ok(if n == 0 && !zero_is_empty {
        Read::Eof
    } else if n <= header_len {
        Read::Empty
    } else if n - header_len > max_packet {
        Read::Oversized
    } else {
        Read::Packet(n - header_len)
    })
}

/// Writes one packet, adding the utun header when framed.
fn write_packet(fd: BorrowedFd<'_>, framing: TunFraming, packet: &[u8]) -> io::Result<()> {
    let n = match framing {
        TunFraming::Raw => {
            // SAFETY: `packet` is valid for reads of its length for the whole call.
            unsafe { libc::write(fd.as_raw_fd(), packet.as_ptr().cast(), packet.len()) }
        }
        TunFraming::AppleUtun => {
            let family = match packet.first().map(|b| b >> 4) {
                Some(6) => libc::AF_INET6,
                _ => libc::AF_INET,
            } as u32;
            let header = family.to_be_bytes();
            let iov = [
                libc::iovec {
                    iov_base: header.as_ptr() as *mut _,
                    iov_len: header.len(),
                },
                libc::iovec {
                    iov_base: packet.as_ptr() as *mut _,
                    iov_len: packet.len(),
                },
            ];
            // SAFETY: both iovecs point to live buffers; writev only reads them.
            unsafe { libc::writev(fd.as_raw_fd(), iov.as_ptr(), 2) }
        }
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Waits until `fd` or `wake` is readable. Returns `false` when `wake` fired.
fn wait_readable(fd: BorrowedFd<'_>, wake: BorrowedFd<'_>) -> io::Result<bool> {
    let mut fds = [
        libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: wake.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    loop {
        // SAFETY: `fds` is a valid array of two pollfd structs for the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if n >= 0 {
            return Ok(fds[1].revents == 0);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Packets the reader dropped, by reason (read by the event loop for stats).
#[derive(Debug, Default)]
pub struct ReaderDrops {
    /// Empty datagrams, and utun reads too short for the header.
    pub empty: AtomicU64,
    /// Packets longer than the config's MTU.
    pub oversized: AtomicU64,
}

/// How the reader thread ended.
#[derive(Debug)]
pub enum ReaderExit {
    /// Asked to stop, or the event loop went away.
    Stopped,
    /// The fd reported end of file or an error.
    Failed(io::Error),
}

/// Handle to the reader thread; dropping it does not stop the thread, [`Self::stop`] does.
pub struct TunReader {
    wake: UnixStream,
    thread: Option<JoinHandle<ReaderExit>>,
    drops: Arc<ReaderDrops>,
}

impl TunReader {
    /// Spawns the reader. It takes empty batches from `pool`, fills each by
    /// reading until the fd has nothing more (EAGAIN) or the batch is full,
    /// and sends full or drained batches on `batches`.
    ///
    /// Every read error except `EINTR` (retried) and `EAGAIN` (waited out)
    /// ends the thread with [`ReaderExit::Failed`], as does end of file; the
    /// event loop then stops the tunnel with that reason. Nothing is retried
    /// in a loop: a fd that broke stays broken (a deleted interface, a
    /// detached TUN).
    ///
    /// # Errors
    /// When the thread or its wake-up pair cannot be created.
    pub fn spawn(
        fd: OwnedFd,
        framing: TunFraming,
        max_packet: usize,
        pool: std_mpsc::Receiver<PacketBatch>,
        batches: mpsc::Sender<PacketBatch>,
    ) -> io::Result<Self> {
        let (wake, wake_rx) = UnixStream::pair()?;
        let drops = Arc::new(ReaderDrops::default());
        let reader = ReadLoop {
            fd,
            framing,
            max_packet,
            drops: drops.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("ferrotun-tun-rx".into())
            .spawn(move || reader.run(pool, batches, wake_rx))?;
        Ok(Self {
            wake,
            thread: Some(thread),
            drops,
        })
    }

    /// Packets dropped so far.
    pub fn drops(&self) -> &ReaderDrops {
        &self.drops
    }

    /// Wakes the thread, waits for it to end and reports how it ended.
    pub fn stop(&mut self) -> Option<ReaderExit> {
        // Closing our end makes the thread's poll see the peer hang up.
        let _ = self.wake.shutdown(std::net::Shutdown::Both);
        self.thread.take().and_then(|t| t.join().ok())
    }
}

impl Drop for TunReader {
    fn drop(&mut self) {
        self.stop();
    }
}

struct ReadLoop {
    fd: OwnedFd,
    framing: TunFraming,
    max_packet: usize,
    drops: Arc<ReaderDrops>,
}

impl ReadLoop {
    fn run(
        self,
        pool: std_mpsc::Receiver<PacketBatch>,
        batches: mpsc::Sender<PacketBatch>,
        wake: UnixStream,
    ) -> ReaderExit {
        let zero_is_empty = zero_read_is_empty_datagram(self.fd.as_fd());
        // One byte beyond the largest packet, so that a longer one is seen, not cut.
        let read_len = self.max_packet + 1;
        loop {
            // Blocks while every batch is in flight: backpressure from the event loop.
            let Ok(mut batch) = pool.recv() else {
                return ReaderExit::Stopped;
            };
            while batch.has_room_for(read_len) {
                let buf = &mut batch.tail()[..read_len];
                match read_packet(
                    self.fd.as_fd(),
                    self.framing,
                    buf,
                    self.max_packet,
                    zero_is_empty,
                ) {
                    Ok(Read::Packet(n)) => batch.commit(n),
                    Ok(Read::Empty) => {
                        self.drops.empty.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Read::Oversized) => {
                        if self.drops.oversized.fetch_add(1, Ordering::Relaxed) == 0 {
                            tracing::warn!(
                                max_packet = self.max_packet,
                                "dropping TUN packets larger than the MTU; \
                                 is the interface's MTU larger than the config's?"
                            );
                        }
                    }
                    Ok(Read::Eof) => {
                        return ReaderExit::Failed(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "end of file",
                        ));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        if !batch.is_empty() {
                            break;
                        }
                        match wait_readable(self.fd.as_fd(), wake.as_fd()) {
                            Ok(true) => {}
                            Ok(false) => return ReaderExit::Stopped,
                            Err(e) => return ReaderExit::Failed(e),
                        }
                    }
                    // A signal arrived mid-read: not a loop, each one is an event.
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return ReaderExit::Failed(e),
                }
            }
            if batches.blocking_send(batch).is_err() {
                return ReaderExit::Stopped;
            }
        }
    }
}

/// Writes decrypted packets to the TUN from the event loop without blocking it.
pub struct TunWriter {
    fd: AsyncFd<OwnedFd>,
    framing: TunFraming,
}

impl TunWriter {
    /// Registers `fd` (already non-blocking) with the current tokio runtime.
    ///
    /// # Errors
    /// When the fd cannot be registered.
    pub fn new(fd: OwnedFd, framing: TunFraming) -> io::Result<Self> {
        // SAFETY: `OwnedFd` owns a valid open fd, and it stays inside the
        // `AsyncFd` (never replaced or closed) until the `AsyncFd` drops.
        let fd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::WRITABLE) }
            .map_err(io::Error::from)?;
        Ok(Self { fd, framing })
    }

    /// Writes every packet of `batch`, waiting for writability when the fd
    /// pushes back. A packet the fd refuses for any other reason is dropped
    /// and counted in `dropped`. The batch is empty afterwards.
    pub async fn write_all(&self, batch: &mut PacketBatch, written: &mut u64, dropped: &mut u64) {
        while !batch.is_empty() {
            let Ok(mut guard) = self.fd.writable().await else {
                *dropped += batch.len() as u64;
                batch.clear();
                return;
            };
            let mut done = 0;
            // `try_io` clears readiness only when the closure reports WouldBlock.
            let _ = guard.try_io(|fd| {
                for packet in batch.iter() {
                    match write_packet(fd.get_ref().as_fd(), self.framing, packet) {
                        Ok(()) => *written += 1,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(e),
                        Err(e) => {
                            tracing::trace!(error = %e, "TUN write failed");
                            *dropped += 1;
                        }
                    }
                    done += 1;
                }
                Ok(())
            });
            batch.consume(done);
        }
    }
}

//! Buffer sizes, and the memory they add up to.
//!
//! Every queue is bounded in bytes. All buffers are allocated when the tunnel
//! starts and reused, so the steady state allocates nothing per packet.
//! [`BUFFER_BUDGET_BYTES`] is the worst case (at [`MAX_MTU`]); at the default
//! MTU of 1420 the same buffers take 2.4 MiB. An iOS Network Extension is
//! killed at 50 MiB, so the budget leaves room for the app's own memory.

use crate::config::MAX_MTU;
use crate::gso::MAX_GSO_BYTES;

/// Most IP packets read from the TUN into one batch (one event-loop wakeup,
/// one GSO flush). 64 matches the kernel's GSO segment cap, so a full batch of
/// one flow becomes a single send.
pub const MAX_BATCH: usize = 64;

/// TUN batches in flight: one being filled by the reader, the rest queued for
/// or being processed by the event loop. Beyond that the reader waits, which
/// pushes back on the TUN (the kernel queues, then drops, as for any NIC).
pub const TUN_BATCHES: usize = 4;

/// Receive buffers handed to one `recvmmsg`.
pub const RECV_BUFFERS: usize = 16;

/// Size of each receive buffer: one GRO super-datagram can be up to 64 KiB.
pub const RECV_BUFFER_LEN: usize = 65_535;

/// Bytes a WireGuard data message adds to an IP packet.
pub const DATA_OVERHEAD: usize = 32;

/// Room in the GSO queue: a full TUN batch plus handshake traffic
/// (queued-packet bursts after a handshake are drained as room allows).
pub const fn gso_queue_bytes(max_packet: usize) -> usize {
    let per_datagram = max_packet + DATA_OVERHEAD;
    let bytes = (MAX_BATCH + 8) * per_datagram;
    // Never smaller than one full GSO send.
    if bytes < MAX_GSO_BYTES {
        MAX_GSO_BYTES
    } else {
        bytes
    }
}

/// Bytes of one TUN read batch: each read offers one byte more than
/// `max_packet`, so that a longer packet is seen (and dropped) rather than cut.
pub const fn tun_batch_bytes(max_packet: usize) -> usize {
    MAX_BATCH * max_packet + 1
}

/// Bytes gathered for one TUN write: everything one receive call can decrypt.
pub const TUN_WRITE_BYTES: usize = RECV_BUFFERS * RECV_BUFFER_LEN;

/// Packets gathered for one TUN write (smallest datagram is 32 bytes).
pub const TUN_WRITE_PACKETS: usize = TUN_WRITE_BYTES / 64;

/// All packet buffers of one tunnel at a given MTU.
pub const fn buffer_bytes(max_packet: usize) -> usize {
    TUN_BATCHES * tun_batch_bytes(max_packet)
        + gso_queue_bytes(max_packet)
        + RECV_BUFFERS * RECV_BUFFER_LEN
        + TUN_WRITE_BYTES
}

/// Worst-case packet-buffer memory of one tunnel (at `MAX_MTU`): 4.8 MiB.
///
/// Not included: boringtun queues up to 256 packets per peer while a handshake
/// is in flight (freed when it completes), and the kernel's socket buffers.
pub const BUFFER_BUDGET_BYTES: usize = buffer_bytes(MAX_MTU as usize);

// Checked when compiling: the budget must stay well inside an iOS Network
// Extension's 50 MiB, leaving most of it to the app.
const _: () = assert!(BUFFER_BUDGET_BYTES < (50 << 20) / 8);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_tun_batch_fits_the_gso_queue() {
        for mtu in [576usize, 1280, 1420, 1500, MAX_MTU as usize] {
            assert!(gso_queue_bytes(mtu) >= MAX_BATCH * (mtu + DATA_OVERHEAD));
        }
    }

    #[test]
    fn the_default_mtu_needs_under_three_mib() {
        let bytes = buffer_bytes(crate::config::DEFAULT_MTU as usize);
        assert!(bytes < 3 << 20, "{bytes}");
    }
}

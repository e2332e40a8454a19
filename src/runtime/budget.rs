//! Buffer sizes, and the memory they add up to.
//!
//! Every queue is bounded in bytes. All buffers are allocated when the tunnel
//! starts and reused, so the steady state allocates nothing per packet.
//! [`BUFFER_BUDGET_BYTES`] is the worst case (at [`MAX_MTU`]); at the default
//! MTU of 1420 the same buffers take 2.41 MiB. An iOS Network Extension is
//! killed at 50 MiB, so the budget leaves room for the app's own memory.

use crate::config::MAX_MTU;
use crate::gso::MAX_GSO_BYTES;
use crate::node::DATA_OVERHEAD;

/// Most IP packets read from the TUN into one batch (one event-loop wakeup,
/// one GSO flush). 64 matches the kernel's GSO segment cap, so a full batch of
/// one flow becomes a single send.
pub const MAX_BATCH: usize = 64;

/// TUN batches in flight: one being filled by the reader, the rest queued for
/// or being processed by the event loop. Beyond that the reader waits, which
/// pushes back on the TUN (the kernel queues 500 packets, then drops whatever
/// arrives, as for any NIC). Many small batches rather than a few big ones:
/// under load the reader often finds only a few packets (ACKs) per wakeup, and
/// each such batch takes a whole slot; the event loop empties every waiting
/// batch into the flow queue each turn, so the batches only need to cover the
/// moments the loop is busy or not scheduled.
pub const TUN_BATCHES: usize = 16;

/// Bytes of one TUN read batch: 64 KiB (46 packets at MTU 1420; the flow
/// queue, not the batch, decides how many packets one GSO send carries),
/// never less than one read: each read offers one byte more than
/// `max_packet`, so that a longer packet is seen (and dropped) rather than cut.
pub const fn tun_batch_bytes(max_packet: usize) -> usize {
    if max_packet + 1 > TUN_BATCH_BYTES {
        max_packet + 1
    } else {
        TUN_BATCH_BYTES
    }
}

const TUN_BATCH_BYTES: usize = 64 << 10;

/// Bytes of the outbound flow queue ([`crate::fq::FairQueue`]): packets read
/// from the TUN that wait for encryption and the UDP socket. The event loop
/// takes every TUN batch as soon as it can, so the backlog builds here, where
/// the queue serves flows fairly and CoDel picks what to drop, rather than in
/// the kernel's TUN queue (500 packets), which drops whatever arrives next.
/// 1 MiB is 738 packets at MTU 1420: about 5 ms at 2 Gbit/s, beside
/// CoDel's 5 ms target keeping the standing queue short.
pub const FQ_BYTES: usize = 1 << 20;

/// Packets the outbound flow queue holds: slots of `max_packet` bytes,
/// never fewer than two TUN batches.
pub const fn fq_packets(max_packet: usize) -> usize {
    let n = FQ_BYTES / max_packet;
    if n < 2 * MAX_BATCH { 2 * MAX_BATCH } else { n }
}

/// Receive buffers handed to one `recvmmsg`: one event-loop turn's worth of
/// input from the network. Each GRO buffer holds up to 64 datagrams, so two
/// are ~90 full-size data packets, or up to 128 coalesced ACKs. Writing a
/// packet to the TUN runs the kernel's TCP receive path inline, and each ACK
/// written there lets the local TCP sender release about two new segments
/// into the TUN's 500-packet queue at once: a larger turn releases bursts the
/// TUN queue cannot hold (measured: 16 buffers made the sending side's TUN
/// drop thousands of packets per second), a smaller one adds receive calls
/// (still ~0.01 per packet).
pub const RECV_BUFFERS: usize = 2;

/// Size of each receive buffer: one GRO super-datagram can be up to 64 KiB.
pub const RECV_BUFFER_LEN: usize = 65_535;

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

/// Bytes gathered for one TUN write: everything one receive call can decrypt.
pub const TUN_WRITE_BYTES: usize = RECV_BUFFERS * RECV_BUFFER_LEN;

/// Packets gathered for one TUN write: as many as one receive call can
/// decrypt. The smallest data message that carries a packet is 64 bytes: a
/// 20-byte IPv4 header padded to 32 plus [`DATA_OVERHEAD`] (a 32-byte one is
/// a keepalive and carries nothing).
pub const TUN_WRITE_PACKETS: usize = TUN_WRITE_BYTES / 64;

/// All packet buffers of one tunnel at a given MTU.
pub const fn buffer_bytes(max_packet: usize) -> usize {
    // One more batch than the reader's: the loop's own, for reading the TUN itself.
    (TUN_BATCHES + 1) * tun_batch_bytes(max_packet)
        + gso_queue_bytes(max_packet)
        + RECV_BUFFERS * RECV_BUFFER_LEN
        + TUN_WRITE_BYTES
        + fq_packets(max_packet) * max_packet
}

/// Worst-case packet-buffer memory of one tunnel (at `MAX_MTU`): 3.0 MiB.
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
            assert!(tun_batch_bytes(mtu) > mtu);
        }
    }

    #[test]
    fn a_tun_write_holds_every_packet_one_receive_call_can_bring() {
        const SMALLEST_DATA_MESSAGE: usize = 32 + DATA_OVERHEAD;
        assert_eq!(
            TUN_WRITE_PACKETS,
            RECV_BUFFERS * RECV_BUFFER_LEN / SMALLEST_DATA_MESSAGE
        );
    }

    #[test]
    fn the_default_mtu_needs_under_three_mib() {
        let bytes = buffer_bytes(crate::config::DEFAULT_MTU as usize);
        assert!(bytes < 3 << 20, "{bytes}");
    }

    #[test]
    fn the_flow_queue_holds_more_than_two_tun_batches() {
        for mtu in [576usize, 1280, 1420, 1500, MAX_MTU as usize] {
            assert!(fq_packets(mtu) >= 2 * MAX_BATCH);
            assert!(fq_packets(mtu) * mtu <= FQ_BYTES.max(2 * MAX_BATCH * mtu));
        }
    }
}

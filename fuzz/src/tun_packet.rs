//! The `tun_packet` target: IP packets read from the TUN.
//!
//! The input is one packet (anything, up to [`MAX_PACKET`] bytes reach the
//! node). It goes through the IP header parser on its own, then into the
//! initiator of a pair with a live session, which routes everything to the
//! responder; the datagram that comes out is handed to the responder.
//!
//! Invariants:
//! - nothing panics;
//! - the parser's answer is consistent with the bytes (version, length,
//!   addresses);
//! - a packet the parser rejects is dropped and counted as malformed, and
//!   nothing is sent;
//! - a packet it accepts goes out as exactly one data message, and the
//!   responder writes exactly the packet up to its header's length to its
//!   TUN if the source is the initiator's inner address, or drops and counts
//!   it otherwise.
//!
//! The Apple utun 4-byte framing is stripped inside the TUN read syscall
//! path (`io::tun`, `readv`), not by a parser of its own, so it is not
//! fuzzed here.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use ferrotun::node::{IpHeader, parse_ip_header};

use crate::pair::{A_ADDR, B_ADDR, MAX_PACKET, Net, Pair, Tun};

/// The inner addresses the responder accepts from the initiator.
const A_INNER: [IpAddr; 2] = [
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)),
];

/// Panics unless `header` describes `packet`.
fn check_header(packet: &[u8], header: &IpHeader) {
    assert!(header.total_len <= packet.len(), "length beyond the buffer");
    match (packet[0] >> 4, header.source, header.destination) {
        (4, IpAddr::V4(src), IpAddr::V4(dst)) => {
            assert!(header.total_len >= 20);
            assert_eq!(src.octets(), packet[12..16]);
            assert_eq!(dst.octets(), packet[16..20]);
        }
        (6, IpAddr::V6(src), IpAddr::V6(dst)) => {
            assert!(header.total_len >= 40);
            assert_eq!(src.octets(), packet[8..24]);
            assert_eq!(dst.octets(), packet[24..40]);
        }
        other => panic!(
            "header {header:?} for version {}: {other:?}",
            packet[0] >> 4
        ),
    }
}

/// Runs one input. Panics (the fuzzer's crash) when an invariant breaks.
pub fn run(data: &[u8]) {
    if let Some(header) = parse_ip_header(data) {
        check_header(data, &header);
    }
    let packet = &data[..data.len().min(MAX_PACKET)];
    let header = parse_ip_header(packet);

    let now = Instant::now();
    let mut pair = Pair::established(now);
    let malformed_before = pair.a.drops().malformed_ip;
    let mut net = Net::default();
    pair.a.handle_tun_packet(packet, now, &mut net);
    let Some(header) = header else {
        assert!(net.sent.is_empty(), "a malformed packet was sent");
        assert_eq!(pair.a.drops().malformed_ip, malformed_before + 1);
        return;
    };
    assert_eq!(net.sent.len(), 1, "one data message per packet");
    let (destination, datagram) = &net.sent[0];
    assert_eq!((*destination, datagram[0]), (B_ADDR, 4));

    let mut tun = Tun::default();
    let refused_before = pair.b.drops().source_not_allowed;
    pair.b
        .handle_datagram(A_ADDR, datagram, now, &mut Net::default(), &mut tun);
    if A_INNER.contains(&header.source) {
        assert_eq!(tun.written, [&packet[..header.total_len]]);
    } else {
        assert!(tun.written.is_empty(), "a packet from a source not allowed");
        assert_eq!(pair.b.drops().source_not_allowed, refused_before + 1);
    }
}

//! IP packet builders for tests. Shared with the integration tests
//! (`tests/common`) through `#[path]`: `std` only.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Internet checksum over `data`.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for chunk in data.chunks(2) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4/UDP packet (ports 4000 to 5000, valid header checksum) of exactly
/// `total_len` bytes whose payload starts with `seq`, followed by bytes
/// counting up from `seq`.
///
/// # Panics
/// When `total_len` is below 32 (headers and `seq`) or above 65535.
pub fn ipv4_packet(src: Ipv4Addr, dst: Ipv4Addr, seq: u32, total_len: usize) -> Vec<u8> {
    ipv4_udp(src, dst, 4000, 0, seq, total_len)
}

/// [`ipv4_packet`] from UDP port `sport`, with ECN codepoint `ecn` (the low
/// two bits of the TOS byte).
///
/// # Panics
/// Like [`ipv4_packet`].
pub fn ipv4_udp(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    ecn: u8,
    seq: u32,
    total_len: usize,
) -> Vec<u8> {
    assert!((32..=65_535).contains(&total_len));
    let mut p = vec![0u8; total_len];
    p[0] = 0x45;
    p[1] = ecn & 0b11;
    p[2..4].copy_from_slice(&(total_len as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let c = checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    udp_payload(&mut p[20..], sport, seq);
    p
}

/// An IPv6/UDP packet of exactly `total_len` bytes, laid out like
/// [`ipv4_packet`].
///
/// # Panics
/// When `total_len` is below 52 (headers and `seq`) or the payload above 65535.
pub fn ipv6_packet(src: Ipv6Addr, dst: Ipv6Addr, seq: u32, total_len: usize) -> Vec<u8> {
    assert!((52..=65_535 + 40).contains(&total_len));
    let mut p = vec![0u8; total_len];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&((total_len - 40) as u16).to_be_bytes());
    p[6] = 17;
    p[7] = 64;
    p[8..24].copy_from_slice(&src.octets());
    p[24..40].copy_from_slice(&dst.octets());
    udp_payload(&mut p[40..], 4000, seq);
    p
}

/// A UDP header (`sport` to 5000, no checksum) and a payload starting with `seq`.
fn udp_payload(udp: &mut [u8], sport: u16, seq: u32) {
    udp[0..2].copy_from_slice(&sport.to_be_bytes());
    udp[2..4].copy_from_slice(&5000u16.to_be_bytes());
    let len = udp.len() as u16;
    udp[4..6].copy_from_slice(&len.to_be_bytes());
    udp[8..12].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in udp[12..].iter_mut().enumerate() {
        *b = (seq as usize + i) as u8;
    }
}

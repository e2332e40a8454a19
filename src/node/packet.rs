//! Just enough IP header parsing to route a packet and check its source.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The addresses and true length of a well-formed IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpHeader {
    /// Source address.
    pub source: IpAddr,
    /// Destination address.
    pub destination: IpAddr,
    /// Length the header claims; bytes beyond it are padding.
    pub total_len: usize,
}

/// Parses an IPv4 or IPv6 header; `None` when the packet is not a complete,
/// consistent IP packet (the caller drops and counts it).
pub fn parse(packet: &[u8]) -> Option<IpHeader> {
    match packet.first()? >> 4 {
        4 => {
            let header: &[u8; 20] = packet.get(..20)?.try_into().ok()?;
            let ihl = usize::from(header[0] & 0x0f) * 4;
            let total_len = usize::from(u16::from_be_bytes([header[2], header[3]]));
            if ihl < 20 || total_len < ihl || total_len > packet.len() {
                return None;
            }
            let src: [u8; 4] = header[12..16].try_into().ok()?;
            let dst: [u8; 4] = header[16..20].try_into().ok()?;
            Some(IpHeader {
                source: Ipv4Addr::from(src).into(),
                destination: Ipv4Addr::from(dst).into(),
                total_len,
            })
        }
        6 => {
            let header: &[u8; 40] = packet.get(..40)?.try_into().ok()?;
            let total_len = 40 + usize::from(u16::from_be_bytes([header[4], header[5]]));
            if total_len > packet.len() {
                return None;
            }
            let src: [u8; 16] = header[8..24].try_into().ok()?;
            let dst: [u8; 16] = header[24..40].try_into().ok()?;
            Some(IpHeader {
                source: Ipv6Addr::from(src).into(),
                destination: Ipv6Addr::from(dst).into(),
                total_len,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(total_len: u16, ihl: u8) -> Vec<u8> {
        let mut p = vec![0u8; 60];
        p[0] = 0x40 | ihl;
        p[2..4].copy_from_slice(&total_len.to_be_bytes());
        p[12..16].copy_from_slice(&[10, 0, 0, 1]);
        p[16..20].copy_from_slice(&[10, 0, 0, 2]);
        p
    }

    #[test]
    fn a_valid_ipv4_header_yields_addresses_and_length() {
        let h = parse(&v4(40, 5)).unwrap();
        assert_eq!(h.source, IpAddr::from([10, 0, 0, 1]));
        assert_eq!(h.destination, IpAddr::from([10, 0, 0, 2]));
        assert_eq!(h.total_len, 40);
    }

    #[test]
    fn a_valid_ipv6_header_yields_addresses_and_length() {
        let mut p = vec![0u8; 48];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&8u16.to_be_bytes());
        p[23] = 1;
        p[39] = 2;
        let h = parse(&p).unwrap();
        assert_eq!(h.source, "::1".parse::<IpAddr>().unwrap());
        assert_eq!(h.destination, "::2".parse::<IpAddr>().unwrap());
        assert_eq!(h.total_len, 48);
    }

    #[test]
    fn malformed_packets_are_rejected() {
        assert_eq!(parse(&[]), None);
        assert_eq!(parse(&[0x45; 10]), None, "truncated v4 header");
        assert_eq!(parse(&v4(61, 5)), None, "length beyond the buffer");
        assert_eq!(parse(&v4(40, 4)), None, "IHL below 5");
        assert_eq!(parse(&v4(16, 5)), None, "length below the header");
        assert_eq!(parse(&[0x60; 39]), None, "truncated v6 header");
        assert_eq!(parse(&[0x50; 60]), None, "IP version 5");
        let mut p = vec![0u8; 40];
        p[0] = 0x60;
        p[4] = 1;
        assert_eq!(parse(&p), None, "v6 payload beyond the buffer");
    }
}

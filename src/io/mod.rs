//! The thin IO layer: the TUN fd and the UDP socket. No protocol logic here.

pub mod tun;
pub mod udp;

//! The thin IO layer: the TUN fd, the UDP socket and endpoint resolution. No protocol logic here.

pub mod fd_wait;
pub mod resolve;
pub mod tun;
pub mod tun_input;
pub mod udp;
mod udp_socket;

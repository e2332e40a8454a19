//! A socketpair standing in for a TUN fd. Shared with the integration tests
//! (`tests/common`) through `#[path]`: `std` only.

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// How long the app's end waits for a packet (or for room) before a test fails.
pub const APP_TIMEOUT: Duration = Duration::from_secs(5);

/// A `SOCK_DGRAM` socketpair: the tunnel's end (the "TUN fd") and the app's
/// end, whose reads and writes give up after [`APP_TIMEOUT`].
///
/// # Panics
/// When the system refuses a socketpair.
pub fn tun_socketpair() -> (OwnedFd, UnixDatagram) {
    let (tunnel_end, app_end) = UnixDatagram::pair().expect("socketpair");
    app_end
        .set_read_timeout(Some(APP_TIMEOUT))
        .expect("timeout");
    app_end
        .set_write_timeout(Some(APP_TIMEOUT))
        .expect("timeout");
    (OwnedFd::from(tunnel_end), app_end)
}

//! Resource hygiene: starting and stopping many tunnels leaks nothing. Its
//! own test binary, so no other test's fds or threads disturb the counts.

mod common;

use common::{minimal_config, tun_socketpair};
use ferrotun::runtime::{Tunnel, TunnelOptions};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn starting_and_stopping_many_tunnels_leaks_no_fds_or_threads() {
    // Warm up once so lazily created process-wide resources exist before counting.
    let (fd, _app) = tun_socketpair();
    Tunnel::start(minimal_config(), fd, TunnelOptions::default())
        .unwrap()
        .stop();
    let (fds, tasks) = (open_fds(), threads());
    for _ in 0..50 {
        let (fd, app) = tun_socketpair();
        let tunnel = Tunnel::start(minimal_config(), fd, TunnelOptions::default()).unwrap();
        assert!(tunnel.listen_port() > 0);
        tunnel.stop();
        drop(app);
    }
    assert!(
        open_fds() <= fds + 2,
        "fds grew from {fds} to {}",
        open_fds()
    );
    assert!(
        threads() <= tasks + 2,
        "threads grew from {tasks} to {}",
        threads()
    );
}

//! How often an idle tunnel's loop thread wakes, counted by the kernel
//! (`voluntary_ctxt_switches` of each `ferrotun-loop` thread): briefly after
//! traffic, to stay warm for the next packet, then not at all. Its own test
//! binary, so the only loop threads in the process are this test's two.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// The voluntary context switches (one per sleep) of every tunnel loop
/// thread in this process, by thread id.
fn loop_sleeps() -> Vec<(String, u64)> {
    let mut counts = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let task = task.expect("a task entry").path();
        let Ok(comm) = std::fs::read_to_string(task.join("comm")) else {
            continue; // the thread ended meanwhile
        };
        if comm.trim() != "ferrotun-loop" {
            continue;
        }
        let status = std::fs::read_to_string(task.join("status")).expect("task status");
        let sleeps = status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .expect("voluntary_ctxt_switches in status")
            .trim()
            .parse()
            .expect("a count");
        let tid = task.file_name().unwrap().to_string_lossy().into_owned();
        counts.push((tid, sleeps));
    }
    counts.sort();
    counts
}

/// Sleeps per loop thread over `span`.
fn sleeps_during(span: Duration) -> Vec<u64> {
    let before = loop_sleeps();
    std::thread::sleep(span);
    let after = loop_sleeps();
    assert_eq!(
        before.iter().map(|(t, _)| t).collect::<Vec<_>>(),
        after.iter().map(|(t, _)| t).collect::<Vec<_>>(),
        "the same loop threads throughout"
    );
    before
        .iter()
        .zip(&after)
        .map(|((_, b), (_, a))| a - b)
        .collect()
}

#[test]
fn a_loop_wakes_briefly_after_traffic_and_then_sleeps_until_the_next_packet() {
    let pair = Pair::start();
    assert_eq!(loop_sleeps().len(), 2, "one loop thread per tunnel");
    // Both loops handle traffic: the handshake and one packet A to B.
    pair.handshake();
    let traffic = Instant::now();

    // Within the half-second window: one wake per 40 ms; 400 ms hold 10. The
    // bound is loose, for a loaded machine, but an unwoken loop gives 0.
    let warm = sleeps_during(Duration::from_millis(400));
    assert!(warm.iter().all(|&n| n >= 4), "woken while warm: {warm:?}");

    // Past the window: no wakes at all, but for a node timer's early wake
    // (none is due this soon after a handshake; the bound allows one).
    let window_end = traffic + Duration::from_millis(1500);
    std::thread::sleep(window_end.saturating_duration_since(Instant::now()));
    let cold = sleeps_during(Duration::from_secs(1));
    assert!(cold.iter().all(|&n| n <= 1), "woken while idle: {cold:?}");

    // And the next packet still gets through, starting the wakes again.
    transfer(
        &pair.a.app,
        &pair.b.app,
        &[packet_for(1, 100, false, true)],
        1,
    );
    let warm_again = sleeps_during(Duration::from_millis(400));
    assert!(
        warm_again.iter().all(|&n| n >= 4),
        "woken again after the next packet: {warm_again:?}"
    );
    eprintln!(
        "loop sleeps per thread: {warm:?} in 400 ms after traffic, {cold:?} in 1 s idle, {warm_again:?} after the next packet"
    );
}

//! How often an idle tunnel's loop thread wakes, counted by the kernel
//! (`voluntary_ctxt_switches` of each `ferrotun-loop` thread; its CPU time
//! is printed, not asserted): briefly after
//! traffic, to stay warm for the next packet, then not at all. Its own test
//! binary, so the only loop threads in the process are this test's two.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// What the kernel counts of one tunnel loop thread.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Counts {
    /// Voluntary context switches: one per sleep.
    sleeps: u64,
    /// Time on a CPU (`schedstat`; `None` where the kernel does not keep it).
    cpu_ns: Option<u64>,
}

/// The counts of every tunnel loop thread in this process, by thread id.
fn loop_counts() -> Vec<(String, Counts)> {
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
        let cpu_ns = std::fs::read_to_string(task.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok());
        let tid = task.file_name().unwrap().to_string_lossy().into_owned();
        counts.push((tid, Counts { sleeps, cpu_ns }));
    }
    counts.sort_by(|a, b| a.0.cmp(&b.0));
    counts
}

/// What each loop thread did over `span`: its sleeps, and its CPU time.
fn during(span: Duration) -> Vec<Counts> {
    let before = loop_counts();
    std::thread::sleep(span);
    let after = loop_counts();
    assert_eq!(
        before.iter().map(|(t, _)| t).collect::<Vec<_>>(),
        after.iter().map(|(t, _)| t).collect::<Vec<_>>(),
        "the same loop threads throughout"
    );
    before
        .iter()
        .zip(&after)
        .map(|((_, b), (_, a))| Counts {
            sleeps: a.sleeps - b.sleeps,
            cpu_ns: a.cpu_ns.zip(b.cpu_ns).map(|(a, b)| a - b),
        })
        .collect()
}

/// Waits (bounded) until `n` loop threads are seen: a thread takes its name
/// itself once it runs, which may be after `Tunnel::start` returned.
fn wait_for_loop_threads(n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while loop_counts().len() < n {
        assert!(
            Instant::now() < deadline,
            "{n} loop threads never showed up"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(loop_counts().len(), n, "one loop thread per tunnel");
}

fn sleeps(counts: &[Counts]) -> Vec<u64> {
    counts.iter().map(|c| c.sleeps).collect()
}

/// CPU time per thread in µs, for the record (not asserted: timings vary).
fn cpu_us(counts: &[Counts]) -> Vec<Option<u64>> {
    counts
        .iter()
        .map(|c| c.cpu_ns.map(|ns| ns / 1000))
        .collect()
}

#[test]
fn a_loop_wakes_briefly_after_traffic_and_then_sleeps_until_the_next_packet() {
    let pair = Pair::start();
    wait_for_loop_threads(2);
    // Both loops handle traffic: the handshake and one packet A to B.
    pair.handshake();
    let traffic = Instant::now();

    // Within the half-second window: one wake per 40 ms; 400 ms hold 10. The
    // bound is loose, for a loaded machine, but an unwoken loop gives 0.
    let warm = during(Duration::from_millis(400));
    assert!(
        sleeps(&warm).iter().all(|&n| n >= 4),
        "woken while warm: {:?}",
        sleeps(&warm)
    );

    // Past the window: no wakes at all, but for a node timer's early wake
    // (none is due this soon after a handshake; the bound allows one).
    let window_end = traffic + Duration::from_millis(1500);
    std::thread::sleep(window_end.saturating_duration_since(Instant::now()));
    let cold = during(Duration::from_secs(1));
    assert!(
        sleeps(&cold).iter().all(|&n| n <= 1),
        "woken while idle: {:?}",
        sleeps(&cold)
    );

    // And the next packet still gets through, starting the wakes again.
    transfer(
        &pair.a.app,
        &pair.b.app,
        &[packet_for(1, 100, false, true)],
        1,
    );
    let warm_again = during(Duration::from_millis(400));
    assert!(
        sleeps(&warm_again).iter().all(|&n| n >= 4),
        "woken again after the next packet: {:?}",
        sleeps(&warm_again)
    );
    eprintln!(
        "per loop thread, sleeps (CPU µs): {:?} ({:?}) in 400 ms after traffic, {:?} ({:?}) in 1 s idle, {:?} ({:?}) in 400 ms after the next packet",
        sleeps(&warm),
        cpu_us(&warm),
        sleeps(&cold),
        cpu_us(&cold),
        sleeps(&warm_again),
        cpu_us(&warm_again),
    );
}

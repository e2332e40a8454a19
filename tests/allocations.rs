//! The steady state allocates nothing per packet: a counting global
//! allocator watches a bulk transfer through two tunnels. Its own test binary,
//! so no other test allocates concurrently.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use common::*;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: defers every operation to the system allocator unchanged; only counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn a_bulk_transfer_allocates_nothing_per_packet() {
    let pair = Pair::start();
    let warmup: Vec<Vec<u8>> = (0..2000u32)
        .map(|i| packet_for(i, 1000, i % 2 == 0, true))
        .collect();
    transfer(&pair.a.app, &pair.b.app, &warmup, 64);
    let back: Vec<Vec<u8>> = (0..500u32)
        .map(|i| packet_for(i, 200, false, false))
        .collect();
    transfer(&pair.b.app, &pair.a.app, &back, 64);

    let packets: Vec<Vec<u8>> = (0..20_000u32)
        .map(|i| packet_for(i, 1000, i % 2 == 0, true))
        .collect();
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    transfer(&pair.a.app, &pair.b.app, &packets, 64);
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    eprintln!("{allocations} allocations for {} packets", packets.len());
    // A handful of amortised allocations (channel blocks, timers) is fine; one
    // per packet, or per batch, is not.
    assert!(
        allocations < 100,
        "{allocations} allocations for {} packets",
        packets.len()
    );
}

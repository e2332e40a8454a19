//! Test support, compiled for this crate's tests and under the `testing`
//! feature (the fuzz targets): a simulated link between two [`Node`]s that
//! jumps time from one wakeup to the next ([`sim`]), and the helpers every
//! test shares: configs ([`config`]), IP packets ([`packet`]) and socketpair
//! TUNs ([`socket`]).
//!
//! `config.rs`, `packet.rs` and `socket.rs` are also compiled into the
//! integration tests (`tests/common`) with `#[path]`, so they name the
//! crate's types through `super::` and otherwise use only `std`.
//!
//! # The clock
//!
//! boringtun reads its own clock. With the `testing` feature it reads
//! `mock_instant`'s per-thread clock instead, which [`advance_clock`] moves
//! together with the simulation's `now`, so a simulated minute is a minute
//! to boringtun's timers too. Without the feature (a plain `cargo test`)
//! boringtun's clock is the real one and a time jump is invisible to it:
//! tests that depend on boringtun's timers are then `#[ignore]`d with
//! [`NEEDS_MOCK_CLOCK`] as the reason.
//!
//! [`Node`]: crate::node::Node

#[allow(unused_imports)] // names for `config.rs`, which the integration tests share
use crate::config::{Endpoint, Mtu, PeerConfig, PrivateKey, PublicKey, TunnelConfig};

pub mod config;
pub mod packet;
pub mod sim;
pub mod socket;

/// Why a test is ignored without the `testing` feature.
pub const NEEDS_MOCK_CLOCK: &str =
    "needs boringtun's mock clock: run `cargo test --lib --features testing`";

/// Whether boringtun runs on the mock clock (the `testing` feature is on).
pub const MOCK_CLOCK: bool = cfg!(feature = "testing");

/// Moves boringtun's clock (this thread's mock clock) forward by `by`.
/// Without the `testing` feature boringtun's clock is real and this does
/// nothing.
pub fn advance_clock(by: std::time::Duration) {
    #[cfg(feature = "testing")]
    mock_instant::MockClock::advance(by);
    #[cfg(not(feature = "testing"))]
    let _ = by;
}

//! Ferrotun: a WireGuard tunnel core for mobile VPN apps.
//!
//! The host OS creates the TUN interface and hands over its file descriptor;
//! Ferrotun reads IP packets in batches, encrypts them with boringtun, sends
//! them as UDP through a GSO send queue, receives with GRO, decrypts and writes
//! back.
//!
//! Sans-IO: [`config`] and [`node`] hold the logic and never touch a socket, a
//! thread or the clock (boringtun's own timer clock is the one exception,
//! documented on [`node`]); [`settings`] turns a config into what the OS must
//! be told about the interface. [`gso`] (the send queue), [`batch`] (packet
//! batches) and [`fq`] (flow-fair queueing with CoDel) are pure data structures.
//! IO lives in [`io`] (TUN fd, UDP socket, endpoint resolution), [`runtime`] wires the pieces into
//! threads and an event loop, [`platform`] holds OS specifics and [`ffi`] is
//! the UniFFI surface for Kotlin and Swift. `testing` (tests and the `testing`
//! feature only) simulates two nodes over a link with a clock that jumps.

pub mod batch;
pub mod config;
pub mod ffi;
pub mod fq;
pub mod gso;
pub mod io;
pub mod node;
pub mod platform;
pub mod runtime;
pub mod settings;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

uniffi::setup_scaffolding!();

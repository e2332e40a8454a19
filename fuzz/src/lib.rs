//! Harness for Ferrotun's cargo-fuzz targets (`fuzz_targets/`), one module
//! per target; the targets only call [`wg_quick::run`], [`ffi_config::run`],
//! [`datagram::run`] and [`tun_packet::run`]. Each `run` panics when an
//! invariant breaks, which libFuzzer reports as a crash.
//!
//! Being a library, the harness also serves `examples/write_seeds.rs`, which
//! writes the seeds that hold real captured datagrams.

pub mod datagram;
pub mod ffi_config;
pub mod pair;
pub mod reader;
pub mod tun_packet;
pub mod wg_quick;

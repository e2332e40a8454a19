//! Runs this crate's `ferrotun` binary from a test, also when it was built for
//! another CPU.
//!
//! `FERROTUN_BIN_RUNNER`, when set, goes in front of the binary (split on
//! whitespace). `.ci/cross.sh` sets it to `qemu-aarch64 -L
//! /usr/aarch64-linux-gnu` (or `qemu-arm ...`): the kernel cannot exec an ARM
//! binary by itself, and cargo's `CARGO_TARGET_<TRIPLE>_RUNNER` wraps only the
//! test binaries, not what they spawn (directly, behind `ip netns exec` or
//! through `tests/support/tunfd.py`).
#![allow(dead_code)] // each test file uses a different subset

use std::process::Command;

const FERROTUN: &str = env!("CARGO_BIN_EXE_ferrotun");

/// The command line that runs `ferrotun`: the runner's words, then the binary.
pub fn argv() -> Vec<String> {
    let runner = std::env::var("FERROTUN_BIN_RUNNER").unwrap_or_default();
    let mut argv: Vec<String> = runner.split_whitespace().map(String::from).collect();
    argv.push(FERROTUN.to_string());
    argv
}

/// [`argv`] as a [`Command`], to add the subcommand and its arguments to.
pub fn command() -> Command {
    let argv = argv();
    let mut command = Command::new(&argv[0]);
    command.args(&argv[1..]);
    command
}

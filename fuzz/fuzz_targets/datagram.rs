//! See `ferrotun_fuzz::datagram` for what this target feeds and checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferrotun_fuzz::datagram::run(data));

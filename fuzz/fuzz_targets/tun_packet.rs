//! See `ferrotun_fuzz::tun_packet` for what this target feeds and checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferrotun_fuzz::tun_packet::run(data));

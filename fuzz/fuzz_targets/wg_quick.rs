//! See `ferrotun_fuzz::wg_quick` for what this target feeds and checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferrotun_fuzz::wg_quick::run(data));

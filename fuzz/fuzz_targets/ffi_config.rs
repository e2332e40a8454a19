//! See `ferrotun_fuzz::ffi_config` for what this target feeds and checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferrotun_fuzz::ffi_config::run(data));

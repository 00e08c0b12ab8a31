#![no_main]
//! `cargo fuzz run wire_frame`: see `kintsugi_fuzz::wire_frame`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| kintsugi_fuzz::wire_frame(data));

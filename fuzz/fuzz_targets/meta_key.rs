#![no_main]
//! `cargo fuzz run meta_key`: see `kintsugi_fuzz::meta_key`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| kintsugi_fuzz::meta_key(data));

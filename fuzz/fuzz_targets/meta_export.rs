#![no_main]
//! `cargo fuzz run meta_export`: see `kintsugi_fuzz::meta_export`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| kintsugi_fuzz::meta_export(data));

#![no_main]
//! `cargo fuzz run meta_record`: see `kintsugi_fuzz::meta_record`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| kintsugi_fuzz::meta_record(data));

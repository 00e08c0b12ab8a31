#![no_main]
//! `cargo fuzz run join_token`: see `kintsugi_fuzz::join_token`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| kintsugi_fuzz::join_token(data));

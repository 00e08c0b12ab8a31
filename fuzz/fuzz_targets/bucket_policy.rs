#![no_main]
//! `cargo fuzz run bucket_policy`: see `kintsugi_fuzz::bucket_policy`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| kintsugi_fuzz::bucket_policy(data));

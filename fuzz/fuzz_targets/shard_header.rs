#![no_main]
//! `cargo fuzz run shard_header`: see `kintsugi_fuzz::shard_header`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| kintsugi_fuzz::shard_header(data));

#![no_main]
//! `cargo fuzz run shard_body`: see `kintsugi_fuzz::shard_body`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| kintsugi_fuzz::shard_body(data));

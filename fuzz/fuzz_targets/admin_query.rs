#![no_main]
//! `cargo fuzz run admin_query`: see `kintsugi_fuzz::admin_query`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| kintsugi_fuzz::admin_query(data));

#![no_main]
//! `cargo fuzz run client_xml`: see `kintsugi_fuzz::client_xml`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| kintsugi_fuzz::client_xml(data));

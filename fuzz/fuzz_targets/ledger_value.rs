#![no_main]
//! `cargo fuzz run ledger_value`: see `kintsugi_fuzz::ledger_value`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| kintsugi_fuzz::ledger_value(data));

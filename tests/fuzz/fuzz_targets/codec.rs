#![no_main]
//! libFuzzer entry: the harness is shared with tests/fuzz_corpora.rs.

libfuzzer_sys::fuzz_target!(|data: &[u8]| edgemq_fuzz::codec(data));

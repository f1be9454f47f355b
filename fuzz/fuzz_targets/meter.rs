//! Fuzz target: the decoders (`decode` with fuzzed options over every supported link type,
//! `decode_ndpi`) and the flow tables of both profiles over a sequence of fuzzed frames. Input
//! format: see `netvigil_fuzz::meter`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netvigil_fuzz::meter(data));

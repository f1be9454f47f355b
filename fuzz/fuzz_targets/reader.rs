//! Fuzz target: the capture reader (`FileSource`, pcap and pcapng) over the input written to a
//! per-process temporary file, read to the end, every packet metered with both profiles.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netvigil_fuzz::reader(data));

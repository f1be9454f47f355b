//! Who is on the network: the device inventory (IP ↔ MAC, vendors, hostnames, OS hints), and
//! the country and autonomous system of external addresses. Compute only: parsers and bounded
//! state over packets and flows the pipeline hands in; no printing, no network or database I/O
//! (databases are files read at open).

pub mod device;
pub mod geo;
pub mod oui;

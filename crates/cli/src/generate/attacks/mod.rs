//! The scenarios' wire shapes, one file per group. Each scenario draws its hosts from the
//! shared pool, appends its packets to the context and reports who attacked whom and how many
//! flows the meter will count (its parameters are the constants at the top of each file, and
//! docs/generator.md lists them).

pub(crate) mod amplification;
pub(crate) mod brute_force;
pub(crate) mod c2;
pub(crate) mod flood;
pub(crate) mod http;
pub(crate) mod scan;

/// `n` distinct client ports from the ephemeral range (32768–60999, Linux's), in random order.
pub(crate) fn ephemeral_ports(rng: &mut fastrand::Rng, n: usize) -> Vec<u16> {
    let mut all: Vec<u16> = (32768..61000).collect();
    rng.shuffle(&mut all);
    all.truncate(n);
    all
}

//! Detection: tree ensembles flattened for fast evaluation ([`ensemble`]), exact TreeSHAP
//! explanations over the same trees ([`shap`]), and import of models trained elsewhere
//! ([`import`]). A compute crate: no printing, no I/O beyond parsing what it is given.

pub mod ensemble;
pub mod import;
pub mod shap;

pub use ensemble::{Ensemble, Link, Missing, Node, Tree};

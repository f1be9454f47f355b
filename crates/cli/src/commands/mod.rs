//! One file per command. Commands use the pipeline and the console, never each other.

pub mod alerts;
pub mod analyze;
pub mod baseline;
pub mod capture;
pub mod chart;
pub mod demo;
pub mod devices;
pub mod eval_alerts;
pub mod features;
pub mod incidents;
pub mod interfaces;
pub mod lake;
pub mod model;
pub mod serve;
pub mod user;

//! Detection: tree ensembles flattened for fast evaluation ([`ensemble`]), exact TreeSHAP
//! explanations over the same trees ([`shap`], remembered by [`explain`]), import of models
//! trained elsewhere ([`import`]), rule detectors over flows and windows ([`rules`]) and the
//! window anomaly baseline ([`baseline`]). Every detector emits an [`Alert`]. A compute crate:
//! no printing, no I/O beyond parsing what it is given.

pub mod alert;
pub mod baseline;
pub mod dataset;
pub mod ensemble;
pub mod episode;
pub mod eve;
pub mod explain;
pub mod family;
pub mod import;
pub mod incident;
pub mod metrics;
pub mod model;
pub mod reading;
pub mod rules;
pub mod score;
pub mod shap;
pub mod summary;
pub mod train;

pub use alert::{Alert, Detector, EpisodeStage, EpisodeState, FlowRef};
pub use ensemble::{Ensemble, Link, Missing, Node, Tree};
pub use episode::{Closed, EpisodeConfig, Episodes};
pub use family::Family;
pub use model::{Model, ModelError};
pub use score::{FlowScore, Scorer};

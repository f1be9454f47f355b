//! Models trained elsewhere, read into an [`Ensemble`](crate::Ensemble).

pub mod lightgbm;
pub mod xgboost;

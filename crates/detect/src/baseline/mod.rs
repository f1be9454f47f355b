//! Window anomaly baseline (in progress).

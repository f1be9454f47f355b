//! The baseline file: JSON with a format name and version, the feature names (a file learned
//! with other features is refused, naming them), the settings, the statistics and the training
//! fingerprint. Reading walks the JSON by hand so every error names the field at fault.

use std::net::IpAddr;

use serde_json::{json, Map, Value};

use super::features::{feature_names, N_WINDOW_FEATURES};
use super::{Baseline, RobustStats, Training};

/// The `format` of every baseline file.
pub const FORMAT: &str = "netvigil-baseline";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u64 = 1;

/// Accepted range of `threshold` and `contribution_z` (robust z-scores): more than 0, at most
/// this. A score of 1,000 is already far beyond any window (`docs/baseline.md`).
pub const Z_MAX: f64 = 1000.0;
/// Accepted range of `marker_min_count`.
pub const MARKER_MIN_COUNT_RANGE: (u64, u64) = (1, 1_000_000_000);
/// Accepted range of `max_hosts_per_window`.
pub const MAX_HOSTS_RANGE: (u64, u64) = (1, 1_048_576);
/// Accepted range of `max_host_alerts`.
pub const MAX_HOST_ALERTS_RANGE: (u64, u64) = (1, 1_000_000);
/// Accepted range of `max_known_destinations`.
pub const MAX_KNOWN_DESTINATIONS_RANGE: (u64, u64) = (1, 16_777_216);

/// The keys of the file's top level; any other is refused.
const ROOT_KEYS: [&str; 15] = [
    "format",
    "version",
    "features",
    "window_us",
    "threshold",
    "contribution_z",
    "marker_min_count",
    "severity_edges",
    "max_hosts_per_window",
    "max_host_alerts",
    "max_known_destinations",
    "global",
    "host",
    "known_destinations",
    "training",
];
const STATS_KEYS: [&str; 4] = ["samples", "median", "mad", "scale"];
const TRAINING_KEYS: [&str; 9] = [
    "windows",
    "host_windows",
    "hosts",
    "flows",
    "traffic_windows",
    "host_flows_dropped",
    "first_us",
    "last_us",
    "inputs",
];

/// Why a baseline file could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BaselineError {
    /// Not JSON at all.
    #[error("baseline file is not JSON: {0}")]
    Json(String),
    /// JSON, but not a baseline.
    #[error("not a netvigil baseline file: `format` is {found:?}, expected {FORMAT:?}")]
    Format {
        /// The `format` found.
        found: String,
    },
    /// A version this build does not read.
    #[error(
        "baseline format version {found} is not supported (this build reads {FORMAT_VERSION})"
    )]
    Version {
        /// The version found.
        found: u64,
    },
    /// Learned with a different feature list.
    #[error(
        "the baseline was learned with other features: missing {missing:?}, unexpected {unexpected:?} \
         (this build's, in order: {expected:?})"
    )]
    Features {
        /// Features this build has that the file lacks.
        missing: Vec<String>,
        /// Features the file has that this build lacks.
        unexpected: Vec<String>,
        /// This build's features, in order (the order must match too).
        expected: Vec<String>,
        /// The file's features, in order.
        found: Vec<String>,
    },
    /// A field missing, of the wrong type or out of range.
    #[error("baseline field `{field}`: {reason}")]
    Field {
        /// Path of the field (`global.median[3]`).
        field: String,
        /// What is wrong.
        reason: String,
    },
}

fn field_err(field: impl Into<String>, reason: impl Into<String>) -> BaselineError {
    BaselineError::Field {
        field: field.into(),
        reason: reason.into(),
    }
}

fn stats_json(s: &RobustStats) -> Value {
    json!({
        "samples": s.samples,
        "median": s.median,
        "mad": s.mad,
        "scale": s.scale,
    })
}

impl Baseline {
    /// The file form (pretty-printed JSON; `docs/baseline.md` documents every field).
    pub fn to_json(&self) -> String {
        let t = &self.training;
        let v = json!({
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "features": feature_names(),
            "window_us": self.width_us,
            "threshold": self.threshold,
            "contribution_z": self.contribution_z,
            "marker_min_count": self.marker_min_count,
            "severity_edges": self.severity_edges,
            "max_hosts_per_window": self.max_hosts_per_window,
            "max_host_alerts": self.max_host_alerts,
            "max_known_destinations": self.max_known_destinations,
            "global": stats_json(&self.global),
            "host": stats_json(&self.host),
            "known_destinations": self.known_destinations.iter().map(|ip| ip.to_string()).collect::<Vec<_>>(),
            "training": {
                "windows": t.windows,
                "host_windows": t.host_windows,
                "hosts": t.hosts,
                "flows": t.flows,
                "traffic_windows": t.traffic_windows,
                "host_flows_dropped": t.host_flows_dropped,
                "first_us": t.first_us,
                "last_us": t.last_us,
                "inputs": t.inputs,
            },
        });
        // A `Value` always serialises.
        serde_json::to_string_pretty(&v).unwrap_or_default()
    }

    /// Reads the file form; errors name the field at fault.
    pub fn from_json(s: &str) -> Result<Baseline, BaselineError> {
        let v: Value = serde_json::from_str(s).map_err(|e| BaselineError::Json(e.to_string()))?;
        let root = v.as_object().ok_or_else(|| {
            field_err(
                "(top level)",
                "expected a JSON object with named fields (docs/baseline.md)",
            )
        })?;
        let r = Reader { root };
        let format = r.str("format")?;
        if format != FORMAT {
            return Err(BaselineError::Format { found: format });
        }
        let version = r.u64("version")?;
        if version != FORMAT_VERSION {
            return Err(BaselineError::Version { found: version });
        }
        check_features(r.get("features")?)?;
        known_keys(root, "", &ROOT_KEYS)?;
        let width_us = r.i64("window_us")?;
        if !(flow::window::WIDTH_RANGE_US.0..=flow::window::WIDTH_RANGE_US.1).contains(&width_us) {
            return Err(field_err(
                "window_us",
                format!("{width_us} is not within 1 s … 1 h"),
            ));
        }
        let threshold = r.z("threshold")?;
        let contribution_z = r.z("contribution_z")?;
        let edges = r.f64_vec("severity_edges", Some(4))?;
        if let Some(i) = edges.iter().position(|&e| e <= 0.0) {
            return Err(field_err(
                format!("severity_edges[{i}]"),
                format!(
                    "{} is out of range (accepted: a number more than 0)",
                    edges[i]
                ),
            ));
        }
        if edges.windows(2).any(|w| w[0] > w[1]) {
            return Err(field_err("severity_edges", "must be in increasing order"));
        }
        let mut severity_edges = [0.0; 4];
        severity_edges.copy_from_slice(&edges);
        let known = r.get("known_destinations")?;
        let known = known
            .as_array()
            .ok_or_else(|| field_err("known_destinations", "expected an array"))?;
        let max_known_destinations =
            r.usize_in("max_known_destinations", MAX_KNOWN_DESTINATIONS_RANGE)?;
        if known.len() > max_known_destinations {
            return Err(field_err(
                "known_destinations",
                format!(
                    "{} addresses, more than max_known_destinations ({max_known_destinations})",
                    known.len()
                ),
            ));
        }
        let mut known_destinations = Vec::with_capacity(known.len());
        for (i, k) in known.iter().enumerate() {
            let ip: Option<IpAddr> = k.as_str().and_then(|s| s.parse().ok());
            known_destinations.push(ip.ok_or_else(|| {
                field_err(format!("known_destinations[{i}]"), "expected an IP address")
            })?);
        }
        let t = r.object("training")?;
        known_keys(t.obj, "training.", &TRAINING_KEYS)?;
        let inputs = t.get("inputs")?;
        let inputs = inputs
            .as_array()
            .ok_or_else(|| field_err("training.inputs", "expected an array"))?
            .iter()
            .enumerate()
            .map(|(i, x)| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| field_err(format!("training.inputs[{i}]"), "expected a string"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (first_us, last_us) = (t.opt_i64("first_us")?, t.opt_i64("last_us")?);
        if let (Some(a), Some(b)) = (first_us, last_us) {
            if a > b {
                return Err(field_err(
                    "training.last_us",
                    format!("{b} is before training.first_us ({a})"),
                ));
            }
        }
        Ok(Baseline {
            width_us,
            threshold,
            contribution_z,
            marker_min_count: r.u64_in("marker_min_count", MARKER_MIN_COUNT_RANGE)?,
            severity_edges,
            max_hosts_per_window: r.usize_in("max_hosts_per_window", MAX_HOSTS_RANGE)?,
            max_host_alerts: r.usize_in("max_host_alerts", MAX_HOST_ALERTS_RANGE)?,
            max_known_destinations,
            global: r.object("global")?.stats()?,
            host: r.object("host")?.stats()?,
            known_destinations,
            training: Training {
                windows: t.u64("windows")?,
                host_windows: t.u64("host_windows")?,
                hosts: t.u64("hosts")?,
                flows: t.u64("flows")?,
                traffic_windows: t.u64("traffic_windows")?,
                host_flows_dropped: t.u64("host_flows_dropped")?,
                first_us,
                last_us,
                inputs,
            },
        })
    }
}

/// Refuses a key of `obj` not in `keys`, naming it (with the path prefix).
fn known_keys(obj: &Map<String, Value>, prefix: &str, keys: &[&str]) -> Result<(), BaselineError> {
    match obj.keys().find(|k| !keys.contains(&k.as_str())) {
        Some(k) => Err(field_err(
            format!("{prefix}{k}"),
            format!("unknown field (expected one of: {})", keys.join(", ")),
        )),
        None => Ok(()),
    }
}

fn check_features(v: &Value) -> Result<(), BaselineError> {
    let arr = v
        .as_array()
        .ok_or_else(|| field_err("features", "expected an array of names"))?;
    let mut found = Vec::with_capacity(arr.len());
    for (i, x) in arr.iter().enumerate() {
        found.push(
            x.as_str()
                .ok_or_else(|| field_err(format!("features[{i}]"), "expected a string"))?
                .to_string(),
        );
    }
    let expected: Vec<String> = feature_names().iter().map(|s| s.to_string()).collect();
    if found != expected {
        return Err(BaselineError::Features {
            missing: expected
                .iter()
                .filter(|e| !found.contains(e))
                .cloned()
                .collect(),
            unexpected: found
                .iter()
                .filter(|f| !expected.contains(f))
                .cloned()
                .collect(),
            expected,
            found,
        });
    }
    Ok(())
}

/// Typed access to one JSON object, naming fields by their path.
struct Reader<'a> {
    root: &'a Map<String, Value>,
}

/// A nested object with its path prefix.
struct Sub<'a> {
    prefix: &'static str,
    obj: &'a Map<String, Value>,
}

impl<'a> Reader<'a> {
    fn get(&self, k: &str) -> Result<&'a Value, BaselineError> {
        self.root.get(k).ok_or_else(|| field_err(k, "missing"))
    }

    fn str(&self, k: &str) -> Result<String, BaselineError> {
        self.get(k)?
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| field_err(k, "expected a string"))
    }

    fn u64(&self, k: &str) -> Result<u64, BaselineError> {
        as_u64(self.get(k)?, k)
    }

    fn u64_in(&self, k: &str, (lo, hi): (u64, u64)) -> Result<u64, BaselineError> {
        let v = self.u64(k)?;
        if (lo..=hi).contains(&v) {
            Ok(v)
        } else {
            Err(field_err(
                k,
                format!("{v} is out of range (accepted: an integer from {lo} to {hi})"),
            ))
        }
    }

    fn usize_in(&self, k: &str, range: (u64, u64)) -> Result<usize, BaselineError> {
        usize::try_from(self.u64_in(k, range)?).map_err(|_| field_err(k, "too large"))
    }

    fn i64(&self, k: &str) -> Result<i64, BaselineError> {
        self.get(k)?
            .as_i64()
            .ok_or_else(|| field_err(k, "expected an integer"))
    }

    /// A robust z: more than 0, at most [`Z_MAX`].
    fn z(&self, k: &str) -> Result<f64, BaselineError> {
        let x = as_f64(self.get(k)?, k)?;
        if x > 0.0 && x <= Z_MAX {
            Ok(x)
        } else {
            Err(field_err(
                k,
                format!("{x} is out of range (accepted: a number more than 0 and at most {Z_MAX})"),
            ))
        }
    }

    fn f64_vec(&self, k: &str, len: Option<usize>) -> Result<Vec<f64>, BaselineError> {
        f64_vec(self.get(k)?, k, len)
    }

    fn object(&self, k: &'static str) -> Result<Sub<'a>, BaselineError> {
        let obj = self
            .get(k)?
            .as_object()
            .ok_or_else(|| field_err(k, "expected an object"))?;
        Ok(Sub { prefix: k, obj })
    }
}

impl<'a> Sub<'a> {
    fn path(&self, k: &str) -> String {
        format!("{}.{k}", self.prefix)
    }

    fn get(&self, k: &str) -> Result<&'a Value, BaselineError> {
        self.obj
            .get(k)
            .ok_or_else(|| field_err(self.path(k), "missing"))
    }

    fn u64(&self, k: &str) -> Result<u64, BaselineError> {
        as_u64(self.get(k)?, &self.path(k))
    }

    fn opt_i64(&self, k: &str) -> Result<Option<i64>, BaselineError> {
        match self.get(k)? {
            Value::Null => Ok(None),
            v => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| field_err(self.path(k), "expected an integer or null")),
        }
    }

    fn stats(&self) -> Result<RobustStats, BaselineError> {
        known_keys(self.obj, &format!("{}.", self.prefix), &STATS_KEYS)?;
        let n = Some(N_WINDOW_FEATURES);
        let scale = f64_vec(self.get("scale")?, &self.path("scale"), n)?;
        if let Some(i) = scale.iter().position(|&s| s <= 0.0) {
            return Err(field_err(
                format!("{}[{i}]", self.path("scale")),
                "must be greater than 0",
            ));
        }
        let mad = f64_vec(self.get("mad")?, &self.path("mad"), n)?;
        if let Some(i) = mad.iter().position(|&m| m < 0.0) {
            return Err(field_err(
                format!("{}[{i}]", self.path("mad")),
                "must not be negative",
            ));
        }
        Ok(RobustStats {
            samples: self.u64("samples")?,
            median: f64_vec(self.get("median")?, &self.path("median"), n)?,
            mad,
            scale,
        })
    }
}

fn as_u64(v: &Value, path: &str) -> Result<u64, BaselineError> {
    v.as_u64()
        .ok_or_else(|| field_err(path, "expected a non-negative integer"))
}

fn as_f64(v: &Value, path: &str) -> Result<f64, BaselineError> {
    v.as_f64()
        .filter(|x| x.is_finite())
        .ok_or_else(|| field_err(path, "expected a finite number"))
}

fn f64_vec(v: &Value, path: &str, len: Option<usize>) -> Result<Vec<f64>, BaselineError> {
    let arr = v
        .as_array()
        .ok_or_else(|| field_err(path, "expected an array of numbers"))?;
    if let Some(n) = len {
        if arr.len() != n {
            return Err(field_err(
                path,
                format!("has {} values, expected {n}", arr.len()),
            ));
        }
    }
    arr.iter()
        .enumerate()
        .map(|(i, x)| as_f64(x, &format!("{path}[{i}]")))
        .collect()
}

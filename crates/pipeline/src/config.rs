//! One configuration for a whole run: what to read, how to meter, what to detect and where
//! the results go. Every part has defaults (`Default`), reads from JSON (serde, unknown keys
//! refused) and is validated with errors naming the field.

use std::path::PathBuf;

use flow::{HomeNet, MeterConfig, Profile, WindowConfig};
use serde::{Deserialize, Serialize};

use crate::detect::DetectConfig;
use crate::error::{PipelineError, Result};
use crate::sink::alerts::AlertsConfig;
use crate::sink::flows::FlowsConfig;
use crate::sink::store::StoreConfig;
use crate::sink::windows::WindowsConfig;

/// The default home network: RFC 1918, RFC 4193 unique-local, link-local and loopback.
pub const DEFAULT_HOME_NET: &str =
    "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7,fe80::/10,127.0.0.0/8,::1/128";

/// How packets become flows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MeterSettings {
    /// Flow rules: `cic` (fixed CICFlowMeter semantics) or `nfstream`.
    pub profile: String,
    /// Idle timeout, seconds (`None`: the profile's).
    pub idle_timeout_s: Option<f64>,
    /// Active timeout, seconds (`None`: the profile's).
    pub active_timeout_s: Option<f64>,
    /// Most flows tracked at once; beyond it the oldest is evicted.
    pub max_flows: usize,
    /// Read DNS, TLS and HTTP metadata.
    pub app_metadata: bool,
    /// Home networks (comma-separated CIDRs).
    pub home_net: String,
    /// `cic`: a closed TCP flow ends this long after its last packet (seconds) instead of at
    /// the idle timeout (`None`: the reference's rule; live capture: 0.5).
    pub close_linger_s: Option<f64>,
}

impl Default for MeterSettings {
    fn default() -> Self {
        MeterSettings {
            profile: "cic".into(),
            idle_timeout_s: None,
            active_timeout_s: None,
            max_flows: 4_000_000,
            app_metadata: true,
            home_net: DEFAULT_HOME_NET.into(),
            close_linger_s: None,
        }
    }
}

fn seconds_to_us(field: &str, s: Option<f64>, default: i64) -> Result<i64> {
    match s {
        None => Ok(default),
        Some(v) if v.is_finite() && v > 0.0 && v <= 86_400.0 => Ok((v * 1e6).round() as i64),
        Some(v) => Err(PipelineError::config(
            field,
            format!("{v}: must be more than 0 and at most 86400 seconds"),
        )),
    }
}

impl MeterSettings {
    /// The flow table's configuration; errors name the field.
    pub fn meter_config(&self) -> Result<MeterConfig> {
        let profile = Profile::parse(&self.profile).ok_or_else(|| {
            PipelineError::config("profile", format!("unknown profile {}", self.profile))
        })?;
        let mut cfg = MeterConfig::new(profile);
        cfg.idle_timeout_us =
            seconds_to_us("idle-timeout", self.idle_timeout_s, cfg.idle_timeout_us)?;
        cfg.active_timeout_us = seconds_to_us(
            "active-timeout",
            self.active_timeout_s,
            cfg.active_timeout_us,
        )?;
        cfg.max_flows = self.max_flows.max(1);
        cfg.app_metadata = self.app_metadata;
        cfg.close_linger_us = self
            .close_linger_s
            .map(|s| seconds_to_us("close-linger", Some(s), 0))
            .transpose()?;
        Ok(cfg)
    }

    /// The home network; errors name the field.
    pub fn home(&self) -> Result<HomeNet> {
        self.home_net
            .parse()
            .map_err(|e| PipelineError::config("home-net", format!("{e}")))
    }
}

/// Traffic windows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WindowSettings {
    /// Width, µs (1 s … 1 h).
    pub width_us: i64,
    /// Addresses and ports each written window lists (beyond: bounded estimates).
    pub keep: usize,
    /// Keys each in-memory summary keeps exactly (0: the larger of `keep` and the
    /// windower's default, so a merged summary stays exact longer).
    pub memory_keep: usize,
    /// Largest flows listed per window.
    pub top_flows: usize,
    /// Compute windows even when no sink writes them (for an observer such as the console
    /// summary).
    pub always: bool,
}

impl Default for WindowSettings {
    fn default() -> Self {
        WindowSettings {
            width_us: 60_000_000,
            keep: 256,
            memory_keep: 0,
            top_flows: 10,
            always: false,
        }
    }
}

impl WindowSettings {
    /// The windower's configuration: in memory the summaries keep more than the written
    /// lists, so a merged summary stays exact longer.
    pub fn window_config(&self, home: HomeNet) -> Result<WindowConfig> {
        if !(1_000_000..=3_600_000_000).contains(&self.width_us) {
            return Err(PipelineError::config(
                "windows",
                format!("{} µs: must be between 1s and 1h", self.width_us),
            ));
        }
        Ok(WindowConfig {
            width_us: self.width_us,
            keep: match self.memory_keep {
                0 => self.keep.max(1).max(WindowConfig::default().keep),
                n => n,
            },
            top_flows: self.top_flows,
            home,
        })
    }
}

/// A whole run.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// Capture files, directories of them, FIFOs, or `-` (standard input); several are
    /// merged in time order.
    pub inputs: Vec<PathBuf>,
    /// Metering.
    pub meter: MeterSettings,
    /// Traffic windows.
    pub windows: WindowSettings,
    /// Detection (`None`: off).
    pub detect: Option<DetectConfig>,
    /// The flow export.
    pub flows: Option<FlowsConfig>,
    /// The windows file.
    pub windows_out: Option<WindowsConfig>,
    /// The alerts file.
    pub alerts_out: Option<AlertsConfig>,
    /// The store.
    pub store: Option<StoreConfig>,
    /// GeoIP and ASN databases for the flows' ends (`None`: no lookups).
    pub geoip: Option<crate::enrich::GeoSettings>,
    /// Keep the device inventory (who is on the network) and name each flow end's device.
    pub devices: bool,
    /// The inventory file, written when the run ends (with `devices`).
    pub devices_out: Option<crate::sink::devices::DevicesConfig>,
    /// Threads for metering and detection (0: the available cores). Sinks always have their
    /// own. The output is the same for any number.
    pub threads: usize,
    /// Events each edge holds (flow batches, windows, alert batches).
    pub edge_capacity: usize,
    /// Flows per batch between components.
    pub batch_flows: usize,
    /// The longest results wait in a batch before they move on, ms (`None`: until the batch
    /// is full; live capture: 250, so they reach the store within a second).
    pub max_delay_ms: Option<u64>,
    /// How often a live run (`max_delay_ms` set) sends the device inventory to the sinks, ms
    /// (`None`: every minute, `run::DEVICE_SNAPSHOT_EVERY`). A file run sends it once, when it
    /// ends.
    pub devices_every_ms: Option<u64>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            inputs: Vec::new(),
            meter: MeterSettings::default(),
            windows: WindowSettings::default(),
            detect: Some(DetectConfig::default()),
            flows: None,
            windows_out: None,
            alerts_out: None,
            store: None,
            geoip: None,
            devices: false,
            devices_out: None,
            threads: 0,
            edge_capacity: 16,
            batch_flows: 1024,
            max_delay_ms: None,
            devices_every_ms: None,
        }
    }
}

impl PipelineConfig {
    /// Checks every part; errors name the field.
    pub fn validate(&self) -> Result<()> {
        self.meter.meter_config()?;
        let home = self.meter.home()?;
        self.windows.window_config(home)?;
        if let Some(d) = &self.detect {
            d.validate()?;
        }
        if let Some(s) = &self.store {
            s.validate()?;
        }
        if self.threads > 256 {
            return Err(PipelineError::config(
                "threads",
                format!("{}: at most 256", self.threads),
            ));
        }
        if !(1..=1_000_000).contains(&self.edge_capacity) {
            return Err(PipelineError::config(
                "edge_capacity",
                format!("{}: must be 1 to 1000000", self.edge_capacity),
            ));
        }
        if self
            .max_delay_ms
            .is_some_and(|d| !(1..=60_000).contains(&d))
        {
            return Err(PipelineError::config(
                "max_delay_ms",
                format!("{:?}: must be 1 to 60000", self.max_delay_ms),
            ));
        }
        if self
            .devices_every_ms
            .is_some_and(|d| !(1_000..=86_400_000).contains(&d))
        {
            return Err(PipelineError::config(
                "devices_every_ms",
                format!(
                    "{:?}: must be 1000 to 86400000 (1 s to 1 day)",
                    self.devices_every_ms
                ),
            ));
        }
        if !(1..=1_000_000).contains(&self.batch_flows) {
            return Err(PipelineError::config(
                "batch_flows",
                format!("{}: must be 1 to 1000000", self.batch_flows),
            ));
        }
        Ok(())
    }

    /// The threads the run uses for metering and detection.
    pub fn compute_threads(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            n => n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configuration_from_json_names_the_bad_field() {
        let c: PipelineConfig =
            serde_json::from_str(r#"{"meter":{"idle_timeout_s":-1}}"#).unwrap_or_default();
        assert_eq!(
            c.validate().map_err(|e| e.to_string()),
            Err("idle-timeout: -1: must be more than 0 and at most 86400 seconds".into())
        );
        let c: PipelineConfig =
            serde_json::from_str(r#"{"detect":{"threshold":2.5}}"#).unwrap_or_default();
        assert_eq!(
            c.validate().map_err(|e| e.to_string()),
            Err("threshold: 2.5: must be in 0..1".into())
        );
        let e = serde_json::from_str::<PipelineConfig>(r#"{"meter":{"idle":5}}"#)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.starts_with("unknown field `idle`"), "{e}");
        assert!(PipelineConfig::default().validate().is_ok());
    }
}

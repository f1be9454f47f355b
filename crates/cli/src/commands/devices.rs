//! `netvigil devices`: the stored device inventory (who is on the network), most recently
//! seen first, filtered by time, address or network, vendor, name, OS or device; a table, or
//! JSON Lines with `--json`. `--changes` lists what changed instead (new devices, new and
//! moved addresses, new names), newest first.

use anyhow::Result;
use store::{DeviceFilter, IpFilter};

use crate::args::StoredRange;
use crate::console::format::{human_bytes, utc_seconds};
use crate::Outcome;

/// Arguments of `netvigil devices`.
#[derive(clap::Args, Debug, Clone)]
pub struct DevicesArgs {
    /// The store and the time range.
    #[command(flatten)]
    pub stored: StoredRange,
    /// With an address inside this address or CIDR block (192.168.1.0/24).
    #[arg(long, value_parser = IpFilter::parse)]
    pub ip: Option<IpFilter>,
    /// This device: its MAC address (00:1b:21:3a:4f:10), or the address of a device known
    /// without one.
    #[arg(long)]
    pub device: Option<String>,
    /// Whose MAC vendor contains this (case-insensitive): --vendor apple.
    #[arg(long)]
    pub vendor: Option<String>,
    /// Any of whose names contains this (case-insensitive).
    #[arg(long)]
    pub hostname: Option<String>,
    /// Of this OS family (windows, macos, ios, linux, android, bsd, network, printer).
    #[arg(long)]
    pub os: Option<String>,
    /// Only what this capture's run saw.
    #[arg(long)]
    pub capture: Option<i64>,
    /// List the changes instead: new devices, new and moved addresses, new names.
    #[arg(long)]
    pub changes: bool,
    /// At most this many.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// One per line as JSON (docs/devices.md).
    #[arg(long)]
    pub json: bool,
}

/// Runs `netvigil devices`.
pub fn run(args: &DevicesArgs) -> Result<Outcome> {
    let filter = DeviceFilter {
        time: Some(args.stored.range()?),
        device: args.device.clone(),
        vendor: args.vendor.clone(),
        hostname: args.hostname.clone(),
        ip: args.ip,
        os: args.os.clone(),
        capture: args.capture,
    };
    let mut store = args.stored.open()?;
    if args.changes {
        let changes = store.device_changes(&filter, args.limit)?;
        if args.json {
            for c in &changes {
                println!("{}", serde_json::to_string(c)?);
            }
            return Ok(Outcome::Clean);
        }
        println!(
            "{:<19}  {:<16}  {:<17}  detail",
            "seen (UTC)", "change", "device"
        );
        for c in &changes {
            let mut detail = c.detail.clone();
            if let Some(o) = detail.as_object_mut() {
                for k in ["time", "kind", "device"] {
                    o.remove(k);
                }
            }
            let detail = match detail.as_object() {
                Some(o) if o.is_empty() => String::new(),
                _ => detail.to_string(),
            };
            println!(
                "{:<19}  {:<16}  {:<17}  {detail}",
                utc_seconds(c.time),
                c.kind,
                c.device,
            );
        }
        eprintln!("{} change(s)", changes.len());
        return Ok(Outcome::Clean);
    }
    let devices = store.devices(&filter, args.limit)?;
    if args.json {
        for d in &devices {
            println!("{}", serde_json::to_string(d)?);
        }
        return Ok(Outcome::Clean);
    }
    println!(
        "{:<17}  {:<28}  {:<22}  {:<24}  {:<10}  {:>9}  {:>9}  {:>6}  {:<19}  services",
        "device",
        "addresses",
        "vendor",
        "hostname",
        "os",
        "sent",
        "received",
        "alerts",
        "last seen (UTC)"
    );
    for d in &devices {
        let ips = d
            .ips
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",");
        println!(
            "{:<17}  {:<28}  {:<22}  {:<24}  {:<10}  {:>9}  {:>9}  {:>6}  {:<19}  {}",
            d.device,
            clip(&ips, 28),
            clip(d.vendor.as_deref().unwrap_or("-"), 22),
            clip(d.hostname.as_deref().unwrap_or("-"), 24),
            d.os.as_deref().unwrap_or("-"),
            human_bytes(d.bytes_out),
            human_bytes(d.bytes_in),
            d.alerts,
            utc_seconds(d.last_seen),
            d.services.join(",")
        );
    }
    eprintln!("{} device(s)", devices.len());
    Ok(Outcome::Clean)
}

/// `s` cut to `n` characters, ending in `…` when cut.
fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut t: String = s.chars().take(n - 1).collect();
    t.push('…');
    t
}

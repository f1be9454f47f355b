//! `netvigil capture`: live interfaces → the same pipeline as `analyze` (flows, windows,
//! detection, store, exports), until a signal, `--count` or `--duration`; every packet
//! accounted for (received = metered + dropped by cause).

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Result;
use capture::filter::HostSpec;
use capture::live::{Backend, LiveOptions};
use capture::pcap_live::OpenOptions;
use capture::privilege::{drop_to, Privileges};
use capture::{FilterSpec, LiveCapture, PcapngRing, Protocol, RingConfig};
use pipeline::source::live::{LiveInput, LiveLimits};
use pipeline::Pipeline;

use crate::args::run::{config, RunArgs};
use crate::args::{output_format, parse_age, parse_size};
use crate::console::session::{self, ConsoleOptions};
use crate::signals::{signal_name, stop_flag};
use crate::{BadInput, Outcome};

/// The back end used unless `--backend` says otherwise.
#[cfg(target_os = "linux")]
const DEFAULT_BACKEND: &str = "afpacket";
#[cfg(not(target_os = "linux"))]
const DEFAULT_BACKEND: &str = "pcap";

/// How long a closed TCP flow still takes late packets (s).
const CLOSE_LINGER_S: f64 = 0.5;

/// SQLite's page cache while capturing (MiB): analyze's 256 MiB fills as the file grows,
/// which a sensor running for weeks would see as growth.
const SENSOR_CACHE_MIB: u32 = 32;

/// An open episode is written again at most this often while it grows (s).
const EPISODE_UPDATE_S: u64 = 5;

/// The names of the capture ring's files start with this.
const RING_PREFIX: &str = "netvigil";

/// Results wait at most this long in a batch (they reach the store within a second).
const MAX_DELAY_MS: u64 = 250;

/// Arguments of `netvigil capture`.
#[derive(clap::Args, Debug, Clone)]
pub struct CaptureArgs {
    /// Interfaces to capture on (comma-separated or repeated; `netvigil interfaces` lists
    /// them).
    #[arg(
        short = 'i',
        long = "interface",
        required = true,
        value_delimiter = ','
    )]
    pub interfaces: Vec<String>,
    /// Only packets this BPF expression takes (libpcap syntax), with the options below.
    #[arg(long)]
    pub filter: Option<String>,
    /// Only TCP (with --udp/--icmp: any of them).
    #[arg(long)]
    pub tcp: bool,
    /// Only UDP.
    #[arg(long)]
    pub udp: bool,
    /// Only ICMP and ICMPv6.
    #[arg(long)]
    pub icmp: bool,
    /// Only packets to or from this port (repeat for any of several).
    #[arg(long = "port")]
    pub ports: Vec<u16>,
    /// Only packets to or from this address or network, e.g. 10.0.0.5 or 10.0.0.0/8 (repeat
    /// for any of several).
    #[arg(long = "host", value_parser = parse_host)]
    pub hosts: Vec<HostSpec>,
    /// Bytes kept of each packet (64 to 262144).
    #[arg(long, default_value_t = 262_144, value_parser = clap::value_parser!(u32).range(64..=262_144))]
    pub snaplen: u32,
    /// Do not put the interfaces in promiscuous mode (only traffic to and from this host).
    #[arg(long)]
    pub no_promisc: bool,
    /// Kernel capture buffer per interface (e.g. 64M); a larger one rides out longer bursts.
    #[arg(long, default_value = "32M", value_parser = parse_size)]
    pub buffer_size: u64,
    /// Capture back end: `afpacket` (Linux TPACKET_V3 rings in a fanout group, the default
    /// there) or `pcap` (libpcap, everywhere).
    #[arg(long, default_value = DEFAULT_BACKEND, value_parser = ["afpacket", "pcap"])]
    pub backend: String,
    /// Rings per interface with `afpacket` (flows are hashed to rings; each buffers its
    /// share of a burst).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub rings: u16,
    /// Stop after this long (e.g. 30s, 10m, 12h).
    #[arg(long, value_parser = parse_age)]
    pub duration: Option<i64>,
    /// How often the device inventory is stored (with --db) while the capture runs: 30s,
    /// 5m (at least 1 s, at most 1 day).
    #[arg(long, default_value = "60s", value_parser = parse_age)]
    pub devices_every: i64,
    /// Stop after this many packets.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Also write every captured packet to size-rotated pcapng files in this directory; each
    /// episode then names the files and byte ranges holding its packets (`evidence.pcap`).
    #[arg(long)]
    pub write_pcap: Option<PathBuf>,
    /// Size of each --write-pcap file (e.g. 100M).
    #[arg(long, default_value = "100M", value_parser = parse_size, requires = "write_pcap")]
    pub rotate_size: u64,
    /// --write-pcap files kept; the oldest beyond are deleted.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=100_000), requires = "write_pcap")]
    pub rotate_keep: u64,
    /// Become this user once the interfaces and outputs are open (when started as root).
    #[arg(long)]
    pub user: Option<String>,
    /// Metering, outputs, store and detection (as `analyze`).
    #[command(flatten)]
    pub run: RunArgs,
}

fn parse_host(s: &str) -> Result<HostSpec, String> {
    s.parse::<HostSpec>().map_err(|e| e.to_string())
}

impl CaptureArgs {
    /// The filter the options describe.
    pub fn filter_spec(&self) -> FilterSpec {
        let mut protocols = Vec::new();
        for (on, p) in [
            (self.tcp, Protocol::Tcp),
            (self.udp, Protocol::Udp),
            (self.icmp, Protocol::Icmp),
        ] {
            if on {
                protocols.push(p);
            }
        }
        FilterSpec {
            protocols,
            ports: self.ports.clone(),
            hosts: self.hosts.clone(),
            raw: self.filter.clone(),
        }
    }
}

fn backend(name: &str, rings: u16) -> Result<Backend> {
    match name {
        "pcap" if rings > 1 => Err(bad(
            "--rings needs --backend afpacket (libpcap has no fanout)",
        )),
        "pcap" => Ok(Backend::Pcap),
        #[cfg(target_os = "linux")]
        "afpacket" => Ok(Backend::AfPacket {
            rings: usize::from(rings),
        }),
        other => Err(bad(format!(
            "--backend {other}: not available on this system"
        ))),
    }
}

fn bad(e: impl std::fmt::Display) -> anyhow::Error {
    BadInput(e.to_string()).into()
}

/// A live capture assembled and not started: the pipeline, the flag that stops it (a signal
/// number), and its interfaces.
pub struct LiveRun {
    /// The pipeline.
    pub pipeline: Pipeline,
    /// Stops the capture once it holds a signal number.
    pub stop: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// The interfaces, as given.
    pub interfaces: Vec<PathBuf>,
    /// The filter expression in force.
    pub filter: Option<String>,
}

/// Runs `netvigil capture`.
pub fn run(args: &CaptureArgs) -> Result<Outcome> {
    crate::signals::stop_on_signals()?;
    let run = &args.run;
    let live = assemble(args, stop_flag())?;
    if !run.quiet {
        eprintln!(
            "netvigil: capturing on {}{} (Ctrl-C stops: open flows are flushed and stored)",
            args.interfaces.join(", "),
            live.filter
                .as_ref()
                .map(|e| format!(" with filter {e}"))
                .unwrap_or_default()
        );
    }
    let (_, outcome) = session::run_named(
        live.pipeline,
        &live.interfaces,
        &ConsoleOptions {
            print: !run.quiet,
            summary_json: run.summary_json.as_deref(),
            stores: run.db.is_some(),
            live: true,
        },
    )?;
    let sig = live.stop.load(Ordering::Relaxed) as i32;
    if sig != 0 && !run.quiet {
        eprintln!("netvigil: capture stopped by {}", signal_name(sig));
    }
    Ok(outcome)
}

/// Opens the interfaces and every output and assembles the capture's pipeline, stopped by
/// `flag` (`netvigil capture` and `netvigil serve --capture`); drops root to `--user` once
/// everything is open.
pub fn assemble(
    args: &CaptureArgs,
    flag: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> Result<LiveRun> {
    let run = &args.run;
    let spec = args.filter_spec();
    let expr = spec.expression();
    // A bad expression is refused before anything is opened, with libpcap's message.
    if let Some(e) = &expr {
        capture::BpfFilter::compile(e, packet::LinkType::ETHERNET).map_err(bad)?;
    }
    Privileges::current().check().map_err(bad)?;
    let format = output_format(run.format.as_deref(), &run.out, run.db.is_some())?;
    let mut cfg = config(run, Vec::new(), format);
    cfg.max_delay_ms = Some(MAX_DELAY_MS);
    cfg.devices_every_ms = Some(u64::try_from(args.devices_every / 1_000).unwrap_or(u64::MAX));
    // A closed connection leaves the table half a second after its last packet, not at the
    // idle timeout: it reaches the store within a second (docs/capture.md).
    cfg.meter.close_linger_s = Some(CLOSE_LINGER_S);
    // A sensor's memory stays flat while its database grows (docs/capture.md).
    if let Some(s) = &mut cfg.store {
        s.cache_mib = Some(SENSOR_CACHE_MIB);
    }
    // Episodes are raised as soon as a threshold is crossed and written again as they grow
    // (one id, `episode.state` open then closed); the alerts file is a log readers follow.
    if let Some(d) = &mut cfg.detect {
        d.episodes.update_s = EPISODE_UPDATE_S;
    }
    if let Some(a) = &mut cfg.alerts_out {
        a.append = true;
    }
    cfg.validate().map_err(crate::pipeline_error)?;
    pipeline::output::check_distinct(&[], &run.outputs(format)).map_err(crate::pipeline_error)?;

    let live = LiveCapture::open(LiveOptions {
        interfaces: args.interfaces.clone(),
        open: OpenOptions {
            snaplen: args.snaplen,
            promisc: !args.no_promisc,
            buffer_bytes: usize::try_from(args.buffer_size).unwrap_or(usize::MAX),
            filter: expr.clone(),
        },
        backend: backend(&args.backend, args.rings)?,
        poll_ms: 100,
    })
    .map_err(bad)?;
    let limits = LiveLimits {
        packets: args.count,
        duration: args
            .duration
            .map(|us| Duration::from_micros(us.unsigned_abs())),
    };
    // The ring's interface blocks: each interface's link type as opened.
    let ring_interfaces: Vec<(String, packet::LinkType, u32)> = live
        .interfaces()
        .into_iter()
        .zip(live.links())
        .map(|(name, link)| {
            (
                name,
                link.unwrap_or(packet::LinkType::ETHERNET),
                args.snaplen,
            )
        })
        .collect();
    let mut source = LiveInput::new(live, limits, Some(flag.clone()));
    let mut index = None;
    if let Some(dir) = &args.write_pcap {
        let ring = PcapngRing::open(
            RingConfig {
                dir: dir.clone(),
                rotate_bytes: args.rotate_size,
                keep: usize::try_from(args.rotate_keep).unwrap_or(usize::MAX),
                prefix: RING_PREFIX.into(),
            },
            &ring_interfaces,
        )
        .map_err(bad)?;
        index = Some(ring.index());
        source = source.with_ring(ring);
    }
    let names: Vec<PathBuf> = args.interfaces.iter().map(PathBuf::from).collect();
    let mut p =
        Pipeline::with_source(&cfg, Box::new(source), Vec::new()).map_err(crate::pipeline_error)?;
    if let (Some(index), Some(dir)) = (index, args.write_pcap.clone()) {
        // Each episode names the files and byte ranges that hold its packets, as far as the
        // ring has written them (it writes at least once a second), and the ring itself, which
        // holds the rest (`GET /api/episodes/{id}/pcap` reads it).
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        p.annotate_alerts(Box::new(move |a| {
            let located = index.locate(a.first_seen, a.time);
            if let Ok(mut v) = serde_json::to_value(&located) {
                v["dir"] = serde_json::Value::from(dir.display().to_string());
                v["prefix"] = serde_json::Value::from(RING_PREFIX);
                a.evidence["pcap"] = v;
            }
        }));
    }
    // Everything that needs root is open: the sockets, the store, the output files.
    if let Some(user) = &args.user {
        drop_to(user).map_err(bad)?;
    }
    Ok(LiveRun {
        pipeline: p,
        stop: flag,
        interfaces: names,
        filter: expr,
    })
}

//! The console summary of a run. Its traffic figures are the run's traffic windows merged into
//! one (the same numbers `--windows-out` writes), plus how flows ended and what could not be
//! decoded.
//!
//! Layout: text is fitted to [`Console::width`] (see [`Console::stderr`] for where the width
//! comes from). Tables shrink by wrapping their labels, never a value: every number, address,
//! size and time is glued (its spaces are non-breaking until the text is finished), and a column
//! is never narrower than its longest glued value. Prose lines wrap between phrases.
//!
//! The units shared with the charts live here too ([`human_bytes`], [`iec_scale`],
//! [`percent`], [`port_label`]), so a figure reads the same on the console and on a chart.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, ColumnConstraint, ContentArrangement, Table, Width};
use flow::window::report::{Port, Talker, WindowReport};
use flow::window::{ProtoClass, DIRECTIONS};
use flow::{EndReason, FlowRecord, MeterCounters, Window};
use packet::{DecodeError, Timestamp};
use serde_json::{json, Value};

use pipeline::{DetectTally, MeterReport};

use super::detection::detection_json;
use super::format::{human_bytes, percent};

/// Rows of the top lists.
pub(crate) const TOP: usize = 10;
/// Input names listed in the summary's first line; beyond, a count.
const INPUTS_LISTED: usize = 3;
/// Version of the layout [`Summary::to_json`] writes.
pub const JSON_SCHEMA: u32 = 1;

/// Width used when neither `COLUMNS` nor a terminal gives one.
pub const DEFAULT_WIDTH: usize = 100;
/// Narrowest width honoured: below it, tables would be all wrapped labels.
pub const MIN_WIDTH: usize = 40;

/// Joins the words of one value (a number and its unit, a date and its time) while text is laid
/// out; turned back into a space when the text is finished.
const GLUE: char = '\u{a0}';

/// How console text is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Console {
    /// Columns a line may take.
    pub width: usize,
    /// Whether terminal styling (colour, attributes) may be used: a terminal and no `NO_COLOR`.
    pub styled: bool,
}

impl Console {
    /// The layout of standard error. Width: `COLUMNS` when set to a number (as `ls` does, so a
    /// script can ask for a width), else the terminal's when stderr is one, else
    /// [`DEFAULT_WIDTH`]; never below [`MIN_WIDTH`]. Styled only on a terminal without
    /// `NO_COLOR` (<https://no-color.org>).
    pub fn stderr() -> Console {
        let tty = std::io::stderr().is_terminal();
        Console::resolve(
            std::env::var("COLUMNS").ok().as_deref(),
            tty,
            std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
            || {
                rustix::termios::tcgetwinsize(std::io::stderr())
                    .ok()
                    .map(|w| w.ws_col)
                    .filter(|&c| c > 0)
            },
        )
    }

    /// [`Console::stderr`] from its inputs; `terminal_width` is asked only on a terminal.
    fn resolve(
        columns: Option<&str>,
        tty: bool,
        no_color: bool,
        terminal_width: impl FnOnce() -> Option<u16>,
    ) -> Console {
        let from_env = columns
            .and_then(|c| c.trim().parse::<usize>().ok())
            .filter(|&c| c > 0);
        let width = from_env
            .or_else(|| tty.then(terminal_width).flatten().map(usize::from))
            .unwrap_or(DEFAULT_WIDTH)
            .max(MIN_WIDTH);
        Console {
            width,
            styled: tty && !no_color,
        }
    }

    /// A table in the summary's style, fitted to the width. A one-row table that cannot fit
    /// even with its labels wrapped becomes a line of "label value" pairs.
    pub(crate) fn table(&self, header: &[&str], rows: &[Vec<String>], right: &[usize]) -> String {
        if let [row] = rows {
            if min_table_width(header, rows) > self.width {
                let pairs: Vec<String> = header
                    .iter()
                    .zip(row)
                    .map(|(h, v)| glue(&format!("{h} {v}")))
                    .collect();
                return self.wrap(&pairs.join("; "));
            }
        }
        let mut t = self.new_table(header, rows, right);
        t.set_content_arrangement(ContentArrangement::Dynamic);
        t.set_width(self.width.min(u16::MAX as usize) as u16);
        format!("{t}\n")
    }

    /// The widest line of the table laid out without wrapping.
    fn natural_width(&self, header: &[&str], rows: &[Vec<String>]) -> usize {
        let mut t = self.new_table(header, rows, &[]);
        t.set_content_arrangement(ContentArrangement::Disabled);
        t.lines().map(|l| l.chars().count()).max().unwrap_or(0)
    }

    fn new_table(&self, header: &[&str], rows: &[Vec<String>], right: &[usize]) -> Table {
        let mut t = Table::new();
        t.load_style(UTF8_FULL_CONDENSED);
        // Styling follows stderr, where the summary goes (comfy-table looks at stdout unless
        // told otherwise).
        t.use_stderr();
        if !self.styled {
            t.force_no_tty();
        }
        t.set_header(header.to_vec());
        for row in rows {
            t.add_row(row.iter().enumerate().map(|(i, v)| {
                let c = Cell::new(v);
                if right.contains(&i) {
                    c.set_alignment(CellAlignment::Right)
                } else {
                    c
                }
            }));
        }
        // A column never narrower than its longest word (a glued value is one word), so
        // shrinking wraps labels between words and never splits a value. Header words count
        // too: a label is split between its words, not inside one.
        for (i, w) in min_column_widths(header, rows).into_iter().enumerate() {
            if let Some(col) = t.column_mut(i) {
                col.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(
                    w.min(u16::MAX as usize) as u16,
                )));
            }
        }
        t
    }

    /// `text` wrapped to the width between words, continuation lines indented by two spaces;
    /// a word wider than the line stays whole.
    pub(crate) fn wrap(&self, text: &str) -> String {
        wrap(text, self.width)
    }
}

/// The narrowest each column may be: its longest word, plus the one-space padding each side.
fn min_column_widths(header: &[&str], rows: &[Vec<String>]) -> Vec<usize> {
    (0..header.len())
        .map(|i| {
            std::iter::once(header[i])
                .chain(rows.iter().filter_map(|r| r.get(i).map(String::as_str)))
                .flat_map(|s| s.split(' '))
                .map(|w| w.chars().count())
                .max()
                .unwrap_or(0)
                + 2
        })
        .collect()
}

/// The narrowest the table can be laid out: its columns at their narrowest and the borders.
fn min_table_width(header: &[&str], rows: &[Vec<String>]) -> usize {
    min_column_widths(header, rows).iter().sum::<usize>() + header.len() + 1
}

/// See [`Console::wrap`].
fn wrap(text: &str, width: usize) -> String {
    const INDENT: &str = "  ";
    let mut out = String::new();
    let mut line = String::new();
    let mut len = 0;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let n = word.chars().count();
        if len > 0 && len + 1 + n > width {
            out.push_str(&line);
            out.push('\n');
            line = INDENT.to_string();
            len = INDENT.len();
        } else if len > 0 && !line.ends_with(' ') {
            line.push(' ');
            len += 1;
        }
        line.push_str(word);
        len += n;
    }
    out.push_str(&line);
    out.push('\n');
    out
}

/// `s` as one word for layout: its spaces do not break.
pub(crate) fn glue(s: &str) -> String {
    s.replace(' ', &GLUE.to_string())
}

/// Finished text: glued spaces become spaces again.
pub(crate) fn unglue(s: &str) -> String {
    s.replace(GLUE, " ")
}

/// Running totals for the summary.
#[derive(Default)]
pub struct Summary {
    /// All windows merged.
    pub capture: Option<Window>,
    /// Frames that carry no IP.
    pub non_ip: u64,
    /// Frames that could not be decoded.
    pub decode_errors: u64,
    /// Frames the profile ignores (`nfstream`: as NFStream does).
    pub ignored: u64,
    error_examples: Vec<(usize, u64, DecodeError)>,
    flows_by_class: [u64; 5],
    flows: u64,
    /// The flow table's counters at the end.
    pub meter: MeterCounters,
    /// Packets whose capture time lay far outside the capture's (docs/windows.md): metered at
    /// the time of the packet before them.
    pub time_outliers: u64,
    /// The earliest and latest of those times, as read.
    pub time_outlier_span: Option<(Timestamp, Timestamp)>,
    /// A live capture's accounting: received, delivered and dropped by cause.
    pub live: Option<capture::CaptureStats>,
}

impl Summary {
    /// Adds a finished window.
    pub fn window(&mut self, w: &Window) {
        match &mut self.capture {
            Some(c) => c.merge(w),
            None => self.capture = Some(w.clone()),
        }
    }

    /// Takes what the meter saw besides flows and windows: frames not metered, decode errors
    /// with their places, the table's counters, time outliers.
    pub fn meter_report(&mut self, m: &MeterReport) {
        self.non_ip = m.non_ip;
        self.decode_errors = m.decode_errors;
        self.ignored = m.ignored;
        self.error_examples = m.error_examples.clone();
        self.meter = m.table.clone();
        self.time_outliers = m.time_outliers;
        self.time_outlier_span = m.time_outlier_span;
        self.live = m.capture;
    }

    /// Counts one finished flow.
    pub fn flow(&mut self, r: &FlowRecord) {
        self.flows += 1;
        self.flows_by_class[ProtoClass::of(r.proto) as usize] += 1;
    }

    /// The merged window's report (an empty one before any packet).
    fn report(&self) -> WindowReport {
        match &self.capture {
            Some(c) => c.report(),
            None => Window::new(0, 0, 1, 0).report(),
        }
    }

    /// The summary as text laid out for `console`.
    pub fn render(&self, inputs: &[PathBuf], elapsed_s: f64, console: &Console) -> String {
        let r = self.report();
        let mut out = console.wrap(&format!("netvigil summary: {}", inputs_words(inputs)));
        out.push_str(&console.wrap(&format!("capture span: {}", span_words(&r))));
        let rate = if elapsed_s > 0.0 {
            r.packets as f64 / elapsed_s
        } else {
            0.0
        };
        out.push_str(&console.table(
            &[
                "packets",
                "bytes",
                "flows",
                "non-IP",
                "decode errors",
                "processing",
            ],
            &[vec![
                r.packets.to_string(),
                glue(&human_bytes(r.bytes)),
                self.flows.to_string(),
                self.non_ip.to_string(),
                self.decode_errors.to_string(),
                format!(
                    "{}, {}",
                    glue(&format!("{elapsed_s:.2} s")),
                    glue(&format!("{:.2} Mpps", rate / 1e6))
                ),
            ]],
            &[0, 1, 2, 3, 4],
        ));

        if let Some(c) = &self.live {
            out.push_str(&console.wrap(&crate::console::status::accounting(c)));
        }
        let p = &r.protocols;
        let classes = [
            (ProtoClass::Tcp, p.tcp),
            (ProtoClass::Udp, p.udp),
            (ProtoClass::Icmp, p.icmp),
            (ProtoClass::OtherIp, p.other_ip),
            (ProtoClass::NonIp, p.non_ip),
        ];
        let rows: Vec<Vec<String>> = classes
            .iter()
            .filter(|(_, c)| c.packets > 0)
            .map(|&(class, c)| {
                vec![
                    class_name(class).to_string(),
                    c.packets.to_string(),
                    glue(&human_bytes(c.bytes)),
                    percent(c.bytes, r.bytes),
                    self.flows_by_class[class as usize].to_string(),
                ]
            })
            .collect();
        out.push_str(&console.table(
            &["protocol", "packets", "bytes", "share of bytes", "flows"],
            &rows,
            &[1, 2, 3, 4],
        ));

        let h = &r.tcp;
        if h.segments > 0 {
            let ratio = match h.syn_per_syn_ack {
                Some(v) => format!("{v:.2}"),
                None => "n/a (no SYN-ACK)".into(),
            };
            let parts = [
                format!("{} segments;", h.segments),
                format!("SYN {},", h.syn),
                format!("SYN-ACK {} (SYN/SYN-ACK {ratio});", h.syn_ack),
                format!("FIN {};", h.fin),
                format!(
                    "RST {} ({} of segments);",
                    h.rst,
                    percent(h.rst, h.segments)
                ),
                format!("pure ACK {};", h.pure_ack),
                format!(
                    "retransmissions {} ({})",
                    h.retransmissions,
                    percent(h.retransmissions, h.segments)
                ),
            ];
            out.push_str(&console.wrap(&format!("TCP health: {}", glued(&parts))));
        }

        let d = &r.directions;
        let dirs = [d.inbound, d.outbound, d.internal, d.external];
        let ip_bytes: u64 = dirs.iter().map(|x| x.bytes).sum();
        let parts: Vec<String> = DIRECTIONS
            .iter()
            .zip(dirs)
            .map(|(d, x)| {
                format!(
                    "{} {} pkts / {} ({});",
                    d.as_str(),
                    x.packets,
                    human_bytes(x.bytes),
                    percent(x.bytes, ip_bytes)
                )
            })
            .collect();
        let split = glued(&parts);
        out.push_str(&console.wrap(&format!(
            "home network split: {}",
            split.strip_suffix(';').unwrap_or(&split)
        )));

        out.push_str(&top_tables(&r, console));
        if let Some(note) = estimate_note(&[
            (r.src_ips.exact, "sources"),
            (r.dst_ips.exact, "destinations"),
            (r.dst_ports.exact, "ports"),
        ]) {
            out.push_str(&console.wrap(&note));
        }

        let reasons: Vec<String> = EndReason::ALL
            .iter()
            .map(|&e| format!("{} {},", end_reason_words(e), self.meter.ended(e)))
            .collect();
        let reasons = glued(&reasons);
        out.push_str(&console.wrap(&format!(
            "flows by end reason: {}",
            reasons.strip_suffix(',').unwrap_or(&reasons)
        )));
        let mut table = format!(
            "flow table: at most {} flows tracked at once",
            self.meter.peak_flows
        );
        if self.ignored > 0 {
            table.push_str(&format!(
                "; {} packets ignored by the flow profile",
                self.ignored
            ));
        }
        out.push_str(&console.wrap(&table));
        if let Some((a, b)) = self.time_outlier_span {
            let (n, times, span) = if self.time_outliers == 1 {
                (
                    "1 packet had a capture time".to_string(),
                    "it was",
                    glue(&a.rfc3339()),
                )
            } else {
                (
                    format!("{} packets had capture times", self.time_outliers),
                    "they were",
                    format!("{} to {}", glue(&a.rfc3339()), glue(&b.rfc3339())),
                )
            };
            out.push_str(&console.wrap(&format!(
                "{n} far from the packets around it ({span}); {times} metered at the time of \
                 the packet before"
            )));
        }

        for (input, offset, e) in &self.error_examples {
            let name = inputs
                .get(*input)
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            out.push_str(&console.wrap(&format!(
                "decode error: {name}: record at {}: {e}",
                glue(&format!("byte offset {offset}"))
            )));
        }
        unglue(&out)
    }

    /// Prints the summary to stderr.
    pub fn print(&self, inputs: &[PathBuf], elapsed_s: f64) {
        eprint!("{}", self.render(inputs, elapsed_s, &Console::stderr()));
    }

    /// The summary as JSON for scripts (`analyze --summary-json`), `detection` when the detect
    /// stage ran. Fields (counts are integers, bytes are frame bytes on the wire):
    ///
    /// - `schema`: [`JSON_SCHEMA`]; `inputs`: the capture files read, in order.
    /// - `packets`, `bytes`, `flows`: frames, their bytes, flows emitted.
    /// - `span`: `{start, end, duration_s}` of the first and last packet (ISO 8601 UTC,
    ///   RFC 3339 with `Z`), `null` without packets.
    /// - `processing_s`: wall-clock seconds of the run.
    /// - `non_ip_packets`, `decode_errors`, `ignored_packets`, and `decode_error_examples`
    ///   (up to 5 `{file, offset, error}`).
    /// - `protocols`: `tcp`, `udp`, `icmp`, `other_ip`, `non_ip`, each `{packets, bytes, flows}`.
    /// - `tcp`: TCP health as in a window (`segments`, `syn`, `syn_ack`, `fin`, `rst`,
    ///   `pure_ack`, `retransmissions`, `syn_per_syn_ack`, `rst_rate`, `retransmission_rate`).
    /// - `directions`: `inbound`, `outbound`, `internal`, `external`, each `{packets, bytes}`.
    /// - `top_sources`, `top_destinations`: `{exact, entries}`, up to 10 entries
    ///   `{ip, packets, bytes, share, err_packets?, err_bytes?}` by bytes; `top_ports`:
    ///   `{exact, entries}`, entries `{proto, port, service, packets, bytes, share, err_*?}` by
    ///   packets. As in a windows file (docs/windows.md): when `exact` is false, counts are lower
    ///   bounds, the true value at most `err_*` higher.
    /// - `flows_ended`: flows by end reason (`idle`, `active`, `fin`, `rst`, `eof`, `evicted`,
    ///   `shutdown`); `peak_tracked_flows`.
    /// - `detection` (`null` when detection did not run): `model`, `threshold`, `flows_scored`,
    ///   `alerts`, `by_kind` (`{detector, kind, alerts, max_severity}`, most alerts first),
    ///   `top_sources` (up to 10 `{ip, alerts, max_severity}`), `alerts_from_unlisted_sources`,
    ///   `rules_state_dropped`, `rules_flows_late`.
    pub fn to_json(
        &self,
        inputs: &[PathBuf],
        elapsed_s: f64,
        detection: Option<&DetectTally>,
    ) -> Value {
        let r = self.report();
        let span = match (r.first_packet_us, r.last_packet_us) {
            (Some(a), Some(b)) => json!({
                "start": Timestamp(a).rfc3339(),
                "end": Timestamp(b).rfc3339(),
                "duration_s": (b - a) as f64 / 1e6,
            }),
            _ => Value::Null,
        };
        let p = &r.protocols;
        let class = |c: flow::window::report::CounterJson, k: ProtoClass| json!({"packets": c.packets, "bytes": c.bytes, "flows": self.flows_by_class[k as usize]});
        let d = &r.directions;
        let dir =
            |c: flow::window::report::CounterJson| json!({"packets": c.packets, "bytes": c.bytes});
        let top = |exact: bool, entries: Value| json!({"exact": exact, "entries": entries});
        let ended: serde_json::Map<String, Value> = EndReason::ALL
            .iter()
            .map(|&e| (e.as_str().to_string(), json!(self.meter.ended(e))))
            .collect();
        let examples: Vec<Value> = self
            .error_examples
            .iter()
            .map(|(input, offset, e)| {
                json!({
                    "file": inputs.get(*input).map(|p| p.display().to_string()),
                    "offset": offset,
                    "error": e.to_string(),
                })
            })
            .collect();
        json!({
            "schema": JSON_SCHEMA,
            "inputs": inputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "packets": r.packets,
            "bytes": r.bytes,
            "flows": self.flows,
            "span": span,
            "processing_s": elapsed_s,
            "non_ip_packets": self.non_ip,
            "decode_errors": self.decode_errors,
            "ignored_packets": self.ignored,
            "time_outliers": self.time_outliers,
            "time_outlier_span": self.time_outlier_span.map(|(a, b)| json!({
                "earliest": a.rfc3339(),
                "latest": b.rfc3339(),
            })),
            "decode_error_examples": examples,
            "capture": self.live.map(|c| json!({
                "received": c.offered(),
                "delivered": c.delivered,
                "dropped": {
                    "kernel": c.kernel_dropped,
                    "interface": c.interface_dropped,
                    "while_interface_lost": c.lost_while_down,
                },
                "kernel_received": c.received,
                "interface_lost": c.interface_lost,
                "reopened": c.reopened,
            })),
            "protocols": {
                "tcp": class(p.tcp, ProtoClass::Tcp),
                "udp": class(p.udp, ProtoClass::Udp),
                "icmp": class(p.icmp, ProtoClass::Icmp),
                "other_ip": class(p.other_ip, ProtoClass::OtherIp),
                "non_ip": class(p.non_ip, ProtoClass::NonIp),
            },
            "tcp": r.tcp,
            "directions": {
                "inbound": dir(d.inbound),
                "outbound": dir(d.outbound),
                "internal": dir(d.internal),
                "external": dir(d.external),
            },
            "top_sources": top(r.src_ips.exact, json!(top_talkers(&r.src_ips.entries))),
            "top_destinations": top(r.dst_ips.exact, json!(top_talkers(&r.dst_ips.entries))),
            "top_ports": top(r.dst_ports.exact, json!(top_ports(&r))),
            "flows_ended": ended,
            "peak_tracked_flows": self.meter.peak_flows,
            "detection": detection.map(detection_json),
        })
    }
}

/// The first [`TOP`] of a talker list (largest first, as the report keeps them).
pub fn top_talkers(entries: &[Talker]) -> &[Talker] {
    &entries[..entries.len().min(TOP)]
}

/// The ports the summary and the ports chart show: the first [`TOP`] destination ports by
/// packets.
pub fn top_ports(r: &WindowReport) -> &[Port] {
    let e = &r.dst_ports.entries;
    &e[..e.len().min(TOP)]
}

/// "tcp/443 https" (the service name when IANA registers one).
pub fn port_label(p: &Port) -> String {
    if p.service.is_empty() {
        format!("{}/{}", p.proto, p.port)
    } else {
        format!("{}/{} {}", p.proto, p.port, p.service)
    }
}

/// `text` marked as a lower bound ("≥ 12.3 MiB") when up to `err` may be missing.
pub fn at_least(text: String, err: u64) -> String {
    if err > 0 {
        format!("≥ {text}")
    } else {
        text
    }
}

/// The note for top lists that are bounded estimates (more addresses or ports were seen than
/// the summaries keep): `lists` pairs each list's `exact` flag with its name; `None` when all
/// are exact. The console and the charts print the same words.
pub fn estimate_note(lists: &[(bool, &str)]) -> Option<String> {
    let names: Vec<&str> = lists
        .iter()
        .filter(|(exact, _)| !exact)
        .map(|&(_, name)| name)
        .collect();
    if names.is_empty() {
        return None;
    }
    let names = match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.join(""),
    };
    Some(format!(
        "top {names} are bounded estimates (more were seen than are kept): ≥ marks a lower bound; \
         see docs/windows.md"
    ))
}

/// The top sources, destinations and ports: one table when it fits the width, else one each.
fn top_tables(r: &WindowReport, console: &Console) -> String {
    let talker = |t: &Talker| {
        (
            t.ip.to_string(),
            format!(
                "{} ({})",
                glue(&at_least(human_bytes(t.bytes), t.err_bytes)),
                percent(t.bytes, r.bytes)
            ),
        )
    };
    let src: Vec<(String, String)> = top_talkers(&r.src_ips.entries).iter().map(talker).collect();
    let dst: Vec<(String, String)> = top_talkers(&r.dst_ips.entries).iter().map(talker).collect();
    let ports: Vec<(String, String)> = top_ports(r)
        .iter()
        .map(|p| {
            (
                glue(&port_label(p)),
                format!(
                    "{} ({})",
                    glue(&at_least(p.packets.to_string(), p.err_packets)),
                    percent(p.packets, r.port_packets)
                ),
            )
        })
        .collect();
    // Per list: its two headers and its rows (label, value).
    type List<'a> = (&'a str, &'a str, &'a [(String, String)]);
    let lists: [List; 3] = [
        ("top source", "bytes sent", &src),
        ("top destination", "bytes received", &dst),
        ("top destination port", "packets", &ports),
    ];
    let n = src.len().max(dst.len()).max(ports.len());
    let header: Vec<&str> = lists.iter().flat_map(|(a, b, _)| [*a, *b]).collect();
    let rows: Vec<Vec<String>> = (0..n)
        .map(|i| {
            lists
                .iter()
                .flat_map(|(_, _, l)| {
                    let (a, b) = l.get(i).cloned().unwrap_or_default();
                    [a, b]
                })
                .collect()
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    if console.natural_width(&header, &rows) <= console.width {
        return console.table(&header, &rows, &[1, 3, 5]);
    }
    lists
        .iter()
        .filter(|(_, _, l)| !l.is_empty())
        .map(|(a, b, l)| {
            let rows: Vec<Vec<String>> =
                l.iter().map(|(x, y)| vec![x.clone(), y.clone()]).collect();
            console.table(&[a, b], &rows, &[1])
        })
        .collect()
}

/// "webex.pcap", "a.pcap, b.pcap", or for many: "151 files in DIR: a.pcap, b.pcap, c.pcap and
/// 148 more".
fn inputs_words(inputs: &[PathBuf]) -> String {
    if inputs.len() <= INPUTS_LISTED {
        let names: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
        return names.join(", ");
    }
    let parent = inputs[0].parent();
    let same_dir = parent.is_some() && inputs.iter().all(|p| p.parent() == parent);
    let name = |p: &Path| match (same_dir, p.file_name()) {
        (true, Some(n)) => n.to_string_lossy().into_owned(),
        _ => p.display().to_string(),
    };
    let shown: Vec<String> = inputs[..INPUTS_LISTED].iter().map(|p| name(p)).collect();
    let place = match parent {
        Some(d) if same_dir && !d.as_os_str().is_empty() => format!(" in {}", d.display()),
        _ => String::new(),
    };
    format!(
        "{} files{place}: {} and {} more",
        inputs.len(),
        shown.join(", "),
        inputs.len() - INPUTS_LISTED
    )
}

/// "2017-07-07 12:00:00.000000 → 2017-07-07 12:05:00.000000 UTC (300.000 s)", or "empty".
fn span_words(r: &WindowReport) -> String {
    match (r.first_packet_us, r.last_packet_us) {
        (Some(a), Some(b)) => format!(
            "{} → {} ({})",
            glue(&Timestamp(a).to_string()),
            glue(&format!("{} UTC", Timestamp(b))),
            glue(&format!("{:.3} s", (b - a) as f64 / 1e6))
        ),
        _ => "empty (no packets)".into(),
    }
}

/// Phrases joined by spaces, each glued so a line breaks only between phrases.
fn glued(parts: &[String]) -> String {
    parts.iter().map(|p| glue(p)).collect::<Vec<_>>().join(" ")
}

/// What an end reason means, in words.
fn end_reason_words(r: EndReason) -> &'static str {
    match r {
        EndReason::Idle => "idle timeout",
        EndReason::Active => "active timeout",
        EndReason::Fin => "TCP FIN",
        EndReason::Rst => "TCP RST",
        EndReason::Eof => "end of input",
        EndReason::Evicted => "evicted (flow table full)",
        EndReason::Shutdown => "interrupted",
    }
}

fn class_name(c: ProtoClass) -> &'static str {
    match c {
        ProtoClass::Tcp => "TCP",
        ProtoClass::Udp => "UDP",
        ProtoClass::Icmp => "ICMP/ICMPv6",
        ProtoClass::OtherIp => "other IP",
        ProtoClass::NonIp => "non-IP / undecoded",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::detection::tests::tally;

    /// The summary `netvigil analyze` builds for one capture (default profile and windows).
    fn summarize(path: &Path) -> Summary {
        crate::testdata::summary(path)
    }

    fn console(width: usize) -> Console {
        Console {
            width,
            styled: false,
        }
    }

    #[test]
    fn the_width_is_columns_then_the_terminal_then_100_and_never_below_40() {
        let term = || Some(132);
        assert_eq!(Console::resolve(Some("80"), false, false, term).width, 80);
        assert_eq!(Console::resolve(Some("80"), true, false, term).width, 80);
        assert_eq!(Console::resolve(None, true, false, term).width, 132);
        assert_eq!(Console::resolve(Some("wide"), true, false, term).width, 132);
        assert_eq!(Console::resolve(None, true, false, || None).width, 100);
        assert_eq!(Console::resolve(None, false, false, term).width, 100);
        assert_eq!(Console::resolve(Some("12"), false, false, term).width, 40);
    }

    #[test]
    fn styling_needs_a_terminal_and_no_no_color() {
        let styled = |tty, no_color| Console::resolve(None, tty, no_color, || None).styled;
        assert!(styled(true, false));
        assert!(!styled(true, true));
        assert!(!styled(false, false));
        assert!(!styled(false, true));
    }

    #[test]
    fn prose_wraps_between_glued_phrases() {
        let text = format!(
            "TCP health: {}",
            glued(&[
                "1542 segments;".into(),
                "SYN 61,".into(),
                "SYN-ACK 61 (SYN/SYN-ACK 1.00);".into(),
                "RST 29 (1.9% of segments);".into(),
            ])
        );
        assert_eq!(
            unglue(&wrap(&text, 40)),
            "TCP health: 1542 segments; SYN 61,\n  SYN-ACK 61 (SYN/SYN-ACK 1.00);\n  \
             RST 29 (1.9% of segments);\n"
        );
    }

    #[test]
    fn a_narrow_table_wraps_its_labels_never_its_values() {
        let rows = vec![
            vec![
                "2001:db8:85a3::8a2e:370:7334".to_string(),
                glue("≥ 123.4 MiB"),
                "1234567890".to_string(),
            ],
            vec!["10.0.0.1".to_string(), glue("1.0 KiB"), "2".to_string()],
        ];
        let header = ["top destination address", "bytes received by it", "packets"];
        // 68 columns unwrapped; at 62 the labels give way (the values need 59).
        assert_eq!(console(200).natural_width(&header, &rows), 68);
        let out = unglue(&console(62).table(&header, &rows, &[1, 2]));
        assert!(out.lines().all(|l| l.chars().count() <= 62), "{out}");
        for value in ["2001:db8:85a3::8a2e:370:7334", "≥ 123.4 MiB", "1234567890"] {
            assert!(
                out.lines().any(|l| l.contains(value)),
                "{value} split:\n{out}"
            );
        }
        assert!(out.lines().any(|l| l.contains("by it")), "{out}");
        assert!(!out.contains("received by it"), "{out}");
    }

    #[test]
    fn a_one_row_table_too_wide_for_the_line_becomes_label_value_pairs() {
        let header = ["packets", "bytes", "decode errors", "processing"];
        let rows = vec![vec![
            "1580".to_string(),
            glue("844.6 KiB"),
            "0".to_string(),
            format!("{}, {}", glue("0.06 s"), glue("0.03 Mpps")),
        ]];
        assert_eq!(
            unglue(&console(40).table(&header, &rows, &[0, 1, 2])),
            "packets 1580; bytes 844.6 KiB;\n  decode errors 0;\n  \
             processing 0.06 s, 0.03 Mpps\n"
        );
    }

    #[test]
    fn many_inputs_are_counted_not_listed() {
        let dir = Path::new("/data/pcaps");
        let inputs: Vec<PathBuf> = (0..151).map(|i| dir.join(format!("c{i}.pcap"))).collect();
        assert_eq!(
            inputs_words(&inputs),
            "151 files in /data/pcaps: c0.pcap, c1.pcap, c2.pcap and 148 more"
        );
        assert_eq!(
            inputs_words(&inputs[..2]),
            "/data/pcaps/c0.pcap, /data/pcaps/c1.pcap"
        );
        let mixed = [
            PathBuf::from("a/x.pcap"),
            PathBuf::from("b/y.pcap"),
            PathBuf::from("c/z.pcap"),
            PathBuf::from("d/w.pcap"),
        ];
        assert_eq!(
            inputs_words(&mixed),
            "4 files: a/x.pcap, b/y.pcap, c/z.pcap and 1 more"
        );
    }

    #[test]
    fn the_estimate_note_names_the_bounded_lists() {
        assert_eq!(estimate_note(&[(true, "sources"), (true, "ports")]), None);
        assert_eq!(
            estimate_note(&[(false, "sources"), (true, "destinations"), (false, "ports")])
                .as_deref(),
            Some(
                "top sources and ports are bounded estimates (more were seen than are kept): \
                 ≥ marks a lower bound; see docs/windows.md"
            )
        );
    }

    /// webex.pcap as `netvigil analyze` summarizes it, in the JSON of `--summary-json`.
    #[test]
    fn the_json_summary_of_a_capture() {
        let path = crate::testdata::path("nfstream/pcaps/webex.pcap");
        let s = summarize(&path);
        let j = s.to_json(std::slice::from_ref(&path), 0.25, Some(&tally()));
        let text = path.display().to_string();
        assert_eq!(j["schema"], 1);
        assert_eq!(j["inputs"], json!([text]));
        assert_eq!(
            (&j["packets"], &j["bytes"], &j["flows"]),
            (&json!(1580), &json!(864_903), &json!(57))
        );
        assert_eq!(
            j["span"],
            json!({
                "start": "2015-10-11T13:37:04.853841Z",
                "end": "2015-10-11T13:39:02.172121Z",
                "duration_s": 117.31828,
            })
        );
        assert_eq!(j["processing_s"], 0.25);
        assert_eq!(
            (
                &j["non_ip_packets"],
                &j["decode_errors"],
                &j["ignored_packets"]
            ),
            (&json!(0), &json!(0), &json!(0))
        );
        assert_eq!(
            j["protocols"]["tcp"],
            json!({"packets": 1542, "bytes": 848_376, "flows": 55})
        );
        assert_eq!(
            j["protocols"]["udp"],
            json!({"packets": 38, "bytes": 16_527, "flows": 2})
        );
        assert_eq!(j["tcp"]["syn"], 61);
        assert_eq!(j["tcp"]["syn_ack"], 61);
        assert_eq!(j["tcp"]["rst"], 29);
        assert_eq!(j["tcp"]["retransmissions"], 39);
        assert_eq!(j["directions"]["inbound"]["packets"], 755);
        assert_eq!(j["directions"]["outbound"]["packets"], 803);
        assert_eq!(j["top_sources"]["exact"], true);
        assert_eq!(j["top_sources"]["entries"][0]["ip"], "62.109.224.120");
        assert_eq!(
            j["top_sources"]["entries"].as_array().map(Vec::len),
            Some(10)
        );
        assert_eq!(j["top_destinations"]["entries"][0]["ip"], "10.8.0.1");
        assert_eq!(
            j["top_ports"]["entries"][0],
            json!({"proto": "tcp", "port": 443, "service": "https", "packets": 1520,
                   "bytes": 845_194, "share": 1520.0 / 1580.0})
        );
        assert_eq!(
            j["flows_ended"],
            json!({"idle": 0, "active": 0, "fin": 0, "rst": 22, "eof": 35, "evicted": 0,
                   "shutdown": 0})
        );
        assert_eq!(j["peak_tracked_flows"], 57);
        assert_eq!(
            j["detection"],
            json!({
                "model": "netvigil-gbdt-test",
                "threshold": 0.5,
                "flows_scored": 57,
                "alerts": 5,
                "by_kind": [
                    {"detector": "model", "kind": "DoS Hulk", "alerts": 4, "max_severity": 4},
                    {"detector": "rule", "kind": "port_scan_vertical", "alerts": 1,
                     "max_severity": 3},
                ],
                "top_sources": [{"ip": "10.8.0.1", "alerts": 5, "max_severity": 4}],
                "alerts_from_unlisted_sources": 0,
                "rules_state_dropped": 3,
                "rules_flows_late": 930,
                "baseline_flows_late": 12,
                "episodes": {"hits": [0, 0, 0], "episodes": 0, "absorbed": 0, "closed_early": 0,
                             "model_only_unraised": 0, "peers_untracked": 0, "peak_open": 0,
                             "early_hits": 0, "snapshots": 0},
                "model_flows_left_to_rules": {"protocol": 0, "one_way": 0, "multicast": 0},
            })
        );
        assert_eq!(s.to_json(&[], 0.0, None)["detection"], Value::Null);
    }
}

//! CSV in the canonical layout, or in the original CIC-IDS2017 layout.

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;

use flow::columns::{Column, Value};
use flow::features::{lookup, Kind, FEATURES};
use flow::FlowRecord;
use packet::Timestamp;

use super::{
    format_float, label_values, layout_columns, write_float, ExportError, FlowSink, Layout,
    LABEL_COLUMNS,
};
use crate::model::Score;

/// The original CIC-IDS2017 `TrafficLabelling` header, spaces and duplicate included.
const CIC2017_HEADER: &[&str] = &[
    "Flow ID",
    " Source IP",
    " Source Port",
    " Destination IP",
    " Destination Port",
    " Protocol",
    " Timestamp",
    " Flow Duration",
    " Total Fwd Packets",
    " Total Backward Packets",
    "Total Length of Fwd Packets",
    " Total Length of Bwd Packets",
    " Fwd Packet Length Max",
    " Fwd Packet Length Min",
    " Fwd Packet Length Mean",
    " Fwd Packet Length Std",
    "Bwd Packet Length Max",
    " Bwd Packet Length Min",
    " Bwd Packet Length Mean",
    " Bwd Packet Length Std",
    "Flow Bytes/s",
    " Flow Packets/s",
    " Flow IAT Mean",
    " Flow IAT Std",
    " Flow IAT Max",
    " Flow IAT Min",
    "Fwd IAT Total",
    " Fwd IAT Mean",
    " Fwd IAT Std",
    " Fwd IAT Max",
    " Fwd IAT Min",
    "Bwd IAT Total",
    " Bwd IAT Mean",
    " Bwd IAT Std",
    " Bwd IAT Max",
    " Bwd IAT Min",
    "Fwd PSH Flags",
    " Bwd PSH Flags",
    " Fwd URG Flags",
    " Bwd URG Flags",
    " Fwd Header Length",
    " Bwd Header Length",
    "Fwd Packets/s",
    " Bwd Packets/s",
    " Min Packet Length",
    " Max Packet Length",
    " Packet Length Mean",
    " Packet Length Std",
    " Packet Length Variance",
    "FIN Flag Count",
    " SYN Flag Count",
    " RST Flag Count",
    " PSH Flag Count",
    " ACK Flag Count",
    " URG Flag Count",
    " CWE Flag Count",
    " ECE Flag Count",
    " Down/Up Ratio",
    " Average Packet Size",
    " Avg Fwd Segment Size",
    " Avg Bwd Segment Size",
    " Fwd Header Length",
    "Fwd Avg Bytes/Bulk",
    " Fwd Avg Packets/Bulk",
    " Fwd Avg Bulk Rate",
    " Bwd Avg Bytes/Bulk",
    " Bwd Avg Packets/Bulk",
    "Bwd Avg Bulk Rate",
    "Subflow Fwd Packets",
    " Subflow Fwd Bytes",
    " Subflow Bwd Packets",
    " Subflow Bwd Bytes",
    "Init_Win_bytes_forward",
    " Init_Win_bytes_backward",
    " act_data_pkt_fwd",
    " min_seg_size_forward",
    "Active Mean",
    " Active Std",
    " Active Max",
    " Active Min",
    "Idle Mean",
    " Idle Std",
    " Idle Max",
    " Idle Min",
];

/// The columns of the CIC-IDS2017 layout.
pub fn cic2017_columns() -> Vec<(String, Column)> {
    {
        CIC2017_HEADER
            .iter()
            .filter_map(|h| {
                let col = match h.trim() {
                    "Flow ID" => Column::FlowId,
                    "Source IP" => Column::SrcIp,
                    "Source Port" => Column::SrcPort,
                    "Destination IP" => Column::DstIp,
                    "Destination Port" => Column::DstPort,
                    "Protocol" => Column::Protocol,
                    "Timestamp" => Column::Timestamp,
                    // Every name of the table resolves (a unit test checks it).
                    other => Column::Feature(lookup(other)?),
                };
                Some((h.to_string(), col))
            })
            .collect()
    }
}

/// Bytes of rows gathered before they are handed to the output: as much as the 1 MiB
/// `BufWriter`s the outputs are wrapped in, so they pass each chunk straight through.
const CHUNK: usize = 1 << 20;

/// A CSV writer of flow records.
///
/// Rows are formatted straight into one reused byte buffer (integers by `itoa`, floats by
/// `ryu`, addresses and times by hand), the text the `csv` crate's default writer produces:
/// `,` between fields, `\n` after each row, and a field in double quotes (its quotes doubled)
/// only when it holds `,`, `"`, `\r` or `\n`.
pub struct CsvSink {
    out: Box<dyn Write + Send>,
    buf: Vec<u8>,
    cols: Vec<Cell>,
    path: PathBuf,
    labels: bool,
}

impl CsvSink {
    /// Writes the header of `layout` to `out`.
    pub fn new(
        out: Box<dyn Write + Send>,
        layout: Layout,
        labels: bool,
        path: PathBuf,
    ) -> Result<Self, ExportError> {
        let cols = layout_columns(layout);
        let label_names = LABEL_COLUMNS.iter().filter(|_| labels).copied();
        let mut buf = Vec::with_capacity(CHUNK + 4096);
        for (i, name) in cols
            .iter()
            .map(|(h, _)| h.as_str())
            .chain(label_names)
            .enumerate()
        {
            if i > 0 {
                buf.push(b',');
            }
            let at = buf.len();
            buf.extend_from_slice(name.as_bytes());
            quote_from(&mut buf, at);
        }
        buf.push(b'\n');
        let mut sink = CsvSink {
            out,
            buf,
            cols: cols.into_iter().map(|(_, c)| Cell::of(c)).collect(),
            path,
            labels,
        };
        // The header reaches the output at once, as the `csv` writer's did at its first flush.
        sink.drain()?;
        Ok(sink)
    }

    /// Hands the gathered rows to the output.
    fn drain(&mut self) -> Result<(), ExportError> {
        let r = self.out.write_all(&self.buf);
        self.buf.clear();
        r.map_err(|source| ExportError::Io {
            path: self.path.clone(),
            source,
        })
    }
}

impl FlowSink for CsvSink {
    fn write(&mut self, r: &FlowRecord) -> Result<(), ExportError> {
        self.write_scored(r, None)
    }

    fn write_scored(&mut self, r: &FlowRecord, score: Option<&Score>) -> Result<(), ExportError> {
        let buf = &mut self.buf;
        for (i, &c) in self.cols.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            cell(buf, c, r);
        }
        if self.labels {
            for v in label_values(score) {
                buf.push(b',');
                value(buf, v);
            }
        }
        buf.push(b'\n');
        if buf.len() >= CHUNK {
            self.drain()?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), ExportError> {
        self.drain()?;
        self.out.flush().map_err(|source| ExportError::Io {
            path: self.path.clone(),
            source,
        })
    }
}

impl Drop for CsvSink {
    /// Hands over what is left, as the `csv` writer did when dropped (errors are for
    /// [`FlowSink::finish`] to report).
    fn drop(&mut self) {
        if !self.buf.is_empty() {
            let _ = self.out.write_all(&self.buf);
            let _ = self.out.flush();
        }
    }
}

/// How a column's cell is written.
#[derive(Clone, Copy)]
enum Cell {
    /// Feature `.0`, an integer ([`Column::value`]'s `Value::Int(v as i64)`).
    Int(usize),
    /// Feature `.0`, a real.
    Float(usize),
    /// Any other column.
    Other(Column),
}

impl Cell {
    fn of(c: Column) -> Cell {
        match c {
            Column::Feature(f) => match FEATURES[f as usize].kind {
                Kind::Int => Cell::Int(f as usize),
                Kind::Float => Cell::Float(f as usize),
            },
            c => Cell::Other(c),
        }
    }
}

/// Appends column `c` of `r`: the cell [`render`] writes for `c.value(r)`, without building
/// the texts the value would own.
#[inline]
fn cell(buf: &mut Vec<u8>, c: Cell, r: &FlowRecord) {
    let c = match c {
        Cell::Int(f) => {
            let v = r.features[f] as i64;
            buf.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
            return;
        }
        Cell::Float(f) => return write_float(buf, r.features[f]),
        Cell::Other(c) => c,
    };
    match c {
        // Addresses and numbers: nothing to quote.
        Column::FlowId => {
            ip(buf, r.src);
            buf.push(b'-');
            ip(buf, r.dst);
            buf.push(b'-');
            buf.extend_from_slice(itoa::Buffer::new().format(r.sport).as_bytes());
            buf.push(b'-');
            buf.extend_from_slice(itoa::Buffer::new().format(r.dport).as_bytes());
            buf.push(b'-');
            buf.extend_from_slice(itoa::Buffer::new().format(r.proto).as_bytes());
        }
        Column::SrcIp => ip(buf, r.src),
        Column::DstIp => ip(buf, r.dst),
        Column::DnsQuery if r.app.dns_queries.len() > 1 => {
            let at = buf.len();
            for (i, q) in r.app.dns_queries.iter().enumerate() {
                if i > 0 {
                    buf.push(b';');
                }
                buf.extend_from_slice(q.as_bytes());
            }
            quote_from(buf, at);
        }
        _ => value(buf, c.value(r)),
    }
}

/// Appends an address as `IpAddr`'s `Display` writes it.
#[inline]
fn ip(buf: &mut Vec<u8>, a: IpAddr) {
    match a {
        IpAddr::V4(v4) => {
            let mut digits = itoa::Buffer::new();
            for (i, o) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    buf.push(b'.');
                }
                buf.extend_from_slice(digits.format(o).as_bytes());
            }
        }
        IpAddr::V6(v6) => {
            use std::io::Write as _;
            // Writing into a Vec cannot fail.
            let _ = write!(buf, "{v6}");
        }
    }
}

/// Appends one cell (quoted when it needs it).
#[inline]
fn value(buf: &mut Vec<u8>, v: Value<'_>) {
    match v {
        Value::Text(s) => {
            let at = buf.len();
            buf.extend_from_slice(s.as_bytes());
            quote_from(buf, at);
        }
        Value::Int(i) => buf.extend_from_slice(itoa::Buffer::new().format(i).as_bytes()),
        Value::Float(f) => write_float(buf, f),
        Value::Time(t) => time(buf, t),
        Value::Null => {}
    }
}

/// Appends a time as `Timestamp`'s `Display` writes it (`YYYY-MM-DD HH:MM:SS.ffffff`).
fn time(buf: &mut Vec<u8>, t: i64) {
    let (y, mo, d, h, mi, s, us) = Timestamp(t).to_civil();
    if !(0..=9999).contains(&y) {
        use std::io::Write as _;
        // Writing into a Vec cannot fail.
        let _ = write!(buf, "{}", Timestamp(t));
        return;
    }
    let two = |buf: &mut Vec<u8>, v: u32| {
        buf.extend_from_slice(&[b'0' + (v / 10) as u8, b'0' + (v % 10) as u8])
    };
    let y = y as u32;
    two(buf, y / 100);
    two(buf, y % 100);
    buf.push(b'-');
    two(buf, mo);
    buf.push(b'-');
    two(buf, d);
    buf.push(b' ');
    two(buf, h);
    buf.push(b':');
    two(buf, mi);
    buf.push(b':');
    two(buf, s);
    buf.push(b'.');
    two(buf, us / 10_000);
    two(buf, us / 100 % 100);
    two(buf, us % 100);
}

/// Whether a byte makes the `csv` writer quote its field.
#[inline]
fn special(b: u8) -> bool {
    matches!(b, b',' | b'"' | b'\r' | b'\n')
}

/// Quotes the field `buf[at..]` in place when the `csv` writer would: in double quotes, its
/// quotes doubled.
#[inline]
fn quote_from(buf: &mut Vec<u8>, at: usize) {
    if !buf[at..].iter().any(|&b| special(b)) {
        return;
    }
    let field = buf.split_off(at);
    buf.push(b'"');
    for &b in &field {
        if b == b'"' {
            buf.push(b'"');
        }
        buf.push(b);
    }
    buf.push(b'"');
}

/// Renders one cell as CSV text.
pub fn render(buf: &mut String, v: Value<'_>) {
    use std::fmt::Write as _;
    match v {
        Value::Text(s) => buf.push_str(&s),
        Value::Int(i) => buf.push_str(itoa::Buffer::new().format(i)),
        Value::Float(f) => format_float(buf, f),
        Value::Time(t) => {
            let _ = write!(buf, "{}", Timestamp(t));
        }
        Value::Null => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flow::features::F;

    #[test]
    fn the_cic2017_layout_maps_every_original_column() {
        let cols = cic2017_columns();
        assert_eq!(cols.len(), CIC2017_HEADER.len());
        // 7 identity columns and the 77 original features (no Label: netvigil does not label).
        assert_eq!(cols.len(), 7 + 77);
        // The original files repeat Fwd Header Length.
        let fhl = cols
            .iter()
            .filter(|(_, c)| *c == Column::Feature(F::FwdHeaderLen))
            .count();
        assert_eq!(fhl, 2);
        assert_eq!(cols[5], (" Protocol".to_string(), Column::Protocol));
    }

    /// An output the test reads back once the sink is done with it.
    #[derive(Clone, Default)]
    struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A capture's flows (cic profile).
    fn meter(name: &str) -> Vec<FlowRecord> {
        use flow::{EndReason, HomeNet, Meter, MeterConfig, Profile};
        use packet::{FileSource, PacketSource};
        let data = std::env::var_os("NETVIGIL_DATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
            });
        let mut m = Meter::new(MeterConfig::new(Profile::Cic), HomeNet::default());
        let mut src = FileSource::open(&data.join("nfstream/pcaps").join(name), 0).unwrap();
        let mut flows = Vec::new();
        while let Ok(n) = src.fill_batch(64) {
            if n == 0 {
                break;
            }
            m.packet_batch(&src, n, &mut flows, |_, _| {});
        }
        while m.finish(EndReason::Eof, usize::MAX, &mut flows) {}
        flows
    }

    /// What the `csv` crate's writer made of the rows, cell by cell from [`render`] (the
    /// sink's code before it formatted rows itself).
    fn csv_crate_text(
        recs: &[FlowRecord],
        scores: &[Option<Score>],
        layout: Layout,
        labels: bool,
    ) -> Vec<u8> {
        let mut w = ::csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(Vec::new());
        let cols = layout_columns(layout);
        let names = LABEL_COLUMNS.iter().filter(|_| labels).copied();
        w.write_record(cols.iter().map(|(h, _)| h.as_str()).chain(names))
            .unwrap();
        let mut cell = String::new();
        for (r, s) in recs.iter().zip(scores) {
            let label_cells = label_values(s.as_ref());
            let values = cols
                .iter()
                .map(|(_, c)| c.value(r))
                .chain(label_cells.into_iter().filter(|_| labels));
            for v in values {
                cell.clear();
                render(&mut cell, v);
                w.write_field(&cell).unwrap();
            }
            w.write_record(None::<&[u8]>).unwrap();
        }
        w.into_inner().unwrap()
    }

    #[test]
    fn rows_are_the_text_the_csv_crate_writes() {
        // IPv6 addresses, several DNS queries in one flow, TLS ALPN lists with commas.
        let mut recs = Vec::new();
        for name in [
            "anyconnect-vpn.pcap",
            "mdns.pcap",
            "http_ipv6.pcap",
            "dnscrypt-v2-doh.pcap",
        ] {
            recs.extend(meter(name));
        }
        assert_eq!(recs.len(), 69 + 34 + 15 + 34);
        // Labels with every character that needs quoting, on two flows out of three.
        let labels = ["BENIGN", "Web, \"XSS\"", "line\nbreak", "cr\r", "", "\"\""];
        let scores: Vec<Option<Score>> = (0..recs.len())
            .map(|i| {
                (i % 3 != 0).then(|| Score {
                    label: labels[i % labels.len()].to_string(),
                    p_attack: i as f64 / 7.0,
                    confidence: 1.0 - i as f64 / 1e3,
                    model: "m".into(),
                })
            })
            .collect();
        let mut quoted = 0;
        for layout in [Layout::Canonical, Layout::Cic2017, Layout::Features] {
            for with_labels in [false, true] {
                let out = Shared::default();
                let mut sink = CsvSink::new(
                    Box::new(out.clone()),
                    layout,
                    with_labels,
                    PathBuf::from("t.csv"),
                )
                .unwrap();
                sink.write_batch(&recs, &scores).unwrap();
                sink.finish().unwrap();
                let got = out.0.lock().unwrap().clone();
                let want = csv_crate_text(&recs, &scores, layout, with_labels);
                assert!(
                    got == want,
                    "{layout:?} labels {with_labels}:\n{}\n---\n{}",
                    String::from_utf8_lossy(&got),
                    String::from_utf8_lossy(&want)
                );
                quoted += got.iter().filter(|&&b| b == b'"').count();
            }
        }
        // Quoting happened: ALPN lists, User-Agents with commas ("(KHTML, like Gecko)") and the
        // labels.
        assert_eq!(quoted, 1_240);
    }

    #[test]
    fn floats_are_written_as_ryu_writes_them() {
        let exact = (1u64 << 53) as f64;
        let mut values = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            exact,
            -exact,
            exact - 1.0,
            1.0 - exact,
            exact + 2.0,
            1e15,
            1e16,
            1e16 - 2.0,
            1e-7,
            f64::MIN_POSITIVE,
            5e-324,
            f64::MAX,
            f64::MIN,
            i64::MAX as f64,
            i64::MIN as f64,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..200_000 {
            values.push(f64::from_bits(rng.u64(..)));
            values.push(rng.i64(-(1 << 55)..(1 << 55)) as f64);
            values.push(rng.u32(..) as f64 / 8.0);
        }
        let mut buf = Vec::new();
        for v in values {
            buf.clear();
            write_float(&mut buf, v);
            assert_eq!(buf, ryu::Buffer::new().format(v).as_bytes(), "{v:?}");
        }
    }

    #[test]
    fn times_are_written_as_timestamps_display_them() {
        let mut rng = fastrand::Rng::with_seed(5);
        // From before year 0 to after 9999, and the edges of the four-digit years.
        let mut times = vec![0, -1, 1, 253_402_300_799_999_999, 253_402_300_800_000_000];
        times.push(-62_167_219_200_000_000);
        times.push(-62_167_219_200_000_001);
        for _ in 0..100_000 {
            times.push(rng.i64(-70_000_000_000_000_000..300_000_000_000_000_000));
        }
        let mut buf = Vec::new();
        for t in times {
            buf.clear();
            time(&mut buf, t);
            assert_eq!(
                String::from_utf8(buf.clone()).unwrap(),
                Timestamp(t).to_string()
            );
        }
    }
}

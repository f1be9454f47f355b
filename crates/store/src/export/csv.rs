//! CSV in the canonical layout, or in the original CIC-IDS2017 layout.

use std::io::Write;
use std::path::PathBuf;

use flow::columns::{Column, Value};
use flow::features::lookup;
use flow::FlowRecord;
use packet::Timestamp;

use super::{
    format_float, label_values, layout_columns, ExportError, FlowSink, Layout, LABEL_COLUMNS,
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

/// A CSV writer of flow records.
pub struct CsvSink {
    w: csv::Writer<Box<dyn Write + Send>>,
    cols: Vec<Column>,
    path: PathBuf,
    cell: String,
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
        let mut w = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(out);
        let cols = layout_columns(layout);
        let label_names = LABEL_COLUMNS.iter().filter(|_| labels).copied();
        w.write_record(cols.iter().map(|(h, _)| h.as_str()).chain(label_names))
            .map_err(|source| ExportError::Csv {
                path: path.clone(),
                source,
            })?;
        Ok(CsvSink {
            w,
            cols: cols.into_iter().map(|(_, c)| c).collect(),
            path,
            cell: String::new(),
            labels,
        })
    }

    fn field(&mut self) -> Result<(), ExportError> {
        self.w
            .write_field(&self.cell)
            .map_err(|source| ExportError::Csv {
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
        for i in 0..self.cols.len() {
            self.cell.clear();
            render(&mut self.cell, self.cols[i].value(r));
            self.field()?;
        }
        if self.labels {
            for v in label_values(score) {
                self.cell.clear();
                render(&mut self.cell, v);
                self.field()?;
            }
        }
        self.w
            .write_record(None::<&[u8]>)
            .map_err(|source| ExportError::Csv {
                path: self.path.clone(),
                source,
            })
    }

    fn finish(&mut self) -> Result<(), ExportError> {
        self.w.flush().map_err(|source| ExportError::Io {
            path: self.path.clone(),
            source,
        })
    }
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
}

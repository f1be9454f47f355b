//! The feature table: the one source of truth for every flow feature's name, unit and meaning.
//!
//! The CSV header, the Parquet schema, the database columns and the model's input order are all
//! derived from [`FEATURES`]. Canonical names are the improved CIC-IDS2017 headers; aliases cover
//! the original CIC-IDS2017 and the CSE-CIC-IDS2018 spellings (see [`lookup`]).

use std::collections::HashMap;
use std::sync::OnceLock;

/// Unit of a feature's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Microseconds.
    Micros,
    /// A count of packets, flags or bulks.
    Count,
    /// Bytes (L4 payload unless the name says wire).
    Bytes,
    /// Bytes per second.
    BytesPerSec,
    /// Packets per second.
    PacketsPerSec,
    /// A dimensionless ratio.
    Ratio,
    /// Bytes squared (a variance of lengths).
    BytesSquared,
    /// A protocol code (ICMP type/code, TCP window).
    Code,
}

impl Unit {
    /// Short unit label for documentation and schemas.
    pub fn label(self) -> &'static str {
        match self {
            Unit::Micros => "µs",
            Unit::Count => "count",
            Unit::Bytes => "bytes",
            Unit::BytesPerSec => "bytes/s",
            Unit::PacketsPerSec => "packets/s",
            Unit::Ratio => "ratio",
            Unit::BytesSquared => "bytes²",
            Unit::Code => "code",
        }
    }
}

/// Whether a feature is integral (written without a fraction) or real.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Integer-valued.
    Int,
    /// Real-valued.
    Float,
}

/// One feature column.
#[derive(Clone, Copy, Debug)]
pub struct Feature {
    /// Canonical name (improved CIC-IDS2017 header).
    pub name: &'static str,
    /// Unit of the value.
    pub unit: Unit,
    /// Integer or real.
    pub kind: Kind,
    /// One-line definition.
    pub doc: &'static str,
    /// Other spellings (original CIC-IDS2017, CSE-CIC-IDS2018, the fixed CICFlowMeter's own).
    pub aliases: &'static [&'static str],
}

macro_rules! feature_table {
    ($($id:ident => $name:literal, $unit:ident, $kind:ident, $doc:literal, [$($alias:literal),*];)*) => {
        /// Index of each feature in [`FEATURES`] and in a flow's feature vector.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(usize)]
        #[allow(missing_docs)]
        pub enum F { $($id),* }

        /// Every feature, in canonical column order.
        pub static FEATURES: &[Feature] = &[
            $(Feature { name: $name, unit: Unit::$unit, kind: Kind::$kind, doc: $doc, aliases: &[$($alias),*] }),*
        ];

        /// Number of features.
        pub const N_FEATURES: usize = [$(stringify!($id)),*].len();

        /// Every [`F`] in table order (so an index can be turned back into its feature).
        pub static ALL: [F; N_FEATURES] = [$(F::$id),*];
    };
}

feature_table! {
    FlowDuration => "Flow Duration", Micros, Int, "last packet time − first packet time", [];
    TotalFwdPackets => "Total Fwd Packet", Count, Int, "packets in the forward direction", ["Total Fwd Packets", "Tot Fwd Pkts"];
    TotalBwdPackets => "Total Bwd packets", Count, Int, "packets in the backward direction", ["Total Backward Packets", "Tot Bwd Pkts"];
    TotalLenFwd => "Total Length of Fwd Packet", Bytes, Int, "Σ L4 payload, forward", ["Total Length of Fwd Packets", "TotLen Fwd Pkts"];
    TotalLenBwd => "Total Length of Bwd Packet", Bytes, Int, "Σ L4 payload, backward", ["Total Length of Bwd Packets", "TotLen Bwd Pkts"];
    FwdPktLenMax => "Fwd Packet Length Max", Bytes, Int, "largest forward payload", ["Fwd Pkt Len Max"];
    FwdPktLenMin => "Fwd Packet Length Min", Bytes, Int, "smallest forward payload", ["Fwd Pkt Len Min"];
    FwdPktLenMean => "Fwd Packet Length Mean", Bytes, Float, "mean forward payload", ["Fwd Pkt Len Mean"];
    FwdPktLenStd => "Fwd Packet Length Std", Bytes, Float, "sample std of forward payload", ["Fwd Pkt Len Std"];
    BwdPktLenMax => "Bwd Packet Length Max", Bytes, Int, "largest backward payload", ["Bwd Pkt Len Max"];
    BwdPktLenMin => "Bwd Packet Length Min", Bytes, Int, "smallest backward payload", ["Bwd Pkt Len Min"];
    BwdPktLenMean => "Bwd Packet Length Mean", Bytes, Float, "mean backward payload", ["Bwd Pkt Len Mean"];
    BwdPktLenStd => "Bwd Packet Length Std", Bytes, Float, "sample std of backward payload", ["Bwd Pkt Len Std"];
    FlowBytesPerSec => "Flow Bytes/s", BytesPerSec, Float, "Σ payload / duration (−1 when the duration is 0)", ["Flow Byts/s"];
    FlowPacketsPerSec => "Flow Packets/s", PacketsPerSec, Float, "packets / duration (−1 when the duration is 0)", ["Flow Pkts/s"];
    FlowIatMean => "Flow IAT Mean", Micros, Float, "mean gap between consecutive packets", [];
    FlowIatStd => "Flow IAT Std", Micros, Float, "sample std of the gaps", [];
    FlowIatMax => "Flow IAT Max", Micros, Int, "largest gap", [];
    FlowIatMin => "Flow IAT Min", Micros, Int, "smallest gap", [];
    FwdIatTotal => "Fwd IAT Total", Micros, Int, "Σ gaps between forward packets", ["Fwd IAT Tot"];
    FwdIatMean => "Fwd IAT Mean", Micros, Float, "mean forward gap", [];
    FwdIatStd => "Fwd IAT Std", Micros, Float, "sample std of forward gaps", [];
    FwdIatMax => "Fwd IAT Max", Micros, Int, "largest forward gap", [];
    FwdIatMin => "Fwd IAT Min", Micros, Int, "smallest forward gap", [];
    BwdIatTotal => "Bwd IAT Total", Micros, Int, "Σ gaps between backward packets", ["Bwd IAT Tot"];
    BwdIatMean => "Bwd IAT Mean", Micros, Float, "mean backward gap", [];
    BwdIatStd => "Bwd IAT Std", Micros, Float, "sample std of backward gaps", [];
    BwdIatMax => "Bwd IAT Max", Micros, Int, "largest backward gap", [];
    BwdIatMin => "Bwd IAT Min", Micros, Int, "smallest backward gap", [];
    FwdPshFlags => "Fwd PSH Flags", Count, Int, "forward packets with PSH", [];
    BwdPshFlags => "Bwd PSH Flags", Count, Int, "backward packets with PSH", [];
    FwdUrgFlags => "Fwd URG Flags", Count, Int, "forward packets with URG", [];
    BwdUrgFlags => "Bwd URG Flags", Count, Int, "backward packets with URG", [];
    FwdRstFlags => "Fwd RST Flags", Count, Int, "forward packets with RST", [];
    BwdRstFlags => "Bwd RST Flags", Count, Int, "backward packets with RST", [];
    FwdHeaderLen => "Fwd Header Length", Bytes, Int, "Σ L4 header length, forward", ["Fwd Header Len"];
    BwdHeaderLen => "Bwd Header Length", Bytes, Int, "Σ L4 header length, backward", ["Bwd Header Len"];
    FwdPacketsPerSec => "Fwd Packets/s", PacketsPerSec, Float, "forward packets / duration (0 when the duration is 0)", ["Fwd Pkts/s"];
    BwdPacketsPerSec => "Bwd Packets/s", PacketsPerSec, Float, "backward packets / duration (0 when the duration is 0)", ["Bwd Pkts/s"];
    PktLenMin => "Packet Length Min", Bytes, Int, "smallest payload, both directions", ["Min Packet Length", "Pkt Len Min"];
    PktLenMax => "Packet Length Max", Bytes, Int, "largest payload, both directions", ["Max Packet Length", "Pkt Len Max"];
    PktLenMean => "Packet Length Mean", Bytes, Float, "mean payload, both directions", ["Pkt Len Mean"];
    PktLenStd => "Packet Length Std", Bytes, Float, "sample std of payload, both directions", ["Pkt Len Std"];
    PktLenVar => "Packet Length Variance", BytesSquared, Float, "sample variance of payload, both directions", ["Pkt Len Var"];
    FinFlagCount => "FIN Flag Count", Count, Int, "packets with FIN", ["FIN Flag Cnt"];
    SynFlagCount => "SYN Flag Count", Count, Int, "packets with SYN", ["SYN Flag Cnt"];
    RstFlagCount => "RST Flag Count", Count, Int, "packets with RST", ["RST Flag Cnt"];
    PshFlagCount => "PSH Flag Count", Count, Int, "packets with PSH", ["PSH Flag Cnt"];
    AckFlagCount => "ACK Flag Count", Count, Int, "packets with ACK", ["ACK Flag Cnt"];
    UrgFlagCount => "URG Flag Count", Count, Int, "packets with URG", ["URG Flag Cnt"];
    CwrFlagCount => "CWR Flag Count", Count, Int, "packets with CWR", ["CWE Flag Count", "CWE Flag Cnt"];
    EceFlagCount => "ECE Flag Count", Count, Int, "packets with ECE", ["ECE Flag Cnt"];
    DownUpRatio => "Down/Up Ratio", Ratio, Float, "backward packets / forward packets", [];
    AvgPacketSize => "Average Packet Size", Bytes, Float, "Σ payload / packets", ["Pkt Size Avg"];
    FwdSegSizeAvg => "Fwd Segment Size Avg", Bytes, Float, "Σ forward payload / forward packets", ["Avg Fwd Segment Size"];
    BwdSegSizeAvg => "Bwd Segment Size Avg", Bytes, Float, "Σ backward payload / backward packets", ["Avg Bwd Segment Size"];
    FwdBytesBulkAvg => "Fwd Bytes/Bulk Avg", Bytes, Float, "mean payload per forward bulk", ["Fwd Avg Bytes/Bulk", "Fwd Byts/b Avg"];
    FwdPacketBulkAvg => "Fwd Packet/Bulk Avg", Count, Float, "mean packets per forward bulk", ["Fwd Avg Packets/Bulk", "Fwd Pkts/b Avg"];
    FwdBulkRateAvg => "Fwd Bulk Rate Avg", BytesPerSec, Float, "forward bulk bytes / bulk seconds", ["Fwd Avg Bulk Rate", "Fwd Blk Rate Avg"];
    BwdBytesBulkAvg => "Bwd Bytes/Bulk Avg", Bytes, Float, "mean payload per backward bulk", ["Bwd Avg Bytes/Bulk", "Bwd Byts/b Avg"];
    BwdPacketBulkAvg => "Bwd Packet/Bulk Avg", Count, Float, "mean packets per backward bulk", ["Bwd Avg Packets/Bulk", "Bwd Pkts/b Avg"];
    BwdBulkRateAvg => "Bwd Bulk Rate Avg", BytesPerSec, Float, "backward bulk bytes / bulk seconds", ["Bwd Avg Bulk Rate", "Bwd Blk Rate Avg"];
    SubflowFwdPackets => "Subflow Fwd Packets", Count, Float, "forward packets / subflows", ["Subflow Fwd Pkts"];
    SubflowFwdBytes => "Subflow Fwd Bytes", Bytes, Float, "forward payload / subflows", ["Subflow Fwd Byts"];
    SubflowBwdPackets => "Subflow Bwd Packets", Count, Float, "backward packets / subflows", ["Subflow Bwd Pkts"];
    SubflowBwdBytes => "Subflow Bwd Bytes", Bytes, Float, "backward payload / subflows", ["Subflow Bwd Byts"];
    FwdInitWinBytes => "FWD Init Win Bytes", Code, Int, "TCP window of the first forward packet", ["Init_Win_bytes_forward", "Init Fwd Win Byts"];
    BwdInitWinBytes => "Bwd Init Win Bytes", Code, Int, "TCP window of the first backward packet with a non-zero window", ["Init_Win_bytes_backward", "Init Bwd Win Byts"];
    FwdActDataPkts => "Fwd Act Data Pkts", Count, Int, "forward packets with payload ≥ 1 byte", ["act_data_pkt_fwd"];
    FwdSegSizeMin => "Fwd Seg Size Min", Bytes, Int, "smallest forward L4 header length", ["min_seg_size_forward"];
    ActiveMean => "Active Mean", Micros, Float, "mean active period (gap > 5 s ends one)", [];
    ActiveStd => "Active Std", Micros, Float, "sample std of active periods", [];
    ActiveMax => "Active Max", Micros, Int, "longest active period", [];
    ActiveMin => "Active Min", Micros, Int, "shortest active period", [];
    IdleMean => "Idle Mean", Micros, Float, "mean idle period", [];
    IdleStd => "Idle Std", Micros, Float, "sample std of idle periods", [];
    IdleMax => "Idle Max", Micros, Int, "longest idle period", [];
    IdleMin => "Idle Min", Micros, Int, "shortest idle period", [];
    IcmpCode => "ICMP Code", Code, Int, "code of the first ICMP packet (−1 if none)", [];
    IcmpType => "ICMP Type", Code, Int, "type of the first ICMP packet (−1 if none)", [];
    TotalTcpFlowTime => "Total TCP Flow Time", Micros, Int, "duration summed over the pieces of a connection split by the active timeout", ["Total Connection Flow Time"];
}

/// Normalises a column name for alias matching: trimmed, lower case.
fn norm(s: &str) -> String {
    s.trim().to_ascii_lowercase()
}

/// Finds the feature a column name refers to, in any of the known spellings (canonical, original
/// CIC-IDS2017 with or without its leading space, CSE-CIC-IDS2018). Case-insensitive.
pub fn lookup(name: &str) -> Option<F> {
    static MAP: OnceLock<HashMap<String, usize>> = OnceLock::new();
    let map = MAP.get_or_init(|| {
        let mut m = HashMap::new();
        for (i, f) in FEATURES.iter().enumerate() {
            m.insert(norm(f.name), i);
            for a in f.aliases {
                m.insert(norm(a), i);
            }
        }
        // The original CIC-IDS2017 files repeat `Fwd Header Length`; pandas names the copy `.1`.
        m.insert(norm("Fwd Header Length.1"), F::FwdHeaderLen as usize);
        m
    });
    map.get(&norm(name)).map(|&i| ALL[i])
}

impl F {
    /// The feature's table entry.
    pub fn def(self) -> &'static Feature {
        &FEATURES[self as usize]
    }

    /// The feature's canonical name.
    pub fn name(self) -> &'static str {
        FEATURES[self as usize].name
    }
}

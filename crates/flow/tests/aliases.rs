//! Column names in the wild: the improved CIC-IDS2017 headers, the original CIC-IDS2017 ones
//! (leading spaces, `Fwd Header Length.1`) and CSE-CIC-IDS2018's short names all resolve to the
//! canonical features.

mod common;

use common::{data_dir, read_csv};
use flow::features::{lookup, F, FEATURES};

#[test]
fn every_improved_cicids2017_feature_header_is_a_canonical_name() {
    let (header, _) = read_csv(&data_dir().join("cicids2017-improved/BENIGN_5000.csv"));
    let identity = [
        "id",
        "Flow ID",
        "Src IP",
        "Src Port",
        "Dst IP",
        "Dst Port",
        "Protocol",
        "Timestamp",
        "Label",
        "Attempted Category",
    ];
    let features: Vec<&String> = header
        .iter()
        .filter(|h| !identity.contains(&h.as_str()))
        .collect();
    assert_eq!(features.len(), FEATURES.len());
    for (h, f) in features.iter().zip(FEATURES) {
        assert_eq!(h.as_str(), f.name, "canonical order");
        assert_eq!(lookup(h).map(F::name), Some(f.name));
    }
}

#[test]
fn original_cicids2017_names_resolve_with_or_without_their_spaces() {
    let (header, _) = read_csv(&data_dir().join("cicids2017-cleaned-sample/cicids2017_sample.csv"));
    let unknown: Vec<&String> = header
        .iter()
        .filter(|h| !matches!(h.trim(), "Destination Port" | "Attack Type"))
        .filter(|h| lookup(h).is_none())
        .collect();
    assert!(unknown.is_empty(), "{unknown:?}");
    assert_eq!(lookup(" Total Backward Packets"), Some(F::TotalBwdPackets));
    assert_eq!(lookup("Init_Win_bytes_forward"), Some(F::FwdInitWinBytes));
    assert_eq!(lookup("min_seg_size_forward"), Some(F::FwdSegSizeMin));
    assert_eq!(lookup("Fwd Header Length.1"), Some(F::FwdHeaderLen));
    assert_eq!(lookup(" CWE Flag Count"), Some(F::CwrFlagCount));
    assert_eq!(lookup("Avg Fwd Segment Size"), Some(F::FwdSegSizeAvg));
}

#[test]
fn cse_cic_ids2018_short_names_resolve() {
    for (name, f) in [
        ("Tot Fwd Pkts", F::TotalFwdPackets),
        ("TotLen Bwd Pkts", F::TotalLenBwd),
        ("Flow Byts/s", F::FlowBytesPerSec),
        ("Fwd IAT Tot", F::FwdIatTotal),
        ("Pkt Len Var", F::PktLenVar),
        ("Init Fwd Win Byts", F::FwdInitWinBytes),
        ("Init Bwd Win Byts", F::BwdInitWinBytes),
        ("Fwd Blk Rate Avg", F::FwdBulkRateAvg),
        ("Subflow Bwd Byts", F::SubflowBwdBytes),
        ("fwd act data pkts", F::FwdActDataPkts),
    ] {
        assert_eq!(lookup(name), Some(f), "{name}");
    }
    assert_eq!(lookup("Not A Feature"), None);
}

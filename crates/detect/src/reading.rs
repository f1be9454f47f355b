//! Explanations in plain words. A model alert's TreeSHAP contributions ([`Contribution`]: a
//! feature, the flow's value, a signed log-odds weight) are read as an analyst needs them:
//! the value with its unit (from the feature table), how it compares with typical benign flows
//! (the percentiles of the benign training rows the model stores), which way it moves the
//! score, and whether the value means anything for this flow at all.
//!
//! A value can be the meter's placeholder rather than a measurement: `Flow Bytes/s` is −1 when
//! the flow lasted 0 µs, `ICMP Type` is −1 on a TCP flow, a TCP flag count is 0 on a UDP flow,
//! the mean gap of a direction with one packet is 0. [`not_applicable`] says which, per
//! feature, from the flow's [`FlowShape`]; such a value is shown as not applicable (with why)
//! and ranked after the informative features, never in their place ([`Reader::read`]).

use serde::{Deserialize, Serialize};

use crate::model::Header;
use crate::score::Contribution;
use flow::features::{lookup, Unit};
use flow::{FlowRecord, F};

/// What decides which of a flow's feature values are measurements: its protocol, packets and
/// the few facts of its timing the meter writes a placeholder for. Kept per explained flow
/// (see [`crate::episode::ModelInputs`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowShape {
    /// IP protocol, as the meter keys it (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, 0 other).
    pub protocol: u8,
    /// Packets, forward and backward.
    pub packets: [u64; 2],
    /// Every packet has the same timestamp (`Flow Duration` 0).
    pub zero_duration: bool,
    /// Some gap between consecutive packets exceeds 1 s (the meter's subflows).
    pub subflows: bool,
    /// Some gap exceeds 5 s, so active and idle periods were recorded.
    pub periods: bool,
    /// The first packet was backward (a flow seen from its SYN-ACK): the meter, as the
    /// reference, then starts `Fwd Seg Size Min` at 0 and writes `FWD Init Win Bytes` 0.
    pub first_backward: bool,
}

impl FlowShape {
    /// The shape of a metered flow.
    pub fn of(r: &FlowRecord) -> FlowShape {
        let v = |f: F| r.features[f as usize];
        let tcp_udp = r.proto == 6 || r.proto == 17;
        FlowShape {
            protocol: r.proto,
            packets: r.packets,
            zero_duration: v(F::FlowDuration) == 0.0,
            // Subflow packets are a direction's packets over the subflow count, 0 without one;
            // a flow has packets in some direction.
            subflows: v(F::SubflowFwdPackets) > 0.0 || v(F::SubflowBwdPackets) > 0.0,
            // Idle periods are gaps over 5 s; each is recorded with the active period it ends.
            periods: v(F::IdleMax) > 0.0,
            // TCP and UDP headers are at least 8 bytes: a 0 minimum is the starting value of a
            // direction that did not send the first packet.
            first_backward: tcp_udp && r.packets[0] > 0 && v(F::FwdSegSizeMin) == 0.0,
        }
    }

    fn tcp(&self) -> bool {
        self.protocol == 6
    }
}

/// Why a `feature` value of flow `s` is not a measurement, if it is not. The table (documented
/// in docs/alerts.md, "Contributions (model flows)"):
///
/// - TCP flags, their per-direction counts and the initial windows: TCP flows only.
/// - `ICMP Type`, `ICMP Code`: ICMP and ICMPv6 flows only (the meter writes −1 otherwise).
/// - `Total TCP Flow Time`: TCP and UDP only (0 otherwise).
/// - `Flow Bytes/s`, `Flow Packets/s` (−1) and `Fwd Packets/s`, `Bwd Packets/s` (0) of a flow
///   that lasted 0 µs: no rate.
/// - A direction's sizes, gaps, segment average and initial window when it has no packet, its
///   gaps with fewer than two packets, a spread (std, variance) of fewer than two values,
///   `Down/Up Ratio` without a forward packet.
/// - Bulk averages of a direction without a bulk (written 0), subflow figures of a flow
///   without a gap over 1 s (written 0, as the reference does), active and idle periods of a
///   flow without a gap over 5 s (none recorded).
/// - `Fwd Seg Size Min` and `FWD Init Win Bytes` of a flow whose first packet was backward
///   (the reference's starting 0).
/// - Any value that is not a finite number.
///
/// Counts and sums over nothing (`Fwd IAT Total` of one packet, `Fwd Act Data Pkts` 0) are
/// measurements (0 is what there was), and so is `Bwd Init Win Bytes` 0 when every backward
/// window was 0 (a closed port's RSTs).
pub fn not_applicable(feature: F, value: f64, s: &FlowShape) -> Option<&'static str> {
    use F::*;
    let [nf, nb] = s.packets;
    let n = nf + nb;
    if !value.is_finite() {
        return Some("no value");
    }
    let none = |packets: u64, why: &'static str| (packets == 0).then_some(why);
    let fewer = |packets: u64, least: u64, why: &'static str| (packets < least).then_some(why);
    match feature {
        FwdPshFlags | BwdPshFlags | FwdUrgFlags | BwdUrgFlags | FwdRstFlags | BwdRstFlags
        | FinFlagCount | SynFlagCount | RstFlagCount | PshFlagCount | AckFlagCount
        | UrgFlagCount | CwrFlagCount | EceFlagCount
            if !s.tcp() =>
        {
            Some(NOT_TCP_FLAGS)
        }
        FwdInitWinBytes | BwdInitWinBytes if !s.tcp() => Some(NOT_TCP_WINDOW),
        FwdInitWinBytes => none(nf, NO_FWD).or(s.first_backward.then_some(FIRST_BACKWARD)),
        BwdInitWinBytes => none(nb, NO_BWD),
        IcmpType | IcmpCode if !matches!(s.protocol, 1 | 58) || value == -1.0 => Some(NOT_ICMP),
        TotalTcpFlowTime if !matches!(s.protocol, 6 | 17) => Some(NO_CONNECTION_TIME),
        FlowBytesPerSec | FlowPacketsPerSec if s.zero_duration || value == -1.0 => {
            Some(ZERO_DURATION_MINUS_ONE)
        }
        FwdPacketsPerSec | BwdPacketsPerSec if s.zero_duration => Some(ZERO_DURATION_ZERO),
        FwdPktLenMax | FwdPktLenMin | FwdPktLenMean | FwdSegSizeAvg | DownUpRatio => {
            none(nf, NO_FWD)
        }
        BwdPktLenMax | BwdPktLenMin | BwdPktLenMean | BwdSegSizeAvg => none(nb, NO_BWD),
        FwdPktLenStd => fewer(nf, 2, ONE_FWD_SIZE),
        BwdPktLenStd => fewer(nb, 2, ONE_BWD_SIZE),
        PktLenStd | PktLenVar => fewer(n, 2, ONE_SIZE),
        FlowIatMean | FlowIatMax | FlowIatMin => fewer(n, 2, NO_GAP),
        FlowIatStd => fewer(n, 3, ONE_GAP),
        FwdIatMean | FwdIatMax | FwdIatMin => fewer(nf, 2, NO_FWD_GAP),
        FwdIatStd => fewer(nf, 3, ONE_FWD_GAP),
        BwdIatMean | BwdIatMax | BwdIatMin => fewer(nb, 2, NO_BWD_GAP),
        BwdIatStd => fewer(nb, 3, ONE_BWD_GAP),
        FwdBytesBulkAvg | FwdPacketBulkAvg | FwdBulkRateAvg if value == 0.0 => Some(NO_FWD_BULK),
        BwdBytesBulkAvg | BwdPacketBulkAvg | BwdBulkRateAvg if value == 0.0 => Some(NO_BWD_BULK),
        SubflowFwdPackets | SubflowFwdBytes | SubflowBwdPackets | SubflowBwdBytes
            if !s.subflows =>
        {
            Some(NO_SUBFLOW)
        }
        ActiveMean | ActiveStd | ActiveMax | ActiveMin | IdleMean | IdleStd | IdleMax | IdleMin
            if !s.periods =>
        {
            Some(NO_PERIOD)
        }
        FwdSegSizeMin => none(nf, NO_FWD).or(s.first_backward.then_some(FIRST_BACKWARD)),
        _ => None,
    }
}

const NOT_TCP_FLAGS: &str = "not a TCP flow: it has no TCP flags";
const NOT_TCP_WINDOW: &str = "not a TCP flow: it has no TCP window";
const NOT_ICMP: &str = "not an ICMP flow (the meter writes -1)";
const NO_CONNECTION_TIME: &str =
    "neither TCP nor UDP: the meter keeps no connection time (writes 0)";
const ZERO_DURATION_MINUS_ONE: &str =
    "the flow lasted 0 µs: there is no rate (the meter writes -1)";
const ZERO_DURATION_ZERO: &str = "the flow lasted 0 µs: there is no rate (the meter writes 0)";
const NO_FWD: &str = "no forward packet";
const NO_BWD: &str = "no backward packet";
const ONE_FWD_SIZE: &str = "one forward packet: no spread of sizes";
const ONE_BWD_SIZE: &str = "one backward packet: no spread of sizes";
const ONE_SIZE: &str = "one packet: no spread of sizes";
const NO_GAP: &str = "one packet: no gap between packets";
const ONE_GAP: &str = "two packets: one gap, no spread of gaps";
const NO_FWD_GAP: &str = "fewer than two forward packets: no gap between them";
const ONE_FWD_GAP: &str = "two forward packets at most: no spread of gaps";
const NO_BWD_GAP: &str = "fewer than two backward packets: no gap between them";
const ONE_BWD_GAP: &str = "two backward packets at most: no spread of gaps";
const NO_FWD_BULK: &str =
    "no forward bulk (4 or more payload packets in a row): nothing to average (the meter writes 0)";
const NO_BWD_BULK: &str =
    "no backward bulk (4 or more payload packets in a row): nothing to average (the meter writes 0)";
const NO_SUBFLOW: &str = "no gap over 1 s, so no subflow (the meter, as the reference, writes 0)";
const NO_PERIOD: &str = "no gap over 5 s: no active or idle period was recorded";
const FIRST_BACKWARD: &str =
    "the first packet was backward: the meter, as the reference, writes its starting 0";

/// The 5th, 50th and 95th percentiles of a feature over the model's benign training flows.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Typical {
    /// 5th percentile.
    pub p5: f64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
}

/// Where a value lies against the typical benign range (5th to 95th percentile, inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Compared {
    /// Below the 5th percentile.
    #[serde(rename = "below typical")]
    Below,
    /// From the 5th to the 95th percentile.
    #[serde(rename = "typical")]
    Typical,
    /// Above the 95th percentile.
    #[serde(rename = "above typical")]
    Above,
}

impl Typical {
    /// Where `value` lies against the range.
    pub fn compare(&self, value: f64) -> Compared {
        if value < self.p5 {
            Compared::Below
        } else if value > self.p95 {
            Compared::Above
        } else {
            Compared::Typical
        }
    }
}

/// Which way a feature moved the score of the alert's class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Towards the class (a positive weight).
    Raises,
    /// Away from it (a negative weight).
    Lowers,
    /// Neither (a zero weight; explanations list none).
    None,
}

impl Effect {
    /// The effect of a signed log-odds weight.
    pub fn of(weight: f64) -> Effect {
        if weight > 0.0 {
            Effect::Raises
        } else if weight < 0.0 {
            Effect::Lowers
        } else {
            Effect::None
        }
    }
}

/// One contribution, described (the `contributions` entries of an alert's strongest flows).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// Canonical feature name.
    pub feature: String,
    /// The flow's value; `None` (null) when it is not applicable.
    pub value: Option<f64>,
    /// The feature's unit (the feature table's label).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// The feature over the model's benign training flows (absent when the model records
    /// none, or the value is not applicable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typical: Option<Typical>,
    /// The value against `typical`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compared: Option<Compared>,
    /// Which way the feature moved the score of the alert's class.
    pub effect: Effect,
    /// The signed TreeSHAP contribution to the class's raw score (log-odds).
    pub log_odds: f64,
    /// Whether the value is a measurement for this flow.
    pub applicable: bool,
    /// Why it is not, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Reading {
    /// How the episode's sentence quotes it: `Fwd Seg Size Min 20 bytes, typical benign 8–20
    /// bytes (raises the score)`; `None` when not applicable.
    pub fn phrase(&self) -> Option<String> {
        let v = self.value.filter(|_| self.applicable)?;
        let unit = self.unit.as_deref();
        let mut s = format!("{} {}", self.feature, quantity(v, unit));
        if let Some(t) = &self.typical {
            if t.p5 == t.p95 {
                s.push_str(&format!(", typical benign {}", quantity(t.p5, unit)));
            } else {
                s.push_str(&format!(
                    ", typical benign {}–{}",
                    number_in(t.p5, unit),
                    quantity(t.p95, unit)
                ));
            }
        }
        let effect = match self.effect {
            Effect::Raises => "raises",
            Effect::Lowers => "lowers",
            Effect::None => "does not move",
        };
        s.push_str(&format!(" ({effect} the score)"));
        Some(s)
    }
}

/// A number as a reader writes it: integers with thousands separators, others to three
/// significant digits (`57.2`, `0.325`, `25,032`).
pub fn number(v: f64) -> String {
    let sign = if v < 0.0 { "-" } else { "" };
    let a = v.abs();
    if a >= 100.0 || a.fract() == 0.0 {
        return format!("{sign}{}", crate::summary::thousands(a.round() as u64));
    }
    let digits = (2 - a.log10().floor() as i32).clamp(0, 12) as usize;
    let t = format!("{a:.digits$}");
    let t = t.trim_end_matches('0').trim_end_matches('.');
    format!("{sign}{t}")
}

/// Whether `unit` (a label from the feature table) is that of `u`.
fn is(unit: Option<&str>, u: Unit) -> bool {
    unit == Some(u.label())
}

/// A time in µs in the unit a reader takes in at a glance (µs, ms, s), as (number, unit).
fn time(us: f64) -> (f64, &'static str) {
    let a = us.abs();
    if a < 1e3 {
        (us, Unit::Micros.label())
    } else if a < 1e6 {
        (us / 1e3, "ms")
    } else {
        (us / 1e6, "s")
    }
}

/// `v` with its unit: times in µs, ms or s; counts, ratios and protocol codes bare.
fn quantity(v: f64, unit: Option<&str>) -> String {
    if is(unit, Unit::Micros) {
        let (x, u) = time(v);
        return format!("{} {u}", number(x));
    }
    match unit {
        Some(u) if !bare(unit) => format!("{} {u}", number(v)),
        _ => number(v),
    }
}

/// The lower end of a range, without its unit unless a time's differs from the upper end's.
fn number_in(v: f64, unit: Option<&str>) -> String {
    if is(unit, Unit::Micros) {
        let (x, u) = time(v);
        return format!("{} {u}", number(x));
    }
    number(v)
}

/// Units written without a label (a count of packets says "packets" in its name).
fn bare(unit: Option<&str>) -> bool {
    is(unit, Unit::Count) || is(unit, Unit::Ratio) || is(unit, Unit::Code)
}

/// Reads a model's explanations: its features' typical benign values, by input.
#[derive(Clone, Debug, Default)]
pub struct Reader {
    /// Feature name → its typical values (empty: the model records none).
    typical: std::collections::HashMap<String, Typical>,
}

impl Reader {
    /// A reader for the model with this header (its `benign_quantiles`, aligned with its
    /// `features`; a percentile that is not a finite number gives no typical range).
    pub fn new(h: &Header) -> Reader {
        Reader::with_quantiles(&h.features, &h.benign_quantiles)
    }

    /// A reader for `features` with these percentiles (5th, 50th, 95th), aligned with them.
    pub fn with_quantiles(features: &[String], quantiles: &[[f64; 3]]) -> Reader {
        let typical = features
            .iter()
            .zip(quantiles)
            .filter(|(_, q)| q.iter().all(|x| x.is_finite()))
            .map(|(f, q)| {
                (
                    f.clone(),
                    Typical {
                        p5: q[0],
                        p50: q[1],
                        p95: q[2],
                    },
                )
            })
            .collect();
        Reader { typical }
    }

    /// One contribution of flow `s`, described.
    pub fn describe(&self, c: &Contribution, s: &FlowShape) -> Reading {
        let f = lookup(&c.feature);
        let reason = f.and_then(|f| not_applicable(f, c.value, s));
        let applicable = reason.is_none() && c.value.is_finite();
        let typical = self.typical.get(&c.feature).copied().filter(|_| applicable);
        Reading {
            feature: c.feature.clone(),
            value: applicable.then_some(c.value),
            unit: f.map(|f| f.def().unit.label().to_string()),
            compared: typical.map(|t| t.compare(c.value)),
            typical,
            effect: Effect::of(c.weight),
            log_odds: c.weight,
            applicable,
            reason: if applicable {
                None
            } else {
                Some(reason.unwrap_or("no value").to_string())
            },
        }
    }

    /// How many more contributions than the `asked` of `cs` it takes to fill `top` places with
    /// applicable ones: 0 when they are filled or `cs` holds every non-zero one (fewer than
    /// asked).
    pub fn shortfall(&self, cs: &[Contribution], s: &FlowShape, top: usize, asked: usize) -> usize {
        if cs.len() < asked {
            return 0;
        }
        let informative = cs.iter().filter(|c| self.applicable(c, s)).count();
        top.saturating_sub(informative)
    }

    fn applicable(&self, c: &Contribution, s: &FlowShape) -> bool {
        c.value.is_finite()
            && lookup(&c.feature)
                .and_then(|f| not_applicable(f, c.value, s))
                .is_none()
    }

    /// The explanation of flow `s` from its contributions `cs` (largest magnitude first, as
    /// many as [`Reader::shortfall`] asks for): the `top` largest applicable ones, then the
    /// not-applicable ones among the `top` largest of all. A placeholder the model leaned on
    /// stays visible — the model did read it (a 0 µs flow is itself a sign) — but never takes
    /// the place of a measurement.
    pub fn read(&self, cs: &[Contribution], s: &FlowShape, top: usize) -> Vec<Reading> {
        let mut out: Vec<Reading> = cs
            .iter()
            .filter(|c| self.applicable(c, s))
            .take(top)
            .map(|c| self.describe(c, s))
            .collect();
        out.extend(
            cs.iter()
                .take(top)
                .filter(|c| !self.applicable(c, s))
                .map(|c| self.describe(c, s)),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flow::features::ALL;
    use flow::FEATURES;

    fn shape(protocol: u8, packets: [u64; 2]) -> FlowShape {
        FlowShape {
            protocol,
            packets,
            zero_duration: false,
            subflows: true,
            periods: true,
            first_backward: false,
        }
    }

    /// The not-applicable features of flow `s` when every feature has value `v` (ICMP type and
    /// code and the flow rates as the meter writes them for `s`), with their reasons.
    fn placeholders(s: &FlowShape, v: f64) -> Vec<(&'static str, &'static str)> {
        ALL.iter()
            .filter_map(|&f| {
                let value = match f {
                    F::IcmpType | F::IcmpCode if !matches!(s.protocol, 1 | 58) => -1.0,
                    F::FlowBytesPerSec | F::FlowPacketsPerSec if s.zero_duration => -1.0,
                    _ => v,
                };
                not_applicable(f, value, s).map(|r| (f.name(), r))
            })
            .collect()
    }

    #[test]
    fn a_long_tcp_conversation_measures_everything_but_the_icmp_fields() {
        assert_eq!(
            placeholders(&shape(6, [10, 8]), 1.0),
            vec![("ICMP Code", NOT_ICMP), ("ICMP Type", NOT_ICMP)]
        );
    }

    #[test]
    fn a_udp_request_and_answer_in_the_same_microsecond_has_no_tcp_fields_rates_gaps_or_spreads() {
        let s = FlowShape {
            zero_duration: true,
            subflows: false,
            periods: false,
            ..shape(17, [1, 1])
        };
        let got = placeholders(&s, 0.0);
        let want: Vec<(&str, &str)> = vec![
            ("Fwd Packet Length Std", ONE_FWD_SIZE),
            ("Bwd Packet Length Std", ONE_BWD_SIZE),
            ("Flow Bytes/s", ZERO_DURATION_MINUS_ONE),
            ("Flow Packets/s", ZERO_DURATION_MINUS_ONE),
            ("Flow IAT Std", ONE_GAP),
            ("Fwd IAT Mean", NO_FWD_GAP),
            ("Fwd IAT Std", ONE_FWD_GAP),
            ("Fwd IAT Max", NO_FWD_GAP),
            ("Fwd IAT Min", NO_FWD_GAP),
            ("Bwd IAT Mean", NO_BWD_GAP),
            ("Bwd IAT Std", ONE_BWD_GAP),
            ("Bwd IAT Max", NO_BWD_GAP),
            ("Bwd IAT Min", NO_BWD_GAP),
            ("Fwd PSH Flags", NOT_TCP_FLAGS),
            ("Bwd PSH Flags", NOT_TCP_FLAGS),
            ("Fwd URG Flags", NOT_TCP_FLAGS),
            ("Bwd URG Flags", NOT_TCP_FLAGS),
            ("Fwd RST Flags", NOT_TCP_FLAGS),
            ("Bwd RST Flags", NOT_TCP_FLAGS),
            ("Fwd Packets/s", ZERO_DURATION_ZERO),
            ("Bwd Packets/s", ZERO_DURATION_ZERO),
            ("FIN Flag Count", NOT_TCP_FLAGS),
            ("SYN Flag Count", NOT_TCP_FLAGS),
            ("RST Flag Count", NOT_TCP_FLAGS),
            ("PSH Flag Count", NOT_TCP_FLAGS),
            ("ACK Flag Count", NOT_TCP_FLAGS),
            ("URG Flag Count", NOT_TCP_FLAGS),
            ("CWR Flag Count", NOT_TCP_FLAGS),
            ("ECE Flag Count", NOT_TCP_FLAGS),
            ("Fwd Bytes/Bulk Avg", NO_FWD_BULK),
            ("Fwd Packet/Bulk Avg", NO_FWD_BULK),
            ("Fwd Bulk Rate Avg", NO_FWD_BULK),
            ("Bwd Bytes/Bulk Avg", NO_BWD_BULK),
            ("Bwd Packet/Bulk Avg", NO_BWD_BULK),
            ("Bwd Bulk Rate Avg", NO_BWD_BULK),
            ("Subflow Fwd Packets", NO_SUBFLOW),
            ("Subflow Fwd Bytes", NO_SUBFLOW),
            ("Subflow Bwd Packets", NO_SUBFLOW),
            ("Subflow Bwd Bytes", NO_SUBFLOW),
            ("FWD Init Win Bytes", NOT_TCP_WINDOW),
            ("Bwd Init Win Bytes", NOT_TCP_WINDOW),
            ("Active Mean", NO_PERIOD),
            ("Active Std", NO_PERIOD),
            ("Active Max", NO_PERIOD),
            ("Active Min", NO_PERIOD),
            ("Idle Mean", NO_PERIOD),
            ("Idle Std", NO_PERIOD),
            ("Idle Max", NO_PERIOD),
            ("Idle Min", NO_PERIOD),
            ("ICMP Code", NOT_ICMP),
            ("ICMP Type", NOT_ICMP),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn an_icmp_echo_has_its_type_and_code_but_no_connection_time() {
        let s = shape(1, [4, 4]);
        assert_eq!(not_applicable(F::IcmpType, 8.0, &s), None);
        assert_eq!(not_applicable(F::IcmpCode, 0.0, &s), None);
        assert_eq!(
            not_applicable(F::TotalTcpFlowTime, 0.0, &s),
            Some(NO_CONNECTION_TIME)
        );
        assert_eq!(
            not_applicable(F::SynFlagCount, 0.0, &s),
            Some(NOT_TCP_FLAGS)
        );
        // ICMPv6 too; a UDP flow keeps its connection time.
        assert_eq!(not_applicable(F::IcmpType, 128.0, &shape(58, [1, 1])), None);
        assert_eq!(
            not_applicable(F::TotalTcpFlowTime, 5.0, &shape(17, [1, 1])),
            None
        );
    }

    #[test]
    fn a_flow_first_seen_from_its_syn_ack_has_no_forward_minimum_or_window() {
        let s = FlowShape {
            first_backward: true,
            ..shape(6, [3, 3])
        };
        assert_eq!(
            placeholders(&s, 1.0),
            [
                ("FWD Init Win Bytes", FIRST_BACKWARD),
                ("Fwd Seg Size Min", FIRST_BACKWARD),
                ("ICMP Code", NOT_ICMP),
                ("ICMP Type", NOT_ICMP),
            ]
        );
        // Only the SYN-ACK: no forward packet at all.
        let s = shape(6, [0, 1]);
        assert_eq!(not_applicable(F::FwdSegSizeMin, 0.0, &s), Some(NO_FWD));
        assert_eq!(not_applicable(F::FwdPktLenMean, 0.0, &s), Some(NO_FWD));
        assert_eq!(not_applicable(F::DownUpRatio, 0.0, &s), Some(NO_FWD));
        assert_eq!(not_applicable(F::BwdInitWinBytes, 0.0, &s), None);
        assert_eq!(not_applicable(F::BwdPktLenStd, 0.0, &s), Some(ONE_BWD_SIZE));
    }

    #[test]
    fn counts_and_sums_over_nothing_and_a_closed_ports_zero_window_are_measurements() {
        let s = shape(6, [1, 1]);
        assert_eq!(not_applicable(F::FwdIatTotal, 0.0, &s), None);
        assert_eq!(not_applicable(F::FwdActDataPkts, 0.0, &s), None);
        assert_eq!(not_applicable(F::BwdInitWinBytes, 0.0, &s), None);
        assert_eq!(not_applicable(F::FlowIatMean, 40.0, &s), None);
        // A bulk is averaged only where there is one.
        assert_eq!(not_applicable(F::BwdBytesBulkAvg, 5934.0, &s), None);
        assert_eq!(
            not_applicable(F::FlowDuration, f64::NAN, &s),
            Some("no value")
        );
    }

    /// A TCP packet at `t_us` in the given direction (20-byte header, no payload).
    fn packet(t_us: i64, fwd: bool, flags: u8) -> flow::accum::PacketView {
        flow::accum::PacketView {
            ts: t_us,
            fwd,
            len: 0,
            hdr: 20,
            wire_len: 54,
            ip_len: 40,
            flags,
            window: 64_240,
            seq: 1,
            ack: 1,
            payload: 0,
            is_tcp: true,
        }
    }

    /// The shape of the TCP flow the meter's accumulator makes of `packets`.
    fn metered(packets: &[flow::accum::PacketView]) -> FlowShape {
        let mut a = flow::accum::Accum::new(&packets[0], None);
        for p in &packets[1..] {
            a.add(p);
        }
        let n = |fwd| packets.iter().filter(|p| p.fwd == fwd).count() as u64;
        let mut r = crate::rules::testutil::flow(
            "10.0.0.1",
            40_000,
            "10.0.0.2",
            80,
            6,
            [n(true), n(false)],
            [0, 0],
        );
        r.features = a.features(true);
        FlowShape::of(&r)
    }

    #[test]
    fn the_shape_of_a_flow_comes_from_what_the_meter_wrote() {
        const SYN: u8 = 0x02;
        const ACK: u8 = 0x10;
        // SYN, SYN-ACK, ACK within 300 µs.
        let quick = metered(&[
            packet(0, true, SYN),
            packet(100, false, SYN | ACK),
            packet(300, true, ACK),
        ]);
        assert_eq!(
            quick,
            FlowShape {
                protocol: 6,
                packets: [2, 1],
                zero_duration: false,
                subflows: false,
                periods: false,
                first_backward: false,
            }
        );
        // Seen from its SYN-ACK (the table makes the SYN-ACK backward), then a gap of 6 s.
        let late = metered(&[
            packet(0, false, SYN | ACK),
            packet(100, true, ACK),
            packet(6_000_100, true, ACK),
        ]);
        assert_eq!(
            (late.first_backward, late.subflows, late.periods),
            (true, true, true)
        );
        // Two packets in the same microsecond.
        let instant = metered(&[packet(0, true, SYN), packet(0, false, SYN | ACK)]);
        assert!(instant.zero_duration);
        assert!(!metered(&[packet(0, true, SYN), packet(1, false, ACK)]).zero_duration);
    }

    #[test]
    fn values_compare_with_the_benign_range_inclusive_and_weights_name_their_direction() {
        let t = Typical {
            p5: 8.0,
            p50: 20.0,
            p95: 20.0,
        };
        assert_eq!(t.compare(7.0), Compared::Below);
        assert_eq!(t.compare(8.0), Compared::Typical);
        assert_eq!(t.compare(20.0), Compared::Typical);
        assert_eq!(t.compare(32.0), Compared::Above);
        let words: Vec<String> = [Compared::Below, Compared::Typical, Compared::Above]
            .iter()
            .map(|c| serde_json::to_string(c).unwrap())
            .collect();
        assert_eq!(
            words,
            ["\"below typical\"", "\"typical\"", "\"above typical\""]
        );
        assert_eq!(Effect::of(0.7), Effect::Raises);
        assert_eq!(Effect::of(-1e-9), Effect::Lowers);
        assert_eq!(Effect::of(0.0), Effect::None);
        assert_eq!(
            serde_json::to_string(&Effect::Lowers).unwrap(),
            "\"lowers\""
        );
    }

    fn reader() -> Reader {
        let names: Vec<String> = FEATURES.iter().map(|f| f.name.to_string()).collect();
        let mut q = vec![[0.0, 0.0, 0.0]; names.len()];
        q[F::FwdSegSizeMin as usize] = [8.0, 20.0, 20.0];
        q[F::FlowBytesPerSec as usize] = [0.0, 455.6, 25032.1];
        q[F::FlowIatMin as usize] = [1.0, 29984.0, 322837.0];
        q[F::SynFlagCount as usize] = [0.0, 2.0, 2.0];
        q[F::FwdPktLenMax as usize] = [f64::NAN, 0.0, 1.0];
        Reader::with_quantiles(&names, &q)
    }

    fn c(feature: &str, value: f64, weight: f64) -> Contribution {
        Contribution {
            feature: feature.into(),
            value,
            weight,
        }
    }

    #[test]
    fn a_contribution_reads_as_value_unit_typical_range_and_effect() {
        let r = reader();
        let tcp = shape(6, [1, 1]);
        let got =
            serde_json::to_value(r.describe(&c("Fwd Seg Size Min", 32.0, 1.25), &tcp)).unwrap();
        assert_eq!(
            got,
            serde_json::json!({"feature": "Fwd Seg Size Min", "value": 32.0, "unit": "bytes",
                "typical": {"p5": 8.0, "p50": 20.0, "p95": 20.0}, "compared": "above typical",
                "effect": "raises", "log_odds": 1.25, "applicable": true})
        );
        // A placeholder: no value, no typical range, why; the weight stays.
        let got = serde_json::to_value(r.describe(&c("Flow Bytes/s", -1.0, 0.5), &tcp)).unwrap();
        assert_eq!(
            got,
            serde_json::json!({"feature": "Flow Bytes/s", "value": null, "unit": "bytes/s",
                "effect": "raises", "log_odds": 0.5, "applicable": false,
                "reason": ZERO_DURATION_MINUS_ONE})
        );
        // A percentile that is not a number gives no range.
        let got = r.describe(&c("Fwd Packet Length Max", 0.0, -0.25), &tcp);
        assert_eq!(
            (got.typical, got.compared, got.effect),
            (None, None, Effect::Lowers)
        );
        // A model recording no percentiles says nothing of typical values.
        let names: Vec<String> = FEATURES.iter().map(|f| f.name.to_string()).collect();
        let bare = Reader::with_quantiles(&names, &[]);
        assert_eq!(
            bare.describe(&c("Fwd Seg Size Min", 32.0, 1.0), &tcp)
                .typical,
            None
        );
    }

    #[test]
    fn placeholders_come_after_the_measurements_and_only_from_the_top() {
        let r = reader();
        let s = FlowShape {
            zero_duration: true,
            ..shape(6, [1, 1])
        };
        let cs = [
            c("Flow Bytes/s", -1.0, 2.0),
            c("Fwd Seg Size Min", 20.0, -1.5),
            c("Flow Packets/s", -1.0, 1.0),
            c("SYN Flag Count", 2.0, 0.5),
            c("Flow IAT Min", 0.0, 0.25),
            c("Fwd IAT Mean", 0.0, 0.125),
        ];
        // Two of the top three are placeholders: two more are wanted.
        assert_eq!(r.shortfall(&cs[..3], &s, 3, 3), 2);
        // Every non-zero contribution is there (fewer than asked): nothing more to find.
        assert_eq!(r.shortfall(&cs[..3], &s, 3, 4), 0);
        assert_eq!(r.shortfall(&cs, &s, 3, 6), 0);
        let read: Vec<(String, bool)> = r
            .read(&cs, &s, 3)
            .into_iter()
            .map(|x| (x.feature, x.applicable))
            .collect();
        let want = [
            ("Fwd Seg Size Min", true),
            ("SYN Flag Count", true),
            ("Flow IAT Min", true),
            ("Flow Bytes/s", false),
            ("Flow Packets/s", false),
        ];
        assert_eq!(read, want.map(|(f, a)| (f.to_string(), a)));
    }

    #[test]
    fn numbers_and_phrases_read_as_people_write_them() {
        assert_eq!(number(20.0), "20");
        assert_eq!(number(64240.0), "64,240");
        assert_eq!(number(57.205128), "57.2");
        assert_eq!(number(455.632), "456");
        assert_eq!(number(0.3252736), "0.325");
        assert_eq!(number(1.5), "1.5");
        assert_eq!(number(-1.0), "-1");
        let r = reader();
        let tcp = shape(6, [1, 1]);
        let phrase = |f: &str, v: f64, w: f64| r.describe(&c(f, v, w), &tcp).phrase();
        assert_eq!(
            phrase("Fwd Seg Size Min", 32.0, 1.0).as_deref(),
            Some("Fwd Seg Size Min 32 bytes, typical benign 8–20 bytes (raises the score)")
        );
        assert_eq!(
            phrase("Flow IAT Min", 3.0, -0.5).as_deref(),
            Some("Flow IAT Min 3 µs, typical benign 1 µs–323 ms (lowers the score)")
        );
        assert_eq!(
            phrase("SYN Flag Count", 2.0, 0.5).as_deref(),
            Some("SYN Flag Count 2, typical benign 0–2 (raises the score)")
        );
        assert_eq!(
            phrase("Fwd Bulk Rate Avg", 0.0, 0.5),
            None,
            "a placeholder is not quoted"
        );
        assert_eq!(
            phrase("Fwd URG Flags", 0.0, 0.5).as_deref(),
            Some("Fwd URG Flags 0, typical benign 0 (raises the score)")
        );
    }
}

//! Every output column of a flow, in canonical order: identity, the CIC features, then
//! netvigil's own. Exporters, stores and the model all take names from here.

use std::borrow::Cow;

use crate::features::{Kind, F, FEATURES};
use crate::record::FlowRecord;

/// One column of a flow table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    /// `Flow ID`.
    FlowId,
    /// `Src IP`.
    SrcIp,
    /// `Src Port`.
    SrcPort,
    /// `Dst IP`.
    DstIp,
    /// `Dst Port`.
    DstPort,
    /// `Protocol`.
    Protocol,
    /// `Timestamp` (flow start, UTC).
    Timestamp,
    /// A CIC feature.
    Feature(F),
    /// `VLAN`.
    Vlan,
    /// `Fwd Wire Bytes`.
    FwdWireBytes,
    /// `Bwd Wire Bytes`.
    BwdWireBytes,
    /// `End Reason`.
    EndReason,
    /// `Fwd Retrans Pkts`.
    FwdRetrans,
    /// `Bwd Retrans Pkts`.
    BwdRetrans,
    /// `Service`.
    Service,
    /// `Application`.
    Application,
    /// `DNS Query`.
    DnsQuery,
    /// `DNS Rcode`.
    DnsRcode,
    /// `TLS SNI`.
    TlsSni,
    /// `TLS ALPN`.
    TlsAlpn,
    /// `HTTP Host`.
    HttpHost,
    /// `HTTP Method`.
    HttpMethod,
    /// `HTTP URI`.
    HttpUri,
    /// `HTTP User-Agent`.
    HttpUserAgent,
    /// `Direction`.
    Direction,
    /// `Community ID`.
    CommunityId,
    /// `Src Country`, `Dst Country` (0: source, 1: destination).
    Country(usize),
    /// `Src ASN`, `Dst ASN`.
    Asn(usize),
    /// `Src AS Name`, `Dst AS Name`.
    AsName(usize),
    /// `Src Device`, `Dst Device` (the device inventory's key).
    Device(usize),
}

/// The type of a column's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    /// Text (may be empty).
    Text,
    /// Signed integer.
    Int,
    /// Real number.
    Float,
    /// UTC timestamp, µs.
    Time,
}

/// One cell.
#[derive(Clone, Debug, PartialEq)]
pub enum Value<'a> {
    /// Text; empty means absent.
    Text(Cow<'a, str>),
    /// Integer.
    Int(i64),
    /// Real.
    Float(f64),
    /// Time, µs since the epoch.
    Time(i64),
    /// Absent (e.g. no VLAN).
    Null,
}

const IDENTITY: [Column; 7] = [
    Column::FlowId,
    Column::SrcIp,
    Column::SrcPort,
    Column::DstIp,
    Column::DstPort,
    Column::Protocol,
    Column::Timestamp,
];

const OWN: [Column; 18] = [
    Column::Vlan,
    Column::FwdWireBytes,
    Column::BwdWireBytes,
    Column::EndReason,
    Column::FwdRetrans,
    Column::BwdRetrans,
    Column::Service,
    Column::Application,
    Column::DnsQuery,
    Column::DnsRcode,
    Column::TlsSni,
    Column::TlsAlpn,
    Column::HttpHost,
    Column::HttpMethod,
    Column::HttpUri,
    Column::HttpUserAgent,
    Column::Direction,
    Column::CommunityId,
];

/// The device columns, source end then destination end (after [`GEO`]).
pub const DEVICES: [Column; 2] = [Column::Device(0), Column::Device(1)];

/// The GeoIP columns, source end then destination end (after [`OWN`]).
pub const GEO: [Column; 6] = [
    Column::Country(0),
    Column::Asn(0),
    Column::AsName(0),
    Column::Country(1),
    Column::Asn(1),
    Column::AsName(1),
];

/// All columns in canonical order.
pub fn all() -> impl Iterator<Item = Column> {
    IDENTITY
        .into_iter()
        .chain(crate::features::ALL.iter().map(|&f| Column::Feature(f)))
        .chain(OWN)
        .chain(GEO)
        .chain(DEVICES)
}

impl Column {
    /// The column's canonical name.
    pub fn name(self) -> &'static str {
        match self {
            Column::FlowId => "Flow ID",
            Column::SrcIp => "Src IP",
            Column::SrcPort => "Src Port",
            Column::DstIp => "Dst IP",
            Column::DstPort => "Dst Port",
            Column::Protocol => "Protocol",
            Column::Timestamp => "Timestamp",
            Column::Feature(f) => f.name(),
            Column::Vlan => "VLAN",
            Column::FwdWireBytes => "Fwd Wire Bytes",
            Column::BwdWireBytes => "Bwd Wire Bytes",
            Column::EndReason => "End Reason",
            Column::FwdRetrans => "Fwd Retrans Pkts",
            Column::BwdRetrans => "Bwd Retrans Pkts",
            Column::Service => "Service",
            Column::Application => "Application",
            Column::DnsQuery => "DNS Query",
            Column::DnsRcode => "DNS Rcode",
            Column::TlsSni => "TLS SNI",
            Column::TlsAlpn => "TLS ALPN",
            Column::HttpHost => "HTTP Host",
            Column::HttpMethod => "HTTP Method",
            Column::HttpUri => "HTTP URI",
            Column::HttpUserAgent => "HTTP User-Agent",
            Column::Direction => "Direction",
            Column::CommunityId => "Community ID",
            Column::Country(0) => "Src Country",
            Column::Country(_) => "Dst Country",
            Column::Asn(0) => "Src ASN",
            Column::Asn(_) => "Dst ASN",
            Column::AsName(0) => "Src AS Name",
            Column::AsName(_) => "Dst AS Name",
            Column::Device(0) => "Src Device",
            Column::Device(_) => "Dst Device",
        }
    }

    /// Whether the column may hold no value: text (empty), the VLAN (untagged) and the AS
    /// numbers (no database, or not a global address). Exporters and stores take it from here.
    pub fn nullable(self) -> bool {
        self.ty() == ColumnType::Text || matches!(self, Column::Vlan | Column::Asn(_))
    }

    /// The column's value type.
    pub fn ty(self) -> ColumnType {
        match self {
            Column::FlowId | Column::SrcIp | Column::DstIp => ColumnType::Text,
            Column::SrcPort
            | Column::DstPort
            | Column::Protocol
            | Column::Vlan
            | Column::Asn(_) => ColumnType::Int,
            Column::Timestamp => ColumnType::Time,
            Column::Feature(f) => match FEATURES[f as usize].kind {
                Kind::Int => ColumnType::Int,
                Kind::Float => ColumnType::Float,
            },
            Column::FwdWireBytes
            | Column::BwdWireBytes
            | Column::FwdRetrans
            | Column::BwdRetrans => ColumnType::Int,
            Column::EndReason
            | Column::Service
            | Column::Application
            | Column::DnsQuery
            | Column::DnsRcode
            | Column::TlsSni
            | Column::TlsAlpn
            | Column::HttpHost
            | Column::HttpMethod
            | Column::HttpUri
            | Column::HttpUserAgent
            | Column::Direction
            | Column::CommunityId
            | Column::Country(_)
            | Column::AsName(_)
            | Column::Device(_) => ColumnType::Text,
        }
    }

    /// The column's value in a record.
    pub fn value(self, r: &FlowRecord) -> Value<'_> {
        fn text(s: &Option<String>) -> Value<'_> {
            match s {
                Some(s) => Value::Text(Cow::Borrowed(s.as_str())),
                None => Value::Null,
            }
        }
        match self {
            Column::FlowId => Value::Text(Cow::Owned(r.flow_id())),
            Column::SrcIp => Value::Text(Cow::Owned(r.src.to_string())),
            Column::SrcPort => Value::Int(r.sport as i64),
            Column::DstIp => Value::Text(Cow::Owned(r.dst.to_string())),
            Column::DstPort => Value::Int(r.dport as i64),
            Column::Protocol => Value::Int(r.proto as i64),
            Column::Timestamp => Value::Time(r.first.0),
            Column::Feature(f) => {
                let v = r.features[f as usize];
                match FEATURES[f as usize].kind {
                    Kind::Int => Value::Int(v as i64),
                    Kind::Float => Value::Float(v),
                }
            }
            Column::Vlan => r.vlan.map(|v| Value::Int(v as i64)).unwrap_or(Value::Null),
            Column::FwdWireBytes => Value::Int(r.wire_bytes[0] as i64),
            Column::BwdWireBytes => Value::Int(r.wire_bytes[1] as i64),
            Column::EndReason => Value::Text(Cow::Borrowed(r.end_reason.as_str())),
            Column::FwdRetrans => Value::Int(r.retrans[0] as i64),
            Column::BwdRetrans => Value::Int(r.retrans[1] as i64),
            Column::Service => Value::Text(Cow::Borrowed(r.service)),
            Column::Application => match r.application {
                crate::app::Application::Unknown => Value::Null,
                a => Value::Text(Cow::Borrowed(a.as_str())),
            },
            Column::DnsQuery => match r.app.dns_queries.as_slice() {
                [] => Value::Null,
                [one] => Value::Text(Cow::Borrowed(one.as_str())),
                many => Value::Text(Cow::Owned(many.join(";"))),
            },
            Column::DnsRcode => match r.app.dns_rcode {
                Some(c) => Value::Text(Cow::Borrowed(crate::app::dns::rcode_name(c))),
                None => Value::Null,
            },
            Column::TlsSni => text(&r.app.tls_sni),
            Column::TlsAlpn => text(&r.app.tls_alpn),
            Column::HttpHost => text(&r.app.http_host),
            Column::HttpMethod => text(&r.app.http_method),
            Column::HttpUri => text(&r.app.http_uri),
            Column::HttpUserAgent => text(&r.app.http_user_agent),
            Column::Direction => Value::Text(Cow::Borrowed(r.direction.as_str())),
            // Computed here, at export, never while metering.
            Column::CommunityId => match r.community_id() {
                Some(id) => Value::Text(Cow::Owned(id)),
                None => Value::Null,
            },
            Column::Country(e) => match r.geo[e & 1].country {
                Some(c) => Value::Text(Cow::Owned(c.as_str().to_string())),
                None => Value::Null,
            },
            Column::Asn(e) => match r.geo[e & 1].asn {
                Some(a) => Value::Int(a as i64),
                None => Value::Null,
            },
            Column::AsName(e) => match &r.geo[e & 1].as_name {
                Some(n) => Value::Text(Cow::Borrowed(n)),
                None => Value::Null,
            },
            Column::Device(e) => match &r.devices[e & 1] {
                Some(d) => Value::Text(Cow::Borrowed(d)),
                None => Value::Null,
            },
        }
    }
}

//! `netvigil features`: the feature table, from the same definitions the exporters use.

use flow::columns::{self, Column};
use flow::features::{Kind, FEATURES};

/// The column table as Markdown (pasted into docs/features.md; a test keeps them equal).
pub fn markdown() -> String {
    let mut s = String::from(
        "| # | column | unit | type | definition | also read as |\n|---:|---|---|---|---|---|\n",
    );
    for (i, c) in columns::all().enumerate() {
        let (unit, ty, doc, aliases) = match c {
            Column::Feature(f) => {
                let d = &FEATURES[f as usize];
                let ty = match d.kind {
                    Kind::Int => "integer",
                    Kind::Float => "real",
                };
                (d.unit.label(), ty, d.doc, d.aliases.join(", "))
            }
            other => (
                own_unit(other),
                own_type(other),
                own_doc(other),
                String::new(),
            ),
        };
        s.push_str(&format!(
            "| {} | `{}` | {unit} | {ty} | {doc} | {aliases} |\n",
            i + 1,
            c.name()
        ));
    }
    s
}

fn own_unit(c: Column) -> &'static str {
    match c {
        Column::FwdWireBytes | Column::BwdWireBytes => "bytes",
        Column::FwdRetrans | Column::BwdRetrans => "count",
        Column::Timestamp => "UTC µs",
        _ => "",
    }
}

fn own_type(c: Column) -> &'static str {
    match c.ty() {
        columns::ColumnType::Text => "text",
        columns::ColumnType::Int => "integer",
        columns::ColumnType::Float => "real",
        columns::ColumnType::Time => "time",
    }
}

fn own_doc(c: Column) -> &'static str {
    match c {
        Column::FlowId => "`src-dst-sport-dport-proto` of the forward direction",
        Column::SrcIp => "source of the forward direction (first packet's sender; the client of a SYN-ACK-first flow)",
        Column::SrcPort => "forward source port (0 without ports)",
        Column::DstIp => "destination of the forward direction",
        Column::DstPort => "forward destination port",
        Column::Protocol => "IP protocol number (cic: 6, 17, 1, 58, else 0)",
        Column::Timestamp => "first packet, written `YYYY-MM-DD HH:MM:SS.ffffff`",
        Column::Vlan => "outer 802.1Q VLAN id of the first packet, empty if untagged",
        Column::FwdWireBytes => "Σ frame length on the wire, forward (NFStream's bytes count both directions)",
        Column::BwdWireBytes => "Σ frame length on the wire, backward",
        Column::EndReason => "idle, active, fin, rst, eof, evicted or shutdown",
        Column::FwdRetrans => "forward TCP retransmissions, as Wireshark's tcp.analysis.retransmission (fast and spurious included, out-of-order and keep-alives not)",
        Column::BwdRetrans => "backward TCP retransmissions (same rule)",
        Column::Service => "IANA service name of the flow's server-side port: of the two ports with a name, the lower class (< 1024, then < 32768, then the rest) wins, the destination on a tie (docs/services.md)",
        Column::Application => "application protocol identified from the payload (TLS, HTTP, DNS, QUIC, SSH, … as nDPI names them) or, for ICMP, IGMP, IPsec, GRE, OSPF and VRRP, the IP protocol; empty when nothing matched (docs/applications.md)",
        Column::DnsQuery => "DNS question names (DNS, mDNS, LLMNR) of the first 16 payload packets, distinct, `;`-separated in the order seen (at most 32)",
        Column::DnsRcode => "response code of the first DNS response (NOERROR, NXDOMAIN, SERVFAIL, …)",
        Column::TlsSni => "server name of the first TLS ClientHello",
        Column::TlsAlpn => "ALPN protocols offered by the first TLS ClientHello, `,`-separated in its order (e.g. `h2,http/1.1`)",
        Column::HttpHost => "Host header of the first HTTP request (also SSDP)",
        Column::HttpMethod => "method of the first HTTP request (GET, POST, …; M-SEARCH and NOTIFY for SSDP)",
        Column::HttpUri => "request target of the first HTTP request as sent (path and query, `*`, or an absolute URI; spaces included up to the version), at most 2,048 bytes",
        Column::HttpUserAgent => "User-Agent header of the first HTTP request, at most 512 bytes",
        Column::Direction => "inbound, outbound, internal or external relative to --home-net",
        Column::CommunityId => "Community ID v1 of the flow (seed 0, base64: `1:…=`), as Zeek and Suricata write it; empty for protocol 0 and for ICMP or SCTP flows the profile keys without their type or ports",
        Column::Country(0) => "ISO 3166 country of the source address from the GeoIP country database (--geoip-db; empty for private and other non-global addresses, docs/geoip.md)",
        Column::Country(_) => "ISO 3166 country of the destination address (same rule)",
        Column::Asn(0) => "autonomous system number of the source address from the ASN database (--asn-db; empty for non-global addresses)",
        Column::Asn(_) => "autonomous system number of the destination address (same rule)",
        Column::AsName(0) => "organisation of the source's autonomous system, as the ASN database names it",
        Column::AsName(_) => "organisation of the destination's autonomous system",
        Column::Device(0) => "the source's device in the inventory (its MAC address, or its IP address where no MAC is known; docs/devices.md); empty when the inventory does not know the address",
        Column::Device(_) => "the destination's device in the inventory (same rule)",
        Column::Feature(_) => "",
    }
}

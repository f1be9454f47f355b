//! The decoder on hand-built frames: each link type, tags, fragments, tunnels, and the length
//! rules netvigil chooses on purpose (see docs/features.md).

use packet::decode::{Fragment, Tunnel};
use packet::{decode, DecodeErrorKind, DecodeOptions, Decoded, LinkType, PacketMeta, Timestamp};

fn ipv4(proto: u8, l4: &[u8], total_extra: usize) -> Vec<u8> {
    let total = (20 + l4.len() + total_extra) as u16;
    let mut p = vec![
        0x45, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0, 192, 0, 2, 1, 198, 51, 100, 7,
    ];
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p.extend_from_slice(l4);
    p
}

fn tcp(flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = vec![
        0xC3, 0x50, 0x01, 0xBB, 0, 0, 0, 1, 0, 0, 0, 2, 0x50, flags, 0x20, 0x00, 0, 0, 0, 0,
    ];
    t.extend_from_slice(payload);
    t
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn ip(link: LinkType, frame: &[u8]) -> PacketMeta<'_> {
    ip_opts(link, frame, DecodeOptions::default())
}

fn ip_opts(link: LinkType, frame: &[u8], opts: DecodeOptions) -> PacketMeta<'_> {
    match decode(link, Timestamp(1), frame.len() as u32, frame, &opts) {
        Ok(Decoded::Ip(m)) => m,
        other => panic!("expected IP, got {other:?}"),
    }
}

#[test]
fn ethernet_padding_is_never_payload_even_under_a_vlan_tag() {
    // A bare ACK, 802.1Q-tagged, padded to the 64-byte minimum: the fixed CICFlowMeter counts
    // the 6 padding bytes as payload here; netvigil counts 0 (docs/features.md).
    let mut tagged = vec![0x00, 0x07, 0x08, 0x00];
    tagged.extend_from_slice(&ipv4(6, &tcp(0x10, &[]), 0));
    let mut frame = eth(0x8100, &tagged);
    frame.resize(64, 0);
    let m = ip(LinkType::ETHERNET, &frame);
    assert_eq!(
        (m.vlan, m.payload_len, m.l4_header_len, m.wire_len),
        (Some(7), 0, 20, 64)
    );
}

#[test]
fn payload_is_bounded_by_the_frame_on_the_wire_when_the_ip_length_lies() {
    // IP total length claims 85 more bytes than the 66-byte frame had (a rewritten trace).
    let frame = eth(0x0800, &ipv4(6, &tcp(0x18, &[]), 85));
    assert_eq!(frame.len(), 54);
    let m = ip(LinkType::ETHERNET, &frame);
    assert_eq!(m.payload_len, 0);
}

#[test]
fn a_snapped_frame_keeps_the_payload_its_ip_header_declares() {
    let full = eth(0x0800, &ipv4(17, &udp(5000, 53, &[7u8; 400]), 0));
    let snapped = &full[..64];
    let m = match decode(
        LinkType::ETHERNET,
        Timestamp(1),
        full.len() as u32,
        snapped,
        &DecodeOptions::default(),
    ) {
        Ok(Decoded::Ip(m)) => m,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (m.payload_len, m.payload.len(), m.cap_len),
        (400, 64 - 42, 64)
    );
}

#[test]
fn arp_is_counted_as_non_ip_and_never_read_as_ipv4() {
    let frame = eth(
        0x0806,
        &[
            0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2,
        ],
    );
    let d = decode(
        LinkType::ETHERNET,
        Timestamp(1),
        frame.len() as u32,
        &frame,
        &DecodeOptions::default(),
    );
    assert!(
        matches!(d, Ok(Decoded::NonIp { ethertype: 0x0806 })),
        "{d:?}"
    );
}

#[test]
fn qinq_keeps_outer_and_inner_vlan_ids() {
    let mut inner = vec![0x00, 0x64, 0x81, 0x00, 0x00, 0xC8, 0x08, 0x00];
    inner.extend_from_slice(&ipv4(17, &udp(1, 2, b"x"), 0));
    let frame = eth(0x88A8, &inner);
    let m = ip(LinkType::ETHERNET, &frame);
    assert_eq!(
        (m.vlan, m.vlan_inner, m.sport, m.dport, m.payload_len),
        (Some(100), Some(200), 1, 2, 1)
    );
}

#[test]
fn ipv6_extension_headers_are_skipped_to_the_transport_header() {
    let t = tcp(0x02, &[]);
    let mut p = vec![0x60, 0, 0, 0, 0, 0, 0, 64];
    let plen = (8 + 8 + t.len()) as u16;
    p[4..6].copy_from_slice(&plen.to_be_bytes());
    p[6] = 0; // hop-by-hop
    p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    p.extend_from_slice(&[44, 0, 1, 4, 0, 0, 0, 0]); // hop-by-hop → fragment
    p.extend_from_slice(&[6, 0, 0, 1, 0, 0, 0, 9]); // fragment (offset 0, M=1) → TCP
    p.extend_from_slice(&t);
    let m = ip(LinkType::RAW, &p);
    assert_eq!(
        (m.ip_version, m.proto, m.sport, m.dport, m.ip_header_len),
        (6, 6, 50000, 443, 56)
    );
    assert_eq!(m.fragment, Fragment::First);
    assert_eq!(m.tcp.map(|t| t.flags), Some(0x02));
}

#[test]
fn later_ipv4_fragments_have_no_ports_and_all_their_bytes_are_payload() {
    let mut p = ipv4(17, &[0xAA; 100], 0);
    p[6..8].copy_from_slice(&185u16.to_be_bytes()); // fragment offset 185 × 8, no MF
    let m = ip(LinkType::IPV4, &p);
    assert_eq!(
        (m.fragment, m.sport, m.dport, m.payload_len, m.l4_header_len),
        (Fragment::NonFirst, 0, 0, 100, 0)
    );
}

#[test]
fn a_frame_cut_inside_the_tcp_header_is_a_decode_error_with_its_offset() {
    let frame = eth(0x0800, &ipv4(6, &tcp(0x10, &[]), 0));
    let cut = &frame[..44];
    let e = decode(
        LinkType::ETHERNET,
        Timestamp(1),
        frame.len() as u32,
        cut,
        &DecodeOptions::default(),
    )
    .unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::Truncated("TCP"));
    assert_eq!(e.offset, 44);
}

#[test]
fn every_supported_link_type_reaches_the_ip_header() {
    let packet = ipv4(17, &udp(1000, 2000, b"hello"), 0);
    let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
    sll.extend_from_slice(&packet);
    let mut sll2 = vec![
        0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0,
    ];
    sll2.extend_from_slice(&packet);
    let mut null = 2u32.to_le_bytes().to_vec();
    null.extend_from_slice(&packet);
    let mut lo = 2u32.to_be_bytes().to_vec();
    lo.extend_from_slice(&packet);
    let mut ppp = vec![0xFF, 0x03, 0x00, 0x21];
    ppp.extend_from_slice(&packet);
    let mut hdlc = vec![0x0F, 0x00, 0x08, 0x00];
    hdlc.extend_from_slice(&packet);
    let ether = eth(0x0800, &packet);
    for (link, frame) in [
        (LinkType::ETHERNET, &ether),
        (LinkType::LINUX_SLL, &sll),
        (LinkType::LINUX_SLL2, &sll2),
        (LinkType::NULL, &null),
        (LinkType::LOOP, &lo),
        (LinkType::RAW, &packet),
        (LinkType::IPV4, &packet),
        (LinkType::PPP, &ppp),
        (LinkType::C_HDLC, &hdlc),
    ] {
        let m = ip(link, frame);
        assert_eq!(
            (m.sport, m.dport, m.payload_len, m.payload),
            (1000, 2000, 5, &b"hello"[..]),
            "{link}"
        );
    }
}

#[test]
fn gtp_u_is_unwrapped_only_when_tunnels_are_decoded() {
    let inner = ipv4(6, &tcp(0x02, &[]), 0);
    let mut gtp = vec![0x30, 0xFF, 0, 0, 0, 0, 0, 1];
    gtp[2..4].copy_from_slice(&(inner.len() as u16).to_be_bytes());
    gtp.extend_from_slice(&inner);
    let frame = eth(0x0800, &ipv4(17, &udp(2152, 2152, &gtp), 0));
    let outer = ip(LinkType::ETHERNET, &frame);
    assert_eq!(
        (outer.proto, outer.dport, outer.tunnel),
        (17, 2152, Tunnel::None)
    );
    let m = ip_opts(
        LinkType::ETHERNET,
        &frame,
        DecodeOptions {
            decode_tunnels: true,
            vxlan: false,
        },
    );
    assert_eq!((m.proto, m.dport, m.tunnel), (6, 443, Tunnel::Gtp));
}

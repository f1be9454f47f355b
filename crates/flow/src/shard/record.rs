//! What a finished (or, for the open view, a still open) slot becomes: its `FlowRecord`.

use packet::Timestamp;

use super::{Shard, Slot};
use crate::app::Application;
use crate::record::{AppMeta, EndReason, FlowRecord};

impl Shard {
    /// The record of flow `s` ending with `reason`, taking its application metadata.
    pub(super) fn record(&self, mut s: Slot, reason: EndReason) -> FlowRecord {
        let app = s.app.take().map(|b| *b).unwrap_or_default();
        self.record_of(&s, reason, app)
    }

    /// The record of flow `s` ending with `reason`, with its application metadata `app`.
    pub(super) fn record_of(&self, s: &Slot, reason: EndReason, app: AppMeta) -> FlowRecord {
        let k = &s.key;
        let (src, sport, dst, dport) = if s.fwd_is_lo {
            (k.lo_ip, k.lo_port, k.hi_ip, k.hi_port)
        } else {
            (k.hi_ip, k.hi_port, k.lo_ip, k.lo_port)
        };
        let a = &s.accum;
        let (pf, pb) = a.packets();
        let (bf, bb) = a.bytes();
        let (wf, wb) = a.wire_bytes();
        let (xf, xb) = a.ip_bytes();
        let (rf, rb) = a.retrans();
        let connection_time = k.proto == 6 || k.proto == 17;
        FlowRecord {
            // Numbered by the export order.
            id: 0,
            src: src.to_ip(k.ip_version),
            dst: dst.to_ip(k.ip_version),
            sport,
            dport,
            proto: k.proto,
            vlan: s.vlan.checked_sub(1),
            tunnel: k.tunnel,
            first: Timestamp(a.first_ts()),
            last: Timestamp(a.last_ts()),
            end_reason: reason,
            packets: [pf as u64, pb as u64],
            bytes: [bf, bb],
            wire_bytes: [wf, wb],
            ip_bytes: [xf, xb],
            retrans: [rf, rb],
            features: a.features(connection_time),
            app,
            application: match s.application {
                Application::Unknown => Application::of_protocol(k.proto),
                a => a,
            },
            service: crate::service::of_flow(sport, dport, k.proto),
            geo: Default::default(),
            devices: Default::default(),
            direction: self
                .home_net
                .classify(src.to_ip(k.ip_version), dst.to_ip(k.ip_version)),
        }
    }
}

//! The metering transform: raw packets in, flow records out (decoder + flow table).

use packet::decode::decode_ndpi;
use packet::{decode, DecodeError, DecodeOptions, Decoded, RawPacket};

use crate::profile::Profile;

use crate::direction::HomeNet;
use crate::record::{EndReason, FlowRecord};
use crate::table::{FlowTable, MeterConfig};

/// Frames seen by the decoder.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecodeCounters {
    /// Frames offered.
    pub frames: u64,
    /// Frames without IP (ARP, LLDP, …): counted, not metered.
    pub non_ip: u64,
    /// Frames that could not be decoded.
    pub decode_errors: u64,
    /// Frames the `nfstream` profile ignores as NFStream does.
    pub ignored: u64,
}

/// Decoder and flow table together.
pub struct Meter {
    table: FlowTable,
    opts: DecodeOptions,
    ndpi: bool,
    counters: DecodeCounters,
}

impl Meter {
    /// A meter with the profile's decoder settings.
    pub fn new(cfg: MeterConfig, home: HomeNet) -> Self {
        Meter {
            opts: cfg.profile.decode_options(),
            ndpi: cfg.profile == Profile::Nfstream,
            table: FlowTable::new(cfg, home),
            counters: DecodeCounters::default(),
        }
    }

    /// Decodes and meters one frame; finished flows are appended to `out`. The decoded frame is
    /// returned for the caller's statistics.
    pub fn packet<'a>(
        &mut self,
        raw: &RawPacket<'a>,
        out: &mut Vec<FlowRecord>,
    ) -> Result<Decoded<'a>, DecodeError> {
        self.counters.frames += 1;
        let d = if self.ndpi {
            // The nfstream profile keys packets exactly as NFStream's engine does.
            Ok(
                match decode_ndpi(
                    raw.link,
                    raw.ts,
                    raw.wire_len,
                    raw.data,
                    self.opts.decode_tunnels,
                ) {
                    Some(m) => Decoded::Ip(m),
                    None => Decoded::Ignored,
                },
            )
        } else {
            decode(raw.link, raw.ts, raw.wire_len, raw.data, &self.opts)
        };
        match &d {
            Ok(Decoded::Ip(m)) => self.table.process(m, out),
            Ok(Decoded::NonIp { .. }) => self.counters.non_ip += 1,
            Ok(Decoded::Ignored) => self.counters.ignored += 1,
            Err(_) => self.counters.decode_errors += 1,
        }
        d
    }

    /// Emits every open flow with `reason`.
    pub fn finish(&mut self, reason: EndReason, out: &mut Vec<FlowRecord>) {
        self.table.flush(reason, out);
    }

    /// The flow table.
    pub fn table(&self) -> &FlowTable {
        &self.table
    }

    /// Decoder counters.
    pub fn decode_counters(&self) -> &DecodeCounters {
        &self.counters
    }
}

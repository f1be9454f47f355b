//! The metering transform: raw packets in, flow records out (decoder + flow table).

use packet::decode::decode_ndpi;
use packet::{decode, DecodeError, DecodeOptions, Decoded, PacketSource, RawPacket};

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
        let d = self.decode(raw);
        self.count(&d);
        if let Ok(Decoded::Ip(m)) = &d {
            self.table.process(m, out);
        }
        d
    }

    /// Decodes and meters the current batch of `src` (`n` packets, from `fill_batch`).
    /// `on_packet` sees every frame and its decoding, for the caller's statistics.
    pub fn packet_batch<S, O>(
        &mut self,
        src: &S,
        n: usize,
        out: &mut Vec<FlowRecord>,
        mut on_packet: O,
    ) where
        S: PacketSource + ?Sized,
        O: FnMut(&RawPacket<'_>, &Result<Decoded<'_>, DecodeError>),
    {
        let mut ip = Vec::with_capacity(n);
        for i in 0..n {
            let raw = src.batch_packet(i);
            let d = self.decode(&raw);
            self.count(&d);
            on_packet(&raw, &d);
            if let Ok(Decoded::Ip(m)) = d {
                ip.push(m);
            }
        }
        self.table.process_batch(&ip, out);
    }

    fn count(&mut self, d: &Result<Decoded<'_>, DecodeError>) {
        self.counters.frames += 1;
        match d {
            Ok(Decoded::Ip(_)) => {}
            Ok(Decoded::NonIp { .. }) => self.counters.non_ip += 1,
            Ok(Decoded::Ignored) => self.counters.ignored += 1,
            Err(_) => self.counters.decode_errors += 1,
        }
    }

    fn decode<'a>(&self, raw: &RawPacket<'a>) -> Result<Decoded<'a>, DecodeError> {
        if self.ndpi {
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
        }
    }

    /// Emits every open flow with `reason`.
    /// At most `max` per call; returns whether flows remain.
    pub fn finish(&mut self, reason: EndReason, max: usize, out: &mut Vec<FlowRecord>) -> bool {
        self.table.flush(reason, max, out)
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

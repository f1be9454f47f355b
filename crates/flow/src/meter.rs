//! The metering transform: raw packets in, flow records out (decoder + flow table).

use packet::decode::decode_ndpi;
use packet::{decode, DecodeError, DecodeOptions, Decoded, PacketSource, RawPacket};

use crate::profile::Profile;

use crate::direction::HomeNet;
use crate::record::{EndReason, FlowRecord};
use crate::table::{FlowTable, MeterConfig};
use crate::window::{Window, WindowConfig, Windower};

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
    windows: Option<Windower>,
    /// Scratch of `packet_batch`: the batch's IP packets, and every frame when windowing.
    frames: Vec<(i64, u32, bool)>,
}

impl Meter {
    /// A meter with the profile's decoder settings.
    pub fn new(cfg: MeterConfig, home: HomeNet) -> Self {
        Meter {
            opts: cfg.profile.decode_options(),
            ndpi: cfg.profile == Profile::Nfstream,
            table: FlowTable::new(cfg, home),
            counters: DecodeCounters::default(),
            windows: None,
            frames: Vec::new(),
        }
    }

    /// Also cuts the traffic into windows (see [`crate::window`]); take them with
    /// [`Meter::drain_windows`].
    pub fn with_windows(mut self, cfg: WindowConfig) -> Self {
        self.windows = Some(Windower::new(cfg));
        self
    }

    /// Moves the windows finished so far, oldest first, to `out`.
    pub fn drain_windows(&mut self, out: &mut Vec<Window>) {
        if let Some(w) = &mut self.windows {
            w.drain(out);
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
        let before = out.len();
        let outcome = match &d {
            Ok(Decoded::Ip(m)) => self.table.process(m, out),
            _ => Default::default(),
        };
        if let Some(w) = &mut self.windows {
            match &d {
                Ok(dec) => w.frame(
                    raw.ts.0,
                    raw.wire_len,
                    dec,
                    outcome.retrans,
                    outcome.new_flow,
                ),
                Err(_) => w.undecoded(raw.ts.0, raw.wire_len),
            }
            w.flows_ended(&out[before..]);
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
        let mut frames = std::mem::take(&mut self.frames);
        frames.clear();
        let windowing = self.windows.is_some();
        for i in 0..n {
            let raw = src.batch_packet(i);
            let d = self.decode(&raw);
            self.count(&d);
            on_packet(&raw, &d);
            let is_ip = matches!(d, Ok(Decoded::Ip(_)));
            if windowing {
                frames.push((raw.ts.0, raw.wire_len, is_ip));
            }
            if let Ok(Decoded::Ip(m)) = d {
                ip.push(m);
            }
        }
        match &mut self.windows {
            None => self.table.process_batch(&ip, out, |_, _, _| {}),
            Some(w) => {
                // Frames go to the windows in capture order: the non-IP frames before each IP
                // packet, then the packet with what the table made of it.
                let mut next = 0;
                self.table.process_batch(&ip, out, |i, outcome, ended| {
                    while let Some(&(ts, len, false)) = frames.get(next) {
                        w.undecoded(ts, len);
                        next += 1;
                    }
                    if let Some(&(ts, len, true)) = frames.get(next) {
                        let d = Decoded::Ip(ip[i]);
                        w.frame(ts, len, &d, outcome.retrans, outcome.new_flow);
                        next += 1;
                    }
                    w.flows_ended(ended);
                });
                for &(ts, len, _) in &frames[next..] {
                    w.undecoded(ts, len);
                }
            }
        }
        self.frames = frames;
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
    /// Closes the last window once no flow remains.
    pub fn finish(&mut self, reason: EndReason, max: usize, out: &mut Vec<FlowRecord>) -> bool {
        let before = out.len();
        let more = self.table.flush(reason, max, out);
        if let Some(w) = &mut self.windows {
            w.flows_ended(&out[before..]);
            if !more {
                w.finish();
            }
        }
        more
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

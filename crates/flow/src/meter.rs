//! The metering transform: raw packets in, flow records out (decoder + flow table).
//!
//! Every packet's time is first judged by its input's [`CaptureClock`]: a stray time far
//! outside the capture's bulk is counted ([`DecodeCounters::time_outliers`]) and the packet is
//! metered at the clock's time, so flows, windows and everything derived from them stay within
//! the capture's real span (see [`crate::clock`]). Each input (capture file) of a merged stream
//! has its own clock, and a packet's next packet is the next one of the same input: merged
//! captures of different dates, or of one packet each, are not each other's outliers.

use packet::decode::decode_ndpi;
use packet::Timestamp;
use packet::{decode, DecodeError, DecodeOptions, Decoded, LinkType, PacketSource, RawPacket};

use crate::clock::{CaptureClock, Verdict};
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
    /// Frames whose capture time lay far outside the capture's bulk (see [`crate::clock`]):
    /// metered at the clock's time instead of their own.
    pub time_outliers: u64,
    /// Earliest and latest capture time of those frames, as read.
    pub time_outlier_span: Option<(Timestamp, Timestamp)>,
}

/// Most separate input clocks: inputs are the files of one run, numbered from 0.
pub const MAX_CLOCKS: usize = 65_536;

/// A frame held back, copied, until the next frame decides its time.
#[derive(Debug)]
pub(crate) struct Held {
    ts: i64,
    link: LinkType,
    wire_len: u32,
    offset: u64,
    input: usize,
    data: Vec<u8>,
}

impl Held {
    /// The frame at time `ts`.
    pub fn raw(&self, ts: i64) -> RawPacket<'_> {
        RawPacket {
            ts: Timestamp(ts),
            link: self.link,
            wire_len: self.wire_len,
            data: &self.data,
            offset: self.offset,
            input: self.input,
        }
    }
}

/// The meter's front, before the flow table: the capture clocks that decide each frame's time,
/// the frame held back until the next one decides its time, and the decoder with its counters.
/// [`Meter`] and the sharded meter share it.
pub(crate) struct FrontEnd {
    opts: DecodeOptions,
    ndpi: bool,
    counters: DecodeCounters,
    /// One clock per input (`RawPacket::input`; inputs from [`MAX_CLOCKS`] on share the last).
    clocks: Vec<CaptureClock>,
    /// The last time accepted on any input: where an input's outliers go before its clock has
    /// a reference.
    last_accepted: Option<i64>,
    /// The last frame of the previous batch when its time needs the next frame to be decided.
    held: Option<Held>,
    /// The buffer of the last frame held, kept for the next.
    spare: Vec<u8>,
    /// The times [`FrontEnd::decide_batch`] decided, one per frame of the batch metered now.
    pub times: Vec<i64>,
}

impl FrontEnd {
    /// The front of a meter with `profile`'s decoder.
    pub fn new(profile: Profile) -> Self {
        FrontEnd {
            opts: profile.decode_options(),
            ndpi: profile == Profile::Nfstream,
            counters: DecodeCounters::default(),
            clocks: Vec::new(),
            last_accepted: None,
            held: None,
            spare: Vec::new(),
            times: Vec::new(),
        }
    }

    /// Decides the held frame's time, if a frame is held, now that the next frame (`None`: the
    /// end of the input) is known: the frame and its time. It was counted and shown to the
    /// caller when it was read; give it back with [`FrontEnd::recycle`].
    pub fn release_held(&mut self, next: Option<&RawPacket<'_>>) -> Option<(Held, i64)> {
        let h = self.held.take()?;
        let next = next.filter(|n| n.input == h.input).map(|n| n.ts.0);
        let fallback = self.last_accepted;
        let v = self.clock_mut(h.input).decide(h.ts, next, fallback);
        self.note(h.ts, v);
        Some((h, v.at))
    }

    /// Keeps a released frame's buffer for the next frame held.
    pub fn recycle(&mut self, h: Held) {
        self.spare = h.data;
    }

    /// Decides the times of the first `n` frames of `src`'s batch, in order, each seeing the
    /// next, into [`FrontEnd::times`]. Returns whether the last frame's time needs the next
    /// batch: it is then not in `times`, and the caller holds it ([`FrontEnd::hold`]).
    pub fn decide_batch<S>(&mut self, src: &S, n: usize) -> bool
    where
        S: PacketSource + ?Sized,
    {
        let mut times = std::mem::take(&mut self.times);
        times.clear();
        let mut hold_last = false;
        for i in 0..n {
            let (t, input) = {
                let p = src.batch_packet(i);
                (p.ts.0, p.input)
            };
            let v = if i + 1 < n {
                let p = src.batch_packet(i + 1);
                let next = (p.input == input).then_some(p.ts.0);
                let fallback = self.last_accepted;
                Some(self.clock_mut(input).decide(t, next, fallback))
            } else {
                self.clock_mut(input).decide_alone(t)
            };
            match v {
                Some(v) => {
                    self.note(t, v);
                    times.push(v.at);
                }
                None => hold_last = true,
            }
        }
        self.times = times;
        hold_last
    }

    /// Decides a frame's time when that needs no next frame; `None` when it does (hold it).
    pub fn decide_alone(&mut self, raw: &RawPacket<'_>) -> Option<i64> {
        let v = self.clock_mut(raw.input).decide_alone(raw.ts.0)?;
        self.note(raw.ts.0, v);
        Some(v.at)
    }

    /// Copies `raw` aside until the next frame (or the end) decides its time.
    pub fn hold(&mut self, raw: &RawPacket<'_>) {
        let mut data = std::mem::take(&mut self.spare);
        data.clear();
        data.extend_from_slice(raw.data);
        self.held = Some(Held {
            ts: raw.ts.0,
            link: raw.link,
            wire_len: raw.wire_len,
            offset: raw.offset,
            input: raw.input,
            data,
        });
    }

    /// Counts an outlier, or remembers an accepted time.
    fn note(&mut self, read: i64, v: Verdict) {
        if !v.outlier {
            self.last_accepted = Some(v.at);
            return;
        }
        let c = &mut self.counters;
        c.time_outliers += 1;
        let t = Timestamp(read);
        c.time_outlier_span = Some(match c.time_outlier_span {
            None => (t, t),
            Some((a, b)) => (a.min(t), b.max(t)),
        });
    }

    /// Counts a decoded frame.
    pub fn count(&mut self, d: &Result<Decoded<'_>, DecodeError>) {
        self.counters.frames += 1;
        match d {
            Ok(Decoded::Ip(_)) => {}
            Ok(Decoded::NonIp { .. }) => self.counters.non_ip += 1,
            Ok(Decoded::Ignored) => self.counters.ignored += 1,
            Err(_) => self.counters.decode_errors += 1,
        }
    }

    /// Decodes a frame with the profile's decoder.
    pub fn decode<'a>(&self, raw: &RawPacket<'a>) -> Result<Decoded<'a>, DecodeError> {
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

    /// Decoder counters, with the capture clock's outliers.
    pub fn counters(&self) -> &DecodeCounters {
        &self.counters
    }

    /// The capture clock of input `input` (`None` before its first packet).
    pub fn clock(&self, input: usize) -> Option<&CaptureClock> {
        self.clocks.get(input.min(MAX_CLOCKS - 1))
    }

    fn clock_mut(&mut self, input: usize) -> &mut CaptureClock {
        let i = input.min(MAX_CLOCKS - 1);
        if self.clocks.len() <= i {
            self.clocks.resize_with(i + 1, CaptureClock::default);
        }
        &mut self.clocks[i]
    }
}

/// Decoder and flow table together.
pub struct Meter {
    table: FlowTable,
    front: FrontEnd,
    windows: Option<Windower>,
    /// Scratch of `packet_batch`: the batch's IP packets, and every frame when windowing.
    frames: Vec<(i64, u32, bool)>,
}

impl Meter {
    /// A meter with the profile's decoder settings.
    pub fn new(cfg: MeterConfig, home: HomeNet) -> Self {
        Meter {
            table: FlowTable::new(cfg, home),
            front: FrontEnd::new(cfg.profile),
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
    /// returned for the caller's statistics. A frame whose time is far from the capture
    /// clock's is metered with the next frame (or at [`Meter::finish`]), once that tells
    /// whether it is an outlier.
    pub fn packet<'a>(
        &mut self,
        raw: &RawPacket<'a>,
        out: &mut Vec<FlowRecord>,
    ) -> Result<Decoded<'a>, DecodeError> {
        self.meter_held(Some(raw), out);
        let Some(at) = self.front.decide_alone(raw) else {
            let d = self.front.decode(raw);
            self.front.count(&d);
            self.front.hold(raw);
            return d;
        };
        let raw = RawPacket {
            ts: Timestamp(at),
            ..*raw
        };
        let d = self.front.decode(&raw);
        self.front.count(&d);
        self.meter_decoded(&raw, &d, out);
        d
    }

    /// Meters one decoded frame (at the time in `raw`) into the table and the windows.
    fn meter_decoded(
        &mut self,
        raw: &RawPacket<'_>,
        d: &Result<Decoded<'_>, DecodeError>,
        out: &mut Vec<FlowRecord>,
    ) {
        let before = out.len();
        let outcome = match d {
            Ok(Decoded::Ip(m)) => self.table.process(m, out),
            _ => Default::default(),
        };
        if let Some(w) = &mut self.windows {
            match d {
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
    }

    /// Decides and meters the held frame, if any, now that the next frame's time (`None`: the
    /// end of the input) is known. It was counted and shown to the caller when it was read.
    fn meter_held(&mut self, next: Option<&RawPacket<'_>>, out: &mut Vec<FlowRecord>) {
        let Some((h, at)) = self.front.release_held(next) else {
            return;
        };
        let raw = h.raw(at);
        let d = self.front.decode(&raw);
        self.meter_decoded(&raw, &d, out);
        self.front.recycle(h);
    }

    /// Decodes and meters the current batch of `src` (`n` packets, from `fill_batch`).
    /// `on_packet` sees every frame as read (its own time) and its decoding, for the caller's
    /// statistics. The last frame may be metered with the next batch (see [`Meter::packet`]).
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
        if n == 0 {
            return;
        }
        self.meter_held(Some(&src.batch_packet(0)), out);
        // Every frame's time, decided in order, each seeing the next (the last: if it can).
        let hold_last = self.front.decide_batch(src, n);
        let times = std::mem::take(&mut self.front.times);
        let mut ip = Vec::with_capacity(n);
        let mut frames = std::mem::take(&mut self.frames);
        frames.clear();
        let windowing = self.windows.is_some();
        for (i, &at) in times.iter().enumerate() {
            let read = src.batch_packet(i);
            let raw = RawPacket {
                ts: Timestamp(at),
                ..read
            };
            let d = self.front.decode(&raw);
            self.front.count(&d);
            on_packet(&read, &d);
            let is_ip = matches!(d, Ok(Decoded::Ip(_)));
            if windowing {
                frames.push((at, raw.wire_len, is_ip));
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
        self.front.times = times;
        if hold_last {
            let read = src.batch_packet(n - 1);
            let d = self.front.decode(&read);
            self.front.count(&d);
            on_packet(&read, &d);
            self.front.hold(&read);
        }
    }

    /// Moves the table clock to `now_us` without a packet (a quiet link), as a packet of an
    /// unrelated flow arriving then would, without creating a flow: flows idle at `now_us`
    /// expire into `out`, and windows that end at or before `now_us` close (take them with
    /// [`Meter::drain_windows`]). A time not after the table clock does nothing to the flows.
    /// A frame held back for its time stays held.
    pub fn advance(&mut self, now_us: i64, out: &mut Vec<FlowRecord>) {
        let before = out.len();
        self.table.advance(now_us, out);
        if let Some(w) = &mut self.windows {
            w.advance(now_us);
            w.flows_ended(&out[before..]);
        }
    }

    /// Emits every open flow with `reason`.
    /// About `max` per call; returns whether flows remain.
    /// Closes the last window once no flow remains.
    pub fn finish(&mut self, reason: EndReason, max: usize, out: &mut Vec<FlowRecord>) -> bool {
        self.meter_held(None, out);
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

    /// Snapshots of the newest open flows, as [`FlowTable::open_flows`] takes them.
    pub fn open_flows(&self, since_us: i64, max: usize, out: &mut Vec<FlowRecord>) -> u64 {
        self.table.open_flows(since_us, max, out)
    }

    /// The flow table.
    pub fn table(&self) -> &FlowTable {
        &self.table
    }

    /// Decoder counters, with the capture clock's outliers.
    pub fn decode_counters(&self) -> &DecodeCounters {
        self.front.counters()
    }

    /// The capture clock of input `input` (`None` before its first packet).
    pub fn clock(&self, input: usize) -> Option<&CaptureClock> {
        self.front.clock(input)
    }
}

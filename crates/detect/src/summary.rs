//! The one sentence an episode says of itself: who did what to whom, how much and for how
//! long, in the words of the detector that names it, with units. Built from the episode's
//! evidence (`crate::episode`), so it never says more than the evidence holds.

use serde_json::Value;

use crate::alert::Alert;
use crate::family::Family;
use crate::reading::{Effect, Reading};

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration in µs as a reader says it: `850 ms`, `12 s`, `4 min 5 s`, `2 h 3 min`.
pub fn duration(us: i64) -> String {
    let us = us.max(0);
    if us < 1_000_000 {
        return format!("{} ms", us / 1_000);
    }
    let s = us / 1_000_000;
    match s {
        0..=59 => format!("{s} s"),
        60..=3_599 if s % 60 == 0 => format!("{} min", s / 60),
        60..=3_599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3_600, (s % 3_600) / 60),
    }
}

/// A byte count with a binary unit: `512 B`, `3.4 KiB`, `12.0 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn u(v: &Value, k: &str) -> Option<u64> {
    v.get(k).and_then(Value::as_u64)
}

fn f(v: &Value, k: &str) -> Option<f64> {
    v.get(k).and_then(Value::as_f64)
}

/// How the sentence names one side: its address, or how many addresses.
fn side(addr: Option<std::net::IpAddr>, ev: &Value, key: &str, one: &str, many: &str) -> String {
    match addr {
        Some(a) => a.to_string(),
        None => {
            let n = ev[key]["distinct"].as_u64().unwrap_or(0);
            let more = ev[key]["untracked_hits"].as_u64().unwrap_or(0) > 0;
            match (n, more) {
                (0, _) => one.to_string(),
                (1, false) => ev[key]["top"][0]["addr"]
                    .as_str()
                    .unwrap_or(one)
                    .to_string(),
                (n, false) => format!("{} {many}", thousands(n)),
                (n, true) => format!("over {} {many}", thousands(n)),
            }
        }
    }
}

fn pct(x: f64) -> String {
    let p = x * 100.0;
    if p > 0.0 && p < 1.0 {
        format!("{p:.1} %")
    } else {
        format!("{p:.0} %")
    }
}

/// The sentence of an episode (its evidence as `crate::episode` writes it).
pub fn sentence(a: &Alert) -> String {
    let ev = &a.evidence;
    let who = side(a.src, ev, "sources", "an unknown source", "sources");
    let whom = side(a.dst, ev, "destinations", "an unknown destination", "hosts");
    let dur = duration(a.time - a.first_seen);
    let lead = &ev["lead"]["evidence"];
    let model_flows = ev["model"]["flows"].as_u64().unwrap_or(0);
    let kind = a.kind.as_str();
    let mut s = if !ev["lead"].is_object() {
        let p = ev["model"]["strongest"][0]["p_attack"]
            .as_f64()
            .unwrap_or(0.0);
        let mut t = format!(
            "The flow model scored {} flow{} from {who} to {whom} over {dur} as {kind} (highest P(attack) {p:.3}); no rule or baseline corroborates it",
            thousands(model_flows),
            if model_flows == 1 { "" } else { "s" },
        );
        if let Some(telling) = most_telling(&ev["model"]["strongest"][0]["contributions"]) {
            t.push_str(&format!("; most telling: {telling}"));
        }
        t
    } else if kind == "syn_flood" {
        // Without one attacker, the sources are counted (spoofed, or many hosts).
        let who = match u(lead, "distinct_sources").filter(|&n| n > 1 && a.src.is_none()) {
            Some(n) => format!("{} sources", thousands(n)),
            None => who,
        };
        let mut t = format!(
            "{who} sent {} SYNs to {whom} in {dur}",
            thousands(u(lead, "syn_packets").or(u(lead, "packets")).unwrap_or(0))
        );
        if let Some(r) = f(lead, "reply_ratio") {
            t.push_str(&format!("; {} were answered", pct(r.min(1.0))));
        }
        t
    } else if kind == "udp_flood" || kind == "icmp_flood" {
        let proto = if kind == "udp_flood" { "UDP" } else { "ICMP" };
        format!(
            "{who} sent {} {proto} packets ({}) to {whom} in {dur}, {:.0} packets/s at the peak",
            thousands(u(lead, "packets").unwrap_or(0)),
            bytes(u(lead, "bytes").unwrap_or(0)),
            f(lead, "rate_per_s").unwrap_or(0.0)
        )
    } else if let Some(service) = kind.strip_prefix("amplification_") {
        format!(
            "{} {} reflectors sent {} in {} responses to {whom} in {dur}; {} of {} flows were unsolicited",
            thousands(u(lead, "reflectors").unwrap_or(0)),
            service.to_ascii_uppercase(),
            bytes(u(lead, "response_bytes").unwrap_or(0)),
            thousands(u(lead, "response_packets").unwrap_or(0)),
            thousands(u(lead, "unsolicited_flows").unwrap_or(0)),
            thousands(u(lead, "flows").unwrap_or(0)),
        )
    } else if kind == "port_scan_vertical" {
        format!(
            "{who} probed {} ports on {whom} with {} probes in {dur}",
            thousands(u(lead, "distinct_ports").unwrap_or(0)),
            thousands(u(lead, "probes").unwrap_or(0)),
        )
    } else if kind == "port_scan_horizontal" {
        format!(
            "{who} probed {} hosts on {} port{} in {dur}",
            thousands(u(lead, "distinct_hosts").unwrap_or(0)),
            thousands(u(lead, "ports_swept").unwrap_or(0)),
            if u(lead, "ports_swept") == Some(1) {
                ""
            } else {
                "s"
            },
        )
    } else if let Some(service) = kind.strip_prefix("brute_force_") {
        format!(
            "{who} opened {} short {} connections to {whom} in {dur} ({:.0} a minute): password guessing",
            thousands(u(lead, "connections").unwrap_or(0)),
            service.to_ascii_uppercase(),
            f(lead, "connections_per_min").unwrap_or(0.0),
        )
    } else if a.family == Family::Anomaly {
        let top = &lead["contributions"][0];
        let mut t = format!(
            "{}'s traffic scored {:.1} against the learned baseline (threshold {:.1}) over {dur}",
            a.src.map_or("The network".to_string(), |s| s.to_string()),
            f(lead, "score").unwrap_or(0.0),
            f(lead, "threshold").unwrap_or(0.0),
        );
        if let (Some(name), Some(v), Some(m)) =
            (top["feature"].as_str(), f(top, "value"), f(top, "median"))
        {
            t.push_str(&format!(
                "; most unusual: {name} {v} {} (typically {m})",
                top["unit"].as_str().unwrap_or("")
            ));
        }
        t
    } else if let Some(t) = application_sentence(kind, lead, &who, &whom, &dur) {
        t
    } else if let Some(d) = lead.get("description").and_then(Value::as_str) {
        // Rules that describe their own finding.
        format!("{d} ({dur})")
    } else {
        format!(
            "{} ({kind}) from {who} to {whom}: {} flow{} in {dur}",
            capitalised(a.family.label()),
            thousands(a.flows),
            if a.flows == 1 { "" } else { "s" },
        )
    };
    if ev["lead"].is_object() && model_flows > 0 {
        s.push_str(&format!(
            "; the flow model flagged {} of the flows",
            thousands(model_flows)
        ));
    }
    s.push('.');
    // `an unknown source …` starts a sentence too.
    capitalised(&s)
}

/// The strongest flow's largest applicable contribution towards the alert's class, quoted
/// (`Fwd Seg Size Min 32 bytes, typical benign 8–20 bytes (raises the score)`): what drove the
/// score, in a measurement an analyst can check.
fn most_telling(contributions: &Value) -> Option<String> {
    contributions
        .as_array()?
        .iter()
        .filter_map(|c| serde_json::from_value::<Reading>(c.clone()).ok())
        .find(|r| r.applicable && r.effect == Effect::Raises)
        .and_then(|r| r.phrase())
}

/// At most `n` characters of `s`, with `…` when cut.
fn clipped(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// `{n} {one}` or `{n} {many}`, the count with thousands separators.
fn count(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// The sentences of the rules over application metadata and timing (web attacks, HTTP floods,
/// slow HTTP, DNS tunnels, beaconing, exfiltration), from their evidence (docs/rules.md).
fn application_sentence(
    kind: &str,
    lead: &Value,
    who: &str,
    whom: &str,
    dur: &str,
) -> Option<String> {
    let port = |p: Option<u64>| p.map(|p| format!(":{p}")).unwrap_or_default();
    Some(match kind {
        "web_sql_injection" | "web_xss" | "web_path_traversal" | "web_scanner" => {
            let what = match kind {
                "web_sql_injection" => "SQL injection",
                "web_xss" => "cross-site scripting",
                "web_path_traversal" => "path traversal",
                _ => "a vulnerability scanner's marks",
            };
            let patterns: Vec<&str> = lead["patterns"]
                .as_array()
                .map(|p| p.iter().filter_map(Value::as_str).take(3).collect())
                .unwrap_or_default();
            let mut t = format!(
                "{who} sent {} carrying {what} to {whom} in {dur}",
                count(u(lead, "requests")?, "HTTP request", "HTTP requests"),
            );
            if !patterns.is_empty() {
                t.push_str(&format!(" ({})", patterns.join(", ")));
            }
            if let Some(uri) = lead["uri"].as_str() {
                t.push_str(&format!(
                    ", e.g. {} {}",
                    lead["http_method"].as_str().unwrap_or("GET"),
                    clipped(uri, 100)
                ));
            }
            if let Some(ua) = lead["user_agent"].as_str() {
                t.push_str(&format!(" (User-Agent {})", clipped(ua, 60)));
            }
            t
        }
        "http_flood" => format!(
            "{who} sent {} to {whom}{} in {dur}, {:.0} a second",
            count(u(lead, "requests")?, "HTTP request", "HTTP requests"),
            port(u(lead, "port")),
            f(lead, "rate_per_s")?,
        ),
        "slow_http" => format!(
            "{who} held {} to {whom}{} open {:.0} s each on average, {:.0} at once, sending \
             {:.0} bytes/s; the server sent {}: slow HTTP (slowloris)",
            count(
                u(lead, "connections")?,
                "HTTP connection",
                "HTTP connections"
            ),
            port(u(lead, "port")),
            f(lead, "mean_duration_s")?,
            f(lead, "mean_concurrency")?,
            f(lead, "client_bytes_per_s")?,
            bytes(u(lead, "server_bytes")?),
        ),
        "dns_tunnel" => format!(
            "{who} sent {} for {} under {} to {whom} in {dur}, subdomains of {:.0} characters \
             on average ({:.1} bits of entropy per character): data carried in DNS names",
            count(f(lead, "query_packets")? as u64, "DNS query", "DNS queries"),
            count(
                u(lead, "distinct_names")?,
                "distinct name",
                "distinct names"
            ),
            lead["registered_domain"].as_str()?,
            f(lead, "mean_subdomain_len")?,
            f(lead, "entropy_bits_per_char")?,
        ),
        "beaconing" => format!(
            "{who} connected to {whom}{} {} every {:.1} s (± {:.1} s), {} each, over {}: a \
             regular check-in, as C2 implants make",
            port(u(lead, "dport")),
            count(u(lead, "connections")?, "time", "times"),
            f(lead, "median_interval_s")?,
            f(lead, "jitter_s")?,
            bytes(f(lead, "median_bytes")? as u64),
            duration((f(lead, "span_s")? * 1e6) as i64),
        ),
        "exfiltration" => {
            let out = u(lead, "bytes_out")?;
            let back = u(lead, "bytes_in")?;
            let mut t = format!(
                "{who} sent {} to {whom} in {dur} and received {} back",
                bytes(out),
                bytes(back)
            );
            if let Some(r) = f(lead, "ratio").filter(|r| r.is_finite() && *r >= 1.0) {
                t.push_str(&format!(" ({r:.0} times more out than in)"));
            }
            t
        }
        _ => return None,
    })
}

/// `s` with its first letter upper-case.
pub(crate) fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_durations_and_sizes_read_as_people_write_them() {
        assert_eq!(thousands(9_608), "9,608");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(duration(850_000), "850 ms");
        assert_eq!(duration(12_400_000), "12 s");
        assert_eq!(duration(245_000_000), "4 min 5 s");
        assert_eq!(duration(7_380_000_000), "2 h 3 min");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3_500), "3.4 KiB");
        assert_eq!(pct(0.03), "3 %");
        assert_eq!(pct(0.004), "0.4 %");
    }

    /// A model-only episode of 3 flows whose strongest flow is explained by `contributions`.
    fn model_only(contributions: serde_json::Value) -> Alert {
        Alert {
            time: 2_000_000,
            first_seen: 1_000_000,
            kind: "Portscan".into(),
            src: "172.16.0.8".parse().ok(),
            dst: "172.16.0.102".parse().ok(),
            evidence: serde_json::json!({"model": {"flows": 3, "strongest": [
                {"p_attack": 0.9997, "contributions": contributions}]}}),
            ..Alert::default()
        }
    }

    #[test]
    fn a_model_only_sentence_quotes_the_largest_measurement_that_raised_the_score() {
        // Skipped: a placeholder and a measurement that lowered the score.
        let a = model_only(serde_json::json!([
            {"feature": "Flow Bytes/s", "value": null, "unit": "bytes/s", "effect": "raises",
             "log_odds": 2.0, "applicable": false, "reason": "the flow lasted 0 µs"},
            {"feature": "Flow IAT Min", "value": 6.0, "unit": "µs",
             "typical": {"p5": 1.0, "p50": 29984.0, "p95": 322837.0}, "compared": "typical",
             "effect": "lowers", "log_odds": -1.5, "applicable": true},
            {"feature": "Bwd Packets/s", "value": 166666.66666666666, "unit": "packets/s",
             "typical": {"p5": 0.1014335665124789, "p50": 0.68, "p95": 65.09780945871171},
             "compared": "above typical", "effect": "raises", "log_odds": 0.9,
             "applicable": true},
        ]));
        assert_eq!(
            sentence(&a),
            "The flow model scored 3 flows from 172.16.0.8 to 172.16.0.102 over 1 s as Portscan \
             (highest P(attack) 1.000); no rule or baseline corroborates it; most telling: Bwd \
             Packets/s 166,667 packets/s, typical benign 0.101–65.1 packets/s (raises the score)."
        );
        // Unexplained (`--explain-top 0`): the sentence ends with the model's verdict.
        assert_eq!(
            sentence(&model_only(serde_json::json!([]))),
            "The flow model scored 3 flows from 172.16.0.8 to 172.16.0.102 over 1 s as Portscan \
             (highest P(attack) 1.000); no rule or baseline corroborates it."
        );
    }

    /// A rule episode of `kind` from 10.0.0.1 to 10.0.0.2 over 9 s, led by `evidence`.
    fn rule_led(kind: &str, evidence: serde_json::Value) -> Alert {
        Alert {
            time: 1_700_000_009_000_000,
            first_seen: 1_700_000_000_000_000,
            kind: kind.into(),
            family: Family::of_kind(kind),
            src: "10.0.0.1".parse().ok(),
            dst: "10.0.0.2".parse().ok(),
            flows: 10,
            evidence: serde_json::json!({"lead": {"kind": kind, "evidence": evidence}}),
            ..Alert::default()
        }
    }

    #[test]
    fn the_application_rules_say_what_they_saw_with_units() {
        // Evidence as the rules wrote it for the generator's scenarios (seed 1).
        let cases = [
            (
                "web_sql_injection",
                serde_json::json!({"requests": 30, "http_method": "GET",
                    "patterns": ["; <statement>", "information_schema", "or/and const=const", "union select"],
                    "uri": "/products.php?id=1'+OR+1=1--",
                    "user_agent": "sqlmap/1.7.2#stable (https://sqlmap.org)"}),
                "10.0.0.1 sent 30 HTTP requests carrying SQL injection to 10.0.0.2 in 9 s (; \
                 <statement>, information_schema, or/and const=const), e.g. GET \
                 /products.php?id=1'+OR+1=1-- (User-Agent sqlmap/1.7.2#stable (https://sqlmap.org)).",
            ),
            (
                "http_flood",
                serde_json::json!({"requests": 1000, "port": 80, "rate_per_s": 110.372}),
                "10.0.0.1 sent 1,000 HTTP requests to 10.0.0.2:80 in 9 s, 110 a second.",
            ),
            (
                "slow_http",
                serde_json::json!({"connections": 150, "port": 80, "mean_duration_s": 8.031,
                    "mean_concurrency": 142.449, "client_bytes_per_s": 30.985, "server_bytes": 0}),
                "10.0.0.1 held 150 HTTP connections to 10.0.0.2:80 open 8 s each on average, 142 \
                 at once, sending 31 bytes/s; the server sent 0 B: slow HTTP (slowloris).",
            ),
            (
                "dns_tunnel",
                serde_json::json!({"query_packets": 213.0, "distinct_names": 20,
                    "registered_domain": "skullseclabs.org", "mean_subdomain_len": 36.25,
                    "entropy_bits_per_char": 3.637}),
                "10.0.0.1 sent 213 DNS queries for 20 distinct names under skullseclabs.org to \
                 10.0.0.2 in 9 s, subdomains of 36 characters on average (3.6 bits of entropy per \
                 character): data carried in DNS names.",
            ),
            (
                "beaconing",
                serde_json::json!({"dport": 443, "connections": 8, "median_interval_s": 4.392,
                    "jitter_s": 0.359, "median_bytes": 841.0, "span_s": 31.392}),
                "10.0.0.1 connected to 10.0.0.2:443 8 times every 4.4 s (± 0.4 s), 841 B each, \
                 over 31 s: a regular check-in, as C2 implants make.",
            ),
            (
                "exfiltration",
                serde_json::json!({"bytes_out": 20006050, "bytes_in": 33400, "ratio": 598.984}),
                "10.0.0.1 sent 19.1 MiB to 10.0.0.2 in 9 s and received 32.6 KiB back (599 times \
                 more out than in).",
            ),
        ];
        for (kind, evidence, want) in cases {
            assert_eq!(sentence(&rule_led(kind, evidence)), want, "{kind}");
        }
        // Evidence without what the sentence needs: the generic sentence, singular when so.
        let mut a = rule_led("beaconing", serde_json::json!({}));
        a.flows = 1;
        assert_eq!(
            sentence(&a),
            "Command and control (beaconing) from 10.0.0.1 to 10.0.0.2: 1 flow in 9 s."
        );
    }
}

//! Attack families: what an analyst reads an alert as. Every detector's kinds — the model's
//! lab classes (`DoS Hulk`, `Infiltration - Portscan`), the rules (`syn_flood`,
//! `amplification_dns`) and the baseline (`host_anomaly`) — map to one family, which carries
//! the MITRE ATT&CK techniques and the next step an analyst takes. The lab class or rule stays
//! in the alert as its `kind`. docs/alerts.md lists the table.

use serde::{Deserialize, Serialize};

/// An attack family.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Denial of service from one source (or spoofed sources): floods, slow HTTP.
    Dos,
    /// Distributed denial of service: many real sources, reflection and amplification.
    Ddos,
    /// Port and host scans.
    Scan,
    /// Password guessing against a login service.
    BruteForce,
    /// Attacks carried in web requests: SQL injection, XSS, traversal, scanners.
    WebAttack,
    /// Command and control: beaconing, bots.
    C2,
    /// Data leaving the network: bulk uploads, DNS tunnels.
    Exfiltration,
    /// A host inside the network attacking others after a compromise.
    Infiltration,
    /// Exploitation of a vulnerability (e.g. Heartbleed).
    Exploit,
    /// Traffic unlike the learned baseline, without a named attack.
    Anomaly,
}

impl Family {
    /// Every family.
    pub const ALL: [Family; 10] = [
        Family::Dos,
        Family::Ddos,
        Family::Scan,
        Family::BruteForce,
        Family::WebAttack,
        Family::C2,
        Family::Exfiltration,
        Family::Infiltration,
        Family::Exploit,
        Family::Anomaly,
    ];

    /// Every family's name, in [`Family::ALL`]'s order.
    pub const NAMES: [&'static str; 10] = {
        let mut names = [""; 10];
        let mut i = 0;
        while i < names.len() {
            names[i] = Family::ALL[i].as_str();
            i += 1;
        }
        names
    };

    /// The name in JSON and in the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            Family::Dos => "dos",
            Family::Ddos => "ddos",
            Family::Scan => "scan",
            Family::BruteForce => "brute_force",
            Family::WebAttack => "web_attack",
            Family::C2 => "c2",
            Family::Exfiltration => "exfiltration",
            Family::Infiltration => "infiltration",
            Family::Exploit => "exploit",
            Family::Anomaly => "anomaly",
        }
    }

    /// The family of a name ([`Family::as_str`]).
    pub fn parse(s: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// How a sentence names it.
    pub fn label(self) -> &'static str {
        match self {
            Family::Dos => "denial of service",
            Family::Ddos => "distributed denial of service",
            Family::Scan => "scan",
            Family::BruteForce => "brute force",
            Family::WebAttack => "web attack",
            Family::C2 => "command and control",
            Family::Exfiltration => "exfiltration",
            Family::Infiltration => "infiltration",
            Family::Exploit => "exploit",
            Family::Anomaly => "anomaly",
        }
    }

    /// The family of a detector's kind: a model class, a rule or a baseline kind. Unknown
    /// model classes (a model trained elsewhere) read by their words; what says nothing is an
    /// anomaly.
    pub fn of_kind(kind: &str) -> Family {
        let k = kind.to_ascii_lowercase();
        let has = |w: &str| k.contains(w);
        if k.starts_with("web_") {
            Family::WebAttack
        } else if has("amplification") || has("reflection") || has("ddos") {
            Family::Ddos
        } else if has("flood") || has("slow") || has("dos") || has("goldeneye") || has("hulk") {
            Family::Dos
        } else if has("infiltration") && !has("scan") {
            Family::Infiltration
        } else if has("scan") {
            Family::Scan
        } else if has("brute") || has("patator") {
            Family::BruteForce
        } else if has("sql") || has("xss") || has("traversal") || has("web") || has("http") {
            Family::WebAttack
        } else if has("bot") || has("beacon") || has("c2") {
            Family::C2
        } else if has("exfil") || has("tunnel") {
            Family::Exfiltration
        } else if has("heartbleed") || has("exploit") {
            Family::Exploit
        } else if has("infiltration") {
            Family::Infiltration
        } else {
            Family::Anomaly
        }
    }

    /// Whether the victim names an episode of this family (floods come from many or spoofed
    /// sources); otherwise the attacker does.
    pub fn keyed_by_victim(self) -> bool {
        matches!(self, Family::Dos | Family::Ddos)
    }

    /// The MITRE ATT&CK (Enterprise) techniques the family's alerts are evidence of.
    pub fn mitre(self) -> &'static [&'static str] {
        match self {
            Family::Dos => &["T1498.001", "T1499"],
            Family::Ddos => &["T1498.002"],
            Family::Scan => &["T1046"],
            Family::BruteForce => &["T1110.001"],
            Family::WebAttack => &["T1190"],
            Family::C2 => &["T1071", "T1029"],
            Family::Exfiltration => &["T1048", "T1071.004"],
            Family::Infiltration => &["T1021", "T1570"],
            Family::Exploit => &["T1190", "T1203"],
            Family::Anomaly => &[],
        }
    }

    /// What an analyst does next.
    pub fn next_step(self) -> &'static str {
        match self {
            Family::Dos => "Check the victim's service health; rate-limit or block the sources upstream if it is degraded.",
            Family::Ddos => "Ask the upstream provider for scrubbing or blackholing; block the reflector ports at the edge.",
            Family::Scan => "Check whether the scanner is authorised; if not, block it and review what it found open.",
            Family::BruteForce => "Check the service's logs for a successful login from the attacker; lock or rotate the targeted accounts.",
            Family::WebAttack => "Check the web server's responses and logs for the listed requests; patch or filter the targeted application.",
            Family::C2 => "Isolate the internal host and inspect it for malware; block the remote endpoint.",
            Family::Exfiltration => "Identify the process and user sending the data; block the destination and preserve the host for forensics.",
            Family::Infiltration => "Treat the source as compromised: isolate it and review its recent logins and connections.",
            Family::Exploit => "Patch the targeted service and check the victim for signs of compromise.",
            Family::Anomaly => "Compare the host's traffic with its usual pattern; look for a new service, backup job or misconfiguration before escalating.",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_named_as_in_json() {
        for f in Family::ALL {
            assert_eq!(
                serde_json::to_value(f).unwrap(),
                serde_json::Value::String(f.as_str().into())
            );
            assert_eq!(Family::parse(f.as_str()), Some(f));
        }
    }

    #[test]
    fn the_bundled_models_classes_map_to_their_families() {
        let cases = [
            ("DDoS", Family::Ddos),
            ("DoS Hulk", Family::Dos),
            ("DoS GoldenEye", Family::Dos),
            ("DoS Slowloris", Family::Dos),
            ("DoS Slowhttptest", Family::Dos),
            ("Portscan", Family::Scan),
            ("Infiltration - Portscan", Family::Scan),
            ("Infiltration", Family::Infiltration),
            ("FTP-Patator", Family::BruteForce),
            ("SSH-Patator", Family::BruteForce),
            ("Web Attack - Brute Force", Family::BruteForce),
            ("Web Attack - XSS", Family::WebAttack),
            ("Web Attack - SQL Injection", Family::WebAttack),
            ("Botnet", Family::C2),
            ("Heartbleed", Family::Exploit),
        ];
        for (k, f) in cases {
            assert_eq!(Family::of_kind(k), f, "{k}");
        }
    }

    #[test]
    fn the_rules_and_baseline_kinds_map_to_their_families() {
        let cases = [
            ("port_scan_vertical", Family::Scan),
            ("port_scan_horizontal", Family::Scan),
            ("syn_flood", Family::Dos),
            ("udp_flood", Family::Dos),
            ("icmp_flood", Family::Dos),
            ("amplification_dns", Family::Ddos),
            ("amplification_synack", Family::Ddos),
            ("brute_force_ssh", Family::BruteForce),
            ("brute_force_http", Family::BruteForce),
            ("host_anomaly", Family::Anomaly),
            ("window_anomaly", Family::Anomaly),
            ("web_scanner", Family::WebAttack),
            ("web_sql_injection", Family::WebAttack),
            ("http_flood", Family::Dos),
            ("slow_http", Family::Dos),
            ("dns_tunnel", Family::Exfiltration),
            ("beaconing", Family::C2),
            ("exfiltration", Family::Exfiltration),
        ];
        for (k, f) in cases {
            assert_eq!(Family::of_kind(k), f, "{k}");
        }
    }
}

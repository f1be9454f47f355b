//! Incidents: the alert episodes that are one story for an analyst. Two episodes belong to the
//! same incident when they share an attacker or a victim address (an episode's `src` or `dst`,
//! across detectors and families) and their spans come within [`DEFAULT_GAP_S`] of each other;
//! an incident is the transitive closure of that, so the scan, the brute force and the flood
//! one host runs against another are one incident, and so are the attacks on one victim.
//!
//! This is the policy only: [`correlate`] places newly stored episodes among the incidents
//! already stored (merging incidents a new episode bridges), and [`digest`] says what an
//! incident is from its episodes (span, lead attacker and victim, severity, families, title).
//! The store applies both in the transaction that writes the episodes, so incidents hold
//! across runs, captures and writers.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use crate::family::Family;
use crate::summary::{capitalised, thousands};

/// Default gap (s): episodes on a shared address further apart than this are separate
/// incidents (an hour, as a shift reads an alert queue).
pub const DEFAULT_GAP_S: i64 = 3_600;

/// One stored episode, as incident grouping reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    /// The alert's id in the store.
    pub id: i64,
    /// First evidence, UTC µs.
    pub first_seen: i64,
    /// Last evidence, UTC µs (the alert's `time`).
    pub last_seen: i64,
    /// Attacker, when one address is.
    pub src: Option<IpAddr>,
    /// Victim, when one address is.
    pub dst: Option<IpAddr>,
    /// Family.
    pub family: Family,
    /// Severity, 1 (lowest) to 5.
    pub severity: u8,
    /// Flows the episode stands for.
    pub flows: u64,
}

impl Member {
    fn addresses(&self) -> impl Iterator<Item = IpAddr> {
        self.src
            .into_iter()
            .chain(self.dst.filter(|d| Some(*d) != self.src))
    }

    /// Whether the spans of `self` and `o` come within `gap_us` of each other.
    fn near_in_time(&self, o: &Member, gap_us: i64) -> bool {
        self.first_seen <= o.last_seen.saturating_add(gap_us)
            && o.first_seen <= self.last_seen.saturating_add(gap_us)
    }
}

/// Where a new episode goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Into this stored incident.
    Existing(i64),
    /// Into the `n`-th incident to create (0-based, in [`Plan::created`] order).
    New(usize),
}

/// What [`correlate`] decided for a batch of new episodes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Each new episode's incident, by alert id, in the order given.
    pub placements: Vec<(i64, Placement)>,
    /// Stored incidents that a new episode bridges: `(from, into)`, `from`'s episodes move to
    /// `into` (the oldest id) and `from` goes.
    pub merged: Vec<(i64, i64)>,
    /// How many incidents to create.
    pub created: usize,
}

impl Plan {
    /// Every stored incident whose episodes change (it takes new ones or merged ones in).
    pub fn touched(&self) -> Vec<i64> {
        let mut v: Vec<i64> = self
            .placements
            .iter()
            .filter_map(|(_, p)| match p {
                Placement::Existing(i) => Some(*i),
                Placement::New(_) => None,
            })
            .chain(self.merged.iter().map(|m| m.1))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// Union-find over nodes `0..n`.
struct Sets(Vec<usize>);

impl Sets {
    fn find(&mut self, mut i: usize) -> usize {
        while self.0[i] != i {
            self.0[i] = self.0[self.0[i]];
            i = self.0[i];
        }
        i
    }

    fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            self.0[a.max(b)] = a.min(b);
        }
    }
}

/// Places `new` episodes among the stored incidents, given as `(incident id, episode)` for
/// every stored episode that could link (same address, within the gap; more are harmless).
/// Episodes linked directly or through others form one incident; a group that reaches stored
/// incidents joins the oldest of them and merges the rest into it. The result does not depend
/// on the order episodes arrive in.
pub fn correlate(stored: &[(i64, Member)], new: &[Member], gap_us: i64) -> Plan {
    // Nodes: the new episodes, then one per stored incident.
    let mut incident_ids: Vec<i64> = stored.iter().map(|s| s.0).collect();
    incident_ids.sort_unstable();
    incident_ids.dedup();
    let node_of_incident: HashMap<i64, usize> = incident_ids
        .iter()
        .enumerate()
        .map(|(i, &id)| (id, new.len() + i))
        .collect();
    let mut sets = Sets((0..new.len() + incident_ids.len()).collect());
    // Who sits on an address: new episodes by index, stored ones with their incident's node.
    let mut by_addr: HashMap<IpAddr, Vec<(&Member, usize)>> = HashMap::new();
    for (inc, m) in stored {
        for a in m.addresses() {
            by_addr
                .entry(a)
                .or_default()
                .push((m, node_of_incident[inc]));
        }
    }
    for (i, m) in new.iter().enumerate() {
        for a in m.addresses() {
            let peers = by_addr.entry(a).or_default();
            for &(o, node) in peers.iter() {
                if m.near_in_time(o, gap_us) {
                    sets.union(i, node);
                }
            }
            peers.push((m, i));
        }
    }
    // Each group's stored incidents, oldest first; new groups numbered by first episode.
    let mut stored_of_root: BTreeMap<usize, Vec<i64>> = BTreeMap::new();
    for &id in &incident_ids {
        let root = sets.find(node_of_incident[&id]);
        stored_of_root.entry(root).or_default().push(id);
    }
    let mut plan = Plan::default();
    let mut created: HashMap<usize, usize> = HashMap::new();
    for (i, m) in new.iter().enumerate() {
        let root = sets.find(i);
        let placement = match stored_of_root.get(&root) {
            Some(ids) => Placement::Existing(ids[0]),
            None => {
                let next = created.len();
                Placement::New(*created.entry(root).or_insert(next))
            }
        };
        plan.placements.push((m.id, placement));
    }
    plan.created = created.len();
    for ids in stored_of_root.values() {
        let reached = plan
            .placements
            .iter()
            .any(|(_, p)| *p == Placement::Existing(ids[0]));
        if reached {
            plan.merged.extend(ids[1..].iter().map(|&id| (id, ids[0])));
        }
    }
    plan
}

/// What an incident is, from its episodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digest {
    /// First evidence of any episode, UTC µs.
    pub first_seen: i64,
    /// Last evidence of any episode, UTC µs.
    pub last_seen: i64,
    /// The lead attacker: the address that is an episode's attacker most often (the lead
    /// episode's on a tie).
    pub src: Option<IpAddr>,
    /// The lead victim, likewise.
    pub dst: Option<IpAddr>,
    /// The highest episode severity.
    pub severity: u8,
    /// Episodes.
    pub episodes: u64,
    /// Flows of all episodes.
    pub flows: u64,
    /// Families, the lead episode's first, then by severity and flows.
    pub families: Vec<Family>,
    /// One line: the lead family with its attacker and victim, the other families, how many
    /// episodes; e.g. `Denial of service against 192.168.50.4 by 172.16.0.5, with scan (2
    /// episodes)`.
    pub title: String,
}

/// The lead episode first: highest severity, then most flows, then earliest, then lowest id.
fn rank(a: &Member, b: &Member) -> std::cmp::Ordering {
    b.severity
        .cmp(&a.severity)
        .then(b.flows.cmp(&a.flows))
        .then(a.first_seen.cmp(&b.first_seen))
        .then(a.id.cmp(&b.id))
}

/// The address most episodes name on one side; the lead episode's wins a tie.
fn lead_address(ranked: &[&Member], side: fn(&Member) -> Option<IpAddr>) -> Option<IpAddr> {
    let mut counts: HashMap<IpAddr, usize> = HashMap::new();
    for m in ranked {
        if let Some(a) = side(m) {
            *counts.entry(a).or_default() += 1;
        }
    }
    let best = counts.values().copied().max()?;
    ranked
        .iter()
        .filter_map(|m| side(m))
        .find(|a| counts[a] == best)
}

/// The digest of an incident's episodes; `None` for none.
pub fn digest(members: &[Member]) -> Option<Digest> {
    let mut ranked: Vec<&Member> = members.iter().collect();
    ranked.sort_by(|a, b| rank(a, b));
    let lead = *ranked.first()?;
    let src = lead_address(&ranked, |m| m.src);
    let dst = lead_address(&ranked, |m| m.dst);
    let mut families: Vec<Family> = Vec::new();
    for m in &ranked {
        if !families.contains(&m.family) {
            families.push(m.family);
        }
    }
    let mut title = capitalised(lead.family.label());
    if let Some(d) = dst {
        title.push_str(&format!(" against {d}"));
    }
    if let Some(s) = src {
        title.push_str(&format!(" by {s}"));
    }
    if families.len() > 1 {
        let others: Vec<&str> = families[1..].iter().map(|f| f.label()).collect();
        let list = match others.as_slice() {
            [one] => one.to_string(),
            [init @ .., last] => format!("{} and {last}", init.join(", ")),
            [] => String::new(),
        };
        title.push_str(&format!(", with {list}"));
    }
    if members.len() > 1 {
        title.push_str(&format!(" ({} episodes)", thousands(members.len() as u64)));
    }
    Some(Digest {
        first_seen: members.iter().map(|m| m.first_seen).min()?,
        last_seen: members.iter().map(|m| m.last_seen).max()?,
        src,
        dst,
        severity: lead.severity,
        episodes: members.len() as u64,
        flows: members.iter().map(|m| m.flows).sum(),
        families,
        title,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000_000;
    const GAP: i64 = DEFAULT_GAP_S * 1_000_000;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn ep(id: i64, start_min: i64, end_min: i64, src: &str, dst: &str, family: Family) -> Member {
        Member {
            id,
            first_seen: start_min * MIN,
            last_seen: end_min * MIN,
            src: if src.is_empty() { None } else { ip(src) },
            dst: if dst.is_empty() { None } else { ip(dst) },
            family,
            severity: match family {
                Family::Dos | Family::Ddos => 4,
                Family::Scan => 2,
                _ => 3,
            },
            flows: 10,
        }
    }

    #[test]
    fn a_scan_then_a_brute_force_then_a_flood_by_one_host_is_one_incident() {
        let new = [
            ep(1, 0, 2, "172.16.0.5", "", Family::Scan),
            ep(2, 10, 20, "172.16.0.5", "192.168.50.4", Family::BruteForce),
            ep(3, 30, 31, "", "192.168.50.4", Family::Dos),
        ];
        let plan = correlate(&[], &new, GAP);
        assert_eq!(plan.created, 1);
        assert!(plan.placements.iter().all(|p| p.1 == Placement::New(0)));
        let d = digest(&new).unwrap();
        assert_eq!(
            d.title,
            "Denial of service against 192.168.50.4 by 172.16.0.5, with brute force and scan (3 episodes)"
        );
        assert_eq!((d.first_seen, d.last_seen), (0, 31 * MIN));
        assert_eq!((d.severity, d.episodes, d.flows), (4, 3, 30));
        assert_eq!(d.families, [Family::Dos, Family::BruteForce, Family::Scan]);
    }

    #[test]
    fn episodes_on_different_hosts_or_over_an_hour_apart_are_separate_incidents() {
        let new = [
            ep(1, 0, 5, "10.0.0.1", "10.0.0.2", Family::Scan),
            ep(2, 0, 5, "10.0.0.3", "10.0.0.4", Family::Scan),
            // Same attacker, but 61 min after the first ended.
            ep(3, 66, 70, "10.0.0.1", "", Family::Scan),
        ];
        let plan = correlate(&[], &new, GAP);
        assert_eq!(plan.created, 3);
        assert_eq!(
            plan.placements,
            [
                (1, Placement::New(0)),
                (2, Placement::New(1)),
                (3, Placement::New(2))
            ]
        );
    }

    #[test]
    fn an_episode_joins_the_stored_incident_of_its_victim_and_bridges_two_into_the_oldest() {
        let stored = [
            (7, ep(70, 0, 10, "10.0.0.1", "10.0.0.9", Family::Scan)),
            (9, ep(90, 0, 10, "10.0.0.2", "10.0.0.8", Family::BruteForce)),
            (11, ep(110, 0, 10, "10.0.0.3", "10.0.0.7", Family::C2)),
        ];
        // Attacker of incident 9, victim of incident 7.
        let new = [ep(1, 20, 25, "10.0.0.2", "10.0.0.9", Family::WebAttack)];
        let plan = correlate(&stored, &new, GAP);
        assert_eq!(plan.placements, [(1, Placement::Existing(7))]);
        assert_eq!(plan.merged, [(9, 7)]);
        assert_eq!(plan.created, 0);
        assert_eq!(plan.touched(), [7]);
    }

    #[test]
    fn the_grouping_does_not_depend_on_the_order_episodes_arrive_in() {
        let a = ep(1, 0, 1, "10.0.0.1", "10.0.0.2", Family::Scan);
        let b = ep(2, 100, 101, "10.0.0.3", "10.0.0.4", Family::Scan);
        // Bridges a and b: shares 10.0.0.2 with a and 10.0.0.3 with b, and spans both.
        let bridge = ep(3, 30, 90, "10.0.0.3", "10.0.0.2", Family::BruteForce);
        for order in [[&a, &b, &bridge], [&bridge, &a, &b], [&b, &bridge, &a]] {
            let new: Vec<Member> = order.iter().map(|m| (*m).clone()).collect();
            assert_eq!(correlate(&[], &new, GAP).created, 1);
        }
        // Stored one by one, each batch sees the stored ones: the same single incident.
        let p1 = correlate(&[], std::slice::from_ref(&a), GAP);
        assert_eq!(p1.created, 1);
        let p2 = correlate(&[(1, a.clone())], std::slice::from_ref(&b), GAP);
        assert_eq!(p2.created, 1);
        let p3 = correlate(&[(1, a.clone()), (2, b.clone())], &[bridge], GAP);
        assert_eq!(p3.placements, [(3, Placement::Existing(1))]);
        assert_eq!(p3.merged, [(2, 1)]);
    }

    #[test]
    fn the_title_names_the_lead_episode_and_ties_go_to_the_lead() {
        let one = [ep(4, 0, 1, "10.0.0.1", "", Family::Scan)];
        assert_eq!(digest(&one).unwrap().title, "Scan by 10.0.0.1");
        let two = [
            ep(5, 0, 1, "", "10.0.0.9", Family::Ddos),
            ep(6, 0, 1, "", "10.0.0.9", Family::Ddos),
        ];
        assert_eq!(
            digest(&two).unwrap().title,
            "Distributed denial of service against 10.0.0.9 (2 episodes)"
        );
        assert_eq!(digest(&[]), None);
    }
}

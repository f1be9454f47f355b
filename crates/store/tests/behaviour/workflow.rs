//! The analyst's workflow: episodes acknowledged, escalated and resolved with a verdict;
//! incidents made from episodes, merged and changed; comments; suppressions whose preview is
//! exactly what they then hide. Every change is in the audit log with its before and after.

use store::*;

use super::incidents::episode;
use super::Backend;

/// Three episodes by three unrelated hosts: three incidents.
fn seeded(s: &mut dyn Store) -> Vec<i64> {
    s.insert_alerts(
        None,
        &[
            episode("port_scan_vertical", 0, 2, "10.0.0.1", "10.0.9.1", 2),
            episode("syn_flood", 100, 110, "10.0.1.1", "10.0.9.2", 4),
            episode("brute_force_ssh", 300, 320, "10.0.2.1", "10.0.9.3", 3),
        ],
    )
    .unwrap()
}

fn last_audit(s: &mut dyn Store) -> AuditEntry {
    s.audit_log(&AuditFilter::default(), 1).unwrap().remove(0)
}

fn visible(s: &mut dyn Store, now: i64) -> Vec<i64> {
    s.alerts(
        &AlertFilter {
            unsuppressed_at: Some(now),
            ..AlertFilter::default()
        },
        1000,
    )
    .unwrap()
    .iter()
    .map(|a| a.id)
    .collect()
}

pub fn episodes_are_worked_with_verdicts_and_every_step_is_audited(b: Backend) {
    let mut s = b.open();
    let ids = seeded(s.as_mut());
    let a = s
        .act_on_episode("ann", ids[0], EpisodeAction::Acknowledge, Some("looking"))
        .unwrap();
    assert_eq!(
        (a.status.as_str(), a.verdict.as_deref()),
        ("acknowledged", None)
    );
    let e = last_audit(s.as_mut());
    assert_eq!(
        (e.action.as_str(), e.target.as_str()),
        ("comment.add", "episode:1")
    );
    let log = s
        .audit_log(
            &AuditFilter {
                action: Some("episode.acknowledge".into()),
                ..AuditFilter::default()
            },
            10,
        )
        .unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].before.as_ref().unwrap()["status"], "new");
    assert_eq!(log[0].after.as_ref().unwrap()["status"], "acknowledged");

    let r = s
        .act_on_episode(
            "ann",
            ids[0],
            EpisodeAction::Resolve(Verdict::FalsePositive),
            None,
        )
        .unwrap();
    assert_eq!(
        (r.status.as_str(), r.verdict.as_deref()),
        ("resolved", Some("false_positive"))
    );
    let e = last_audit(s.as_mut());
    assert_eq!(e.action, "episode.resolve");
    assert_eq!(e.after.as_ref().unwrap()["verdict"], "false_positive");
    assert!(e.before.as_ref().unwrap().get("verdict").is_none());
    // It reads back resolved, with its verdict in its JSON.
    let back = s.alert(ids[0]).unwrap().unwrap();
    assert_eq!(back, r);
    assert_eq!(
        serde_json::to_value(&back).unwrap()["verdict"],
        "false_positive"
    );
    let reopened = s
        .act_on_episode("ann", ids[0], EpisodeAction::Reopen, None)
        .unwrap();
    assert_eq!((reopened.status.as_str(), reopened.verdict), ("new", None));

    // Escalating puts its incident under investigation (audited too).
    let flood = s.alert(ids[1]).unwrap().unwrap();
    s.act_on_episode("bob", ids[1], EpisodeAction::Escalate, None)
        .unwrap();
    let inc = s.incident(flood.incident.unwrap()).unwrap().unwrap();
    assert_eq!(inc.status, "INVESTIGATING");
    let status = s
        .audit_log(
            &AuditFilter {
                action: Some("incident.status".into()),
                ..AuditFilter::default()
            },
            10,
        )
        .unwrap();
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].before.as_ref().unwrap()["status"], "OPEN");

    // Comments, oldest first; on things that exist only.
    s.add_comment("bob", &format!("incident:{}", inc.id), "paged the owner")
        .unwrap();
    let cs = s.comments(&format!("incident:{}", inc.id)).unwrap();
    assert_eq!(cs.len(), 1);
    assert_eq!(
        (cs[0].author.as_str(), cs[0].body.as_str()),
        ("bob", "paged the owner")
    );
    assert!(matches!(
        s.add_comment("bob", "incident:999", "x"),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.add_comment("bob", "episode:1", "  "),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        s.act_on_episode("bob", 999, EpisodeAction::Acknowledge, None),
        Err(StoreError::NotFound(_))
    ));
}

pub fn incidents_are_made_merged_and_changed(b: Backend) {
    let mut s = b.open();
    let ids = seeded(s.as_mut());
    let before: Vec<i64> = ids
        .iter()
        .map(|&i| s.alert(i).unwrap().unwrap().incident.unwrap())
        .collect();
    assert_eq!(
        s.incidents(&IncidentFilter::default(), 100).unwrap().len(),
        3
    );

    // Two episodes into a new incident: their old incidents, left empty, go.
    let made = s.create_incident("ann", &ids[..2]).unwrap();
    assert_eq!(made.episodes, 2);
    let mut families = made.families.clone();
    families.sort();
    assert_eq!(families, ["dos", "scan"]);
    for old in &before[..2] {
        assert_eq!(s.incident(*old).unwrap(), None);
    }
    let e = last_audit(s.as_mut());
    assert_eq!(
        (
            e.action.as_str(),
            e.after.as_ref().unwrap()["episodes"].as_i64()
        ),
        ("incident.create", Some(2))
    );

    // Merge the third in.
    let merged = s.merge_incidents("ann", made.id, &[before[2]]).unwrap();
    assert_eq!(merged.episodes, 3);
    assert_eq!(s.incident(before[2]).unwrap(), None);
    assert_eq!(
        s.incidents(&IncidentFilter::default(), 100).unwrap().len(),
        1
    );
    assert!(matches!(
        s.merge_incidents("ann", made.id, &[made.id]),
        Err(StoreError::Invalid(_))
    ));

    // Assign, prioritise, resolve.
    let changed = s
        .change_incident(
            "ann",
            made.id,
            &IncidentChange {
                status: Some("RESOLVED".into()),
                assignee: Some(Some("bob".into())),
                priority: Some(1),
            },
        )
        .unwrap();
    assert_eq!(
        (
            changed.status.as_str(),
            changed.assignee.as_deref(),
            changed.priority
        ),
        ("RESOLVED", Some("bob"), 1)
    );
    let e = last_audit(s.as_mut());
    assert_eq!(e.action, "incident.change");
    assert_eq!(e.before.as_ref().unwrap()["status"], "OPEN");
    assert_eq!(e.after.as_ref().unwrap()["status"], "RESOLVED");
    assert!(matches!(
        s.change_incident(
            "ann",
            made.id,
            &IncidentChange {
                status: Some("DONE".into()),
                ..IncidentChange::default()
            }
        ),
        Err(StoreError::Invalid(_))
    ));
}

pub fn a_suppression_hides_exactly_what_its_preview_counted(b: Backend) {
    let mut s = b.open();
    let ids = seeded(s.as_mut());
    let now = 2_000_000_000_000_000;
    assert_eq!(visible(s.as_mut(), now).len(), 3);
    // Everything from 10.0.0.0/23 (the scan and the flood): 2.
    let net = SuppressionMatch {
        ip: Some(IpFilter::parse("10.0.0.0/23").unwrap()),
        ..SuppressionMatch::default()
    };
    assert_eq!(s.suppression_preview(&net, now).unwrap(), 2);
    let sup = s
        .add_suppression("ann", &net, "our scanner and load test", Some(now + 1))
        .unwrap();
    assert!(sup.active(now));
    assert_eq!(visible(s.as_mut(), now), vec![ids[2]]);
    // Every episode is still stored and listed without the filter.
    assert_eq!(s.alerts(&AlertFilter::default(), 100).unwrap().len(), 3);
    // A second one overlapping the first counts only what it adds.
    let floods = SuppressionMatch {
        kind: Some("syn_flood".into()),
        ..SuppressionMatch::default()
    };
    assert_eq!(s.suppression_preview(&floods, now).unwrap(), 0);
    let ssh = SuppressionMatch {
        kind: Some("brute_force_ssh".into()),
        detector: Some("rule".into()),
        ..SuppressionMatch::default()
    };
    assert_eq!(s.suppression_preview(&ssh, now).unwrap(), 1);
    // Expired, it hides nothing; removed, the same.
    assert_eq!(visible(s.as_mut(), now + 1).len(), 3);
    let removed = s.remove_suppression("ann", sup.id).unwrap();
    assert!(removed.removed_at.is_some() && !removed.active(now));
    assert_eq!(visible(s.as_mut(), now).len(), 3);
    assert!(matches!(
        s.remove_suppression("ann", sup.id),
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.add_suppression("ann", &SuppressionMatch::default(), "all", None),
        Err(StoreError::Invalid(_))
    ));
    let listed = s.suppressions().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].matches, net);
    let log = s
        .audit_log(
            &AuditFilter {
                target: Some(format!("suppression:{}", sup.id)),
                ..AuditFilter::default()
            },
            10,
        )
        .unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["suppression.remove", "suppression.add"]);
}

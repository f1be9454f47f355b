//! What users keep and share beyond the alerts themselves: saved searches (readable by their
//! owner, or by everyone once shared; changed only by the owner or an admin) and notification
//! channels (starting after what is stored, progress never going back). Every change is in
//! the audit log with its before and after.

use store::*;

use super::incidents::episode;
use super::Backend;

fn principal(name: &str, role: Role) -> Principal {
    Principal {
        id: 0,
        name: name.into(),
        role,
    }
}

pub fn saved_searches_are_private_until_shared_and_changed_only_by_their_owner(b: Backend) {
    let mut s = b.open();
    let q = s
        .save_query(
            "ann",
            "scanners",
            "episodes",
            "kind:port_scan* AND severity:>=3",
            false,
        )
        .unwrap();
    assert_eq!(
        (
            q.owner.as_str(),
            q.name.as_str(),
            q.target.as_str(),
            q.shared
        ),
        ("ann", "scanners", "episodes", false)
    );
    // Refused: the same name again, a query that does not parse, an unknown target.
    assert!(matches!(
        s.save_query("ann", "scanners", "flows", "dst_port:22", false),
        Err(StoreError::Conflict(_))
    ));
    match s.save_query("ann", "bad", "flows", "dst_port:(22", false) {
        Err(StoreError::Invalid(m)) => assert!(m.contains("at "), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        s.save_query("ann", "x", "packets", "dst_port:22", false),
        Err(StoreError::Invalid(_))
    ));
    // Bob sees nothing of Ann's until she shares it.
    assert!(s.saved_queries("bob").unwrap().is_empty());
    assert!(matches!(
        s.saved_query("bob", q.id),
        Err(StoreError::NotFound(_))
    ));
    let ann = principal("ann", Role::Analyst);
    let shared = s
        .change_query(
            &ann,
            q.id,
            &QueryChange {
                shared: Some(true),
                ..QueryChange::default()
            },
        )
        .unwrap();
    assert!(shared.shared);
    assert_eq!(s.saved_query("bob", q.id).unwrap(), shared);
    assert_eq!(s.saved_queries("bob").unwrap(), vec![shared.clone()]);
    // Bob may read it but not change or remove it; an admin may.
    let bob = principal("bob", Role::Analyst);
    assert!(matches!(
        s.remove_query(&bob, q.id),
        Err(StoreError::Forbidden(_))
    ));
    let root = principal("root", Role::Admin);
    let renamed = s
        .change_query(
            &root,
            q.id,
            &QueryChange {
                name: Some("scans".into()),
                ..QueryChange::default()
            },
        )
        .unwrap();
    assert_eq!(
        (renamed.name.as_str(), renamed.owner.as_str()),
        ("scans", "ann")
    );
    let log = s.audit_log(&AuditFilter::default(), 1).unwrap().remove(0);
    assert_eq!(
        (log.actor.as_str(), log.action.as_str(), log.target),
        ("root", "query.change", format!("query:{}", q.id))
    );
    assert_eq!(log.before.unwrap()["name"], "scanners");
    assert_eq!(log.after.unwrap()["name"], "scans");
    s.remove_query(&ann, q.id).unwrap();
    assert!(s.saved_queries("ann").unwrap().is_empty());
    assert_eq!(
        s.audit_log(&AuditFilter::default(), 1).unwrap()[0].action,
        "query.remove"
    );
}

pub fn a_channel_starts_after_what_is_stored_and_its_progress_never_goes_back(b: Backend) {
    let mut s = b.open();
    let old = s
        .insert_alerts(
            None,
            &[episode("syn_flood", 0, 5, "10.0.1.1", "10.0.9.2", 4)],
        )
        .unwrap();
    let c = s
        .add_channel(
            "root",
            &NewChannel {
                name: "soc".into(),
                kind: "webhook".into(),
                address: "http://127.0.0.1:9/hook".into(),
                min_severity: 3,
                episodes: true,
                incidents: true,
            },
        )
        .unwrap();
    // It starts after the episode and incident already stored: no history is replayed.
    assert_eq!(c.after_alert, old[0]);
    assert_eq!(
        c.after_incident,
        s.incidents(&IncidentFilter::default(), 10).unwrap()[0].id
    );
    assert_eq!(s.backlog(c.after_alert, 3, 0).unwrap(), 0);
    let new = s
        .insert_alerts(
            None,
            &[
                episode("port_scan_vertical", 100, 102, "10.0.0.1", "10.0.9.1", 2),
                episode("brute_force_ssh", 300, 320, "10.0.2.1", "10.0.9.3", 3),
            ],
        )
        .unwrap();
    // Only the severity-3 episode waits for it.
    assert_eq!(s.backlog(c.after_alert, 3, 0).unwrap(), 1);
    s.note_progress(
        c.id,
        &Progress {
            after_alert: new[1],
            after_incident: c.after_incident,
            delivered: 1,
            failed: 0,
            error: None,
        },
    )
    .unwrap();
    s.note_progress(
        c.id,
        &Progress {
            after_alert: new[0],
            after_incident: 0,
            delivered: 0,
            failed: 1,
            error: Some("connection refused".into()),
        },
    )
    .unwrap();
    let now = s.channel(c.id).unwrap();
    assert_eq!(
        (
            now.after_alert,
            now.after_incident,
            now.delivered,
            now.failed
        ),
        (new[1], c.after_incident, 1, 1)
    );
    assert_eq!(now.last_error.as_deref(), Some("connection refused"));
    assert!(now.last_delivered_at.is_some() && now.last_error_at.is_some());
    assert_eq!(s.backlog(now.after_alert, 3, 0).unwrap(), 0);

    // Refused: a taken name, an address of another scheme, a severity out of range.
    let mut bad = NewChannel {
        name: "soc".into(),
        kind: "syslog".into(),
        address: "udp://127.0.0.1:514".into(),
        min_severity: 3,
        episodes: true,
        incidents: false,
    };
    assert!(matches!(
        s.add_channel("root", &bad),
        Err(StoreError::Conflict(_))
    ));
    bad.name = "log".into();
    bad.address = "http://127.0.0.1:514".into();
    assert!(matches!(
        s.add_channel("root", &bad),
        Err(StoreError::Invalid(_))
    ));
    bad.address = "tcp://127.0.0.1:514".into();
    bad.min_severity = 6;
    assert!(matches!(
        s.add_channel("root", &bad),
        Err(StoreError::Invalid(_))
    ));

    let paused = s
        .change_channel(
            "root",
            c.id,
            &ChannelChange {
                enabled: Some(false),
                ..ChannelChange::default()
            },
        )
        .unwrap();
    assert!(!paused.enabled);
    let e = s.audit_log(&AuditFilter::default(), 1).unwrap().remove(0);
    assert_eq!(
        (e.action.as_str(), e.target),
        ("channel.change", format!("channel:{}", c.id))
    );
    assert_eq!(e.before.unwrap()["enabled"], true);
    assert_eq!(e.after.unwrap()["enabled"], false);
    s.remove_channel("root", c.id).unwrap();
    assert!(s.channels().unwrap().is_empty());
    // Progress of a removed channel goes nowhere.
    s.note_progress(c.id, &Progress::default()).unwrap();
}

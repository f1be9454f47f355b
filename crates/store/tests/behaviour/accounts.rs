//! The API server's accounts: users with roles, tokens and sessions that authenticate until
//! revoked or expired, and the audit log every change goes to, with its before and after.

use store::*;

use super::Backend;

/// A user as listed.
fn user_named(s: &mut dyn Store, name: &str) -> Option<User> {
    s.users().unwrap().into_iter().find(|u| u.name == name)
}

pub fn users_tokens_and_sessions_authenticate_and_every_change_is_audited(b: Backend) {
    let mut s = b.open();
    assert_eq!(s.user_count().unwrap(), 0);
    let ann = s
        .add_user("root", "ann", Role::Analyst, Some("h1"))
        .unwrap();
    assert!(matches!(
        s.add_user("root", "ann", Role::Viewer, None),
        Err(StoreError::Conflict(_))
    ));
    s.add_user("root", "vic", Role::Viewer, None).unwrap();
    assert_eq!(
        s.users()
            .unwrap()
            .iter()
            .map(|u| u.name.as_str())
            .collect::<Vec<_>>(),
        ["ann", "vic"]
    );
    let who = Principal {
        id: ann.id,
        name: "ann".into(),
        role: Role::Analyst,
    };
    assert_eq!(
        s.user_login("ann").unwrap(),
        Some((who.clone(), Some("h1".to_string())))
    );
    assert_eq!(s.user_login("nobody").unwrap(), None);

    // Tokens: found by hash until they expire or are revoked; their use is noted.
    let now = 1_700_000_000_000_000;
    let t = s
        .add_token("root", "ann", "ci", "hash-a", "nvt_abcdef", None)
        .unwrap();
    s.add_token("root", "ann", "old", "hash-b", "nvt_zzzzzz", Some(now))
        .unwrap();
    assert_eq!(s.token_principal("hash-a", now).unwrap(), Some(who.clone()));
    assert_eq!(s.token_principal("hash-b", now).unwrap(), None, "expired");
    assert_eq!(
        s.token_principal("hash-b", now - 1).unwrap(),
        Some(who.clone())
    );
    assert_eq!(s.token_principal("nope", now).unwrap(), None);
    let listed = s.tokens(Some("ann")).unwrap();
    assert_eq!(listed.len(), 2);
    let used = listed.iter().find(|k| k.id == t.id).unwrap();
    assert_eq!(
        (used.last_used, used.prefix.as_str()),
        (Some(now), "nvt_abcdef")
    );
    s.revoke_token("root", t.id).unwrap();
    assert_eq!(s.token_principal("hash-a", now).unwrap(), None);
    assert!(matches!(
        s.revoke_token("root", t.id),
        Err(StoreError::NotFound(_))
    ));

    // Sessions: until they expire; a new role or password ends them.
    s.add_session(ann.id, "sess-1", "csrf-1", now + 10).unwrap();
    assert_eq!(
        s.session_principal("sess-1", now).unwrap(),
        Some((who.clone(), "csrf-1".to_string()))
    );
    assert_eq!(s.session_principal("sess-1", now + 10).unwrap(), None);
    let viewer = s.set_role("root", "ann", Role::Viewer).unwrap();
    assert_eq!(viewer.role, Role::Viewer);
    assert_eq!(s.session_principal("sess-1", now).unwrap(), None);
    s.add_session(ann.id, "sess-2", "csrf-2", now + 10).unwrap();
    s.set_password("root", "ann", None).unwrap();
    assert_eq!(s.session_principal("sess-2", now).unwrap(), None);
    assert!(!user_named(s.as_mut(), "ann").unwrap().has_password);
    s.add_session(ann.id, "sess-3", "csrf-3", now + 10).unwrap();
    s.end_session("sess-3", now).unwrap();
    assert_eq!(s.session_principal("sess-3", now).unwrap(), None);

    // Removing a user removes their tokens.
    s.add_token("root", "vic", "v", "hash-v", "nvt_vvvvvv", None)
        .unwrap();
    s.remove_user("root", "vic").unwrap();
    assert_eq!(s.token_principal("hash-v", now).unwrap(), None);
    assert!(user_named(s.as_mut(), "vic").is_none());
    assert!(matches!(
        s.remove_user("root", "vic"),
        Err(StoreError::NotFound(_))
    ));

    // Every change, newest first, with before and after; never a hash.
    let log = s.audit_log(&AuditFilter::default(), 100).unwrap();
    let actions: Vec<(&str, &str)> = log
        .iter()
        .map(|e| (e.action.as_str(), e.target.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("user.remove", "user:vic"),
            ("token.add", "token:3"),
            ("user.password", "user:ann"),
            ("user.role", "user:ann"),
            ("token.revoke", "token:1"),
            ("token.add", "token:2"),
            ("token.add", "token:1"),
            ("user.add", "user:vic"),
            ("user.add", "user:ann"),
        ]
    );
    assert!(log.iter().all(|e| e.actor == "root"));
    let role = &log[3];
    assert_eq!(role.before.as_ref().unwrap()["role"], "analyst");
    assert_eq!(role.after.as_ref().unwrap()["role"], "viewer");
    assert_eq!(log[0].after, None);
    assert!(log
        .iter()
        .all(|e| !format!("{:?}", (&e.before, &e.after)).contains("hash")));
    // Filters and keyset pages.
    let ann_only = s
        .audit_log(
            &AuditFilter {
                target: Some("user:ann".into()),
                ..AuditFilter::default()
            },
            100,
        )
        .unwrap();
    assert_eq!(ann_only.len(), 3);
    let page2 = s
        .audit_log(
            &AuditFilter {
                before_id: Some(log[1].id),
                ..AuditFilter::default()
            },
            2,
        )
        .unwrap();
    assert_eq!(page2, log[2..4]);
}

pub fn the_audit_log_is_append_only(b: Backend) {
    let mut s = b.open();
    s.add_user("root", "ann", Role::Admin, None).unwrap();
    for sql in ["UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"] {
        let refused = match &b {
            Backend::Sqlite(p) => rusqlite::Connection::open(p)
                .unwrap()
                .execute(sql, [])
                .is_err(),
            Backend::Postgres { schema } => super::admin()
                .batch_execute(&format!("SET search_path TO {schema}; {sql}"))
                .is_err(),
        };
        assert!(refused, "{sql} was allowed");
    }
    assert_eq!(s.audit_log(&AuditFilter::default(), 10).unwrap().len(), 1);
}

/// A token check reads while another process holds the database for writing (an ingest's
/// batch): it does not queue behind it (SQLite: a deferred read under WAL), and still notes
/// the token's use once a minute when nobody writes.
pub fn a_token_check_does_not_wait_for_a_writer_holding_the_database(b: Backend) {
    let mut s = b.open();
    s.add_user("root", "ann", Role::Analyst, None).unwrap();
    s.add_token("root", "ann", "scripts", "hash-1", "nvt_abcd", None)
        .unwrap();
    let t0 = 1_800_000_000_000_000;
    assert!(s.token_principal("hash-1", t0).unwrap().is_some());
    let used = |s: &mut Box<dyn Store>| s.tokens(Some("ann")).unwrap()[0].last_used;
    assert_eq!(used(&mut s), Some(t0));
    // Another connection holds the write lock (SQLite) or the token's row (PostgreSQL).
    let holder: Box<dyn std::any::Any> = match &b {
        Backend::Sqlite(p) => {
            let c = rusqlite::Connection::open(p).unwrap();
            c.execute_batch("BEGIN IMMEDIATE; UPDATE api_tokens SET name = name;")
                .unwrap();
            Box::new(c)
        }
        Backend::Postgres { schema } => {
            let mut c = super::admin();
            c.batch_execute(&format!(
                "SET search_path TO {schema}; BEGIN; UPDATE api_tokens SET name = name;"
            ))
            .unwrap();
            Box::new(c)
        }
    };
    let started = std::time::Instant::now();
    let who = s.token_principal("hash-1", t0 + 1_000_000).unwrap();
    assert_eq!(who.map(|p| p.name), Some("ann".to_string()));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "the check waited {:?} for the writer",
        started.elapsed()
    );
    drop(holder);
    // A minute on, the check notes the use again.
    s.token_principal("hash-1", t0 + 61_000_000).unwrap();
    assert_eq!(used(&mut s), Some(t0 + 61_000_000));
}

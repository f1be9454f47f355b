//! The API's OpenAPI document (`/api/openapi.json`): which calls it documents, that a flow's
//! schema is the flow table's, and schemathesis (PyPI, installed by `scripts/setup.sh`) run
//! against it on a server seeded with attack scenarios, on SQLite and on PostgreSQL, bounded
//! in time: no 5xx, and every answer's status, media type, headers and body as documented.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::server::*;
use common::*;
use serde_json::Value;

/// Every call the API has, as `METHOD path`.
const CALLS: [&str; 61] = [
    "DELETE /api/notifications/{id}",
    "DELETE /api/queries/{id}",
    "DELETE /api/session",
    "DELETE /api/suppressions/{id}",
    "DELETE /api/tokens/{id}",
    "DELETE /api/users/{name}",
    "GET /api/audit",
    "GET /api/captures",
    "GET /api/captures/{id}",
    "GET /api/devices",
    "GET /api/devices/changes",
    "GET /api/episodes",
    "GET /api/episodes/export",
    "GET /api/episodes/{id}",
    "GET /api/episodes/{id}/comments",
    "GET /api/episodes/{id}/pcap",
    "GET /api/events",
    "GET /api/flows",
    "GET /api/flows/export",
    "GET /api/flows/{id}",
    "GET /api/health",
    "GET /api/incidents",
    "GET /api/incidents/{id}",
    "GET /api/incidents/{id}/comments",
    "GET /api/notifications",
    "GET /api/notifications/{id}",
    "GET /api/openapi.json",
    "GET /api/queries",
    "GET /api/queries/{id}",
    "GET /api/session",
    "GET /api/stats/alert-rate",
    "GET /api/stats/attackers",
    "GET /api/stats/health",
    "GET /api/stats/heatmap",
    "GET /api/stats/ports",
    "GET /api/stats/protocols",
    "GET /api/stats/talkers",
    "GET /api/suppressions",
    "GET /api/tokens",
    "GET /api/users",
    "GET /api/windows",
    "GET /metrics",
    "PATCH /api/incidents/{id}",
    "PATCH /api/notifications/{id}",
    "PATCH /api/queries/{id}",
    "PATCH /api/users/{name}",
    "POST /api/captures",
    "POST /api/episodes/{id}/comments",
    "POST /api/episodes/{id}/status",
    "POST /api/incidents",
    "POST /api/incidents/{id}/comments",
    "POST /api/incidents/{id}/merge",
    "POST /api/notifications",
    "POST /api/notifications/{id}/test",
    "POST /api/queries",
    "POST /api/query/validate",
    "POST /api/session",
    "POST /api/suppressions",
    "POST /api/suppressions/preview",
    "POST /api/tokens",
    "POST /api/users",
];

/// Rates high enough that the fuzzer's calls are answered rather than limited.
const UNLIMITED: &str = "[rate]\nlogin = 1000000\napi = 1000000\nexport = 1000000\n\
                         search = 1000000\nupload = 1000000\n";

/// The calls a fuzzer may not make here: the live stream never ends; a channel sends to the
/// address it is given (tests send only to their own listeners); and these end the fuzzer's
/// own credentials, so they run last, on their own ([`CREDENTIALS`]).
const NOT_FUZZED: [&str; 3] = ["events", "add_channel", "test_channel"];

/// The calls that may revoke or demote the fuzzer's token.
const CREDENTIALS: [&str; 4] = ["revoke_token", "remove_user", "change_user", "logout"];

fn document(s: &Server) -> Value {
    let a = s.get("/api/openapi.json", &[]);
    assert_eq!(a.status, 200, "{}", a.body);
    a.body
}

fn calls(doc: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            out.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    out
}

#[test]
fn the_document_covers_every_call_and_a_flow_is_the_flow_tables_columns() {
    let d = temp("openapi-doc");
    let db = d.join("nv.db");
    let db = db.to_str().unwrap();
    seed(db, &d);
    let (s, _) = Server::start(db, "", &d);
    let doc = document(&s);
    assert_eq!(doc["openapi"], "3.1.0");
    let expected: BTreeSet<String> = CALLS.iter().map(|c| c.to_string()).collect();
    assert_eq!(calls(&doc), expected);

    // Every call but the two open ones names its credentials and answers 401 without them.
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(ids.insert(op["operationId"].as_str().unwrap().to_string()));
            let open = ["/api/health", "/api/openapi.json"].contains(&path.as_str());
            let login = path == "/api/session" && method == "post";
            assert_eq!(op["security"].is_array(), !open, "{method} {path}");
            assert_eq!(
                op["responses"]["401"].is_object(),
                !open || login,
                "{method} {path}"
            );
        }
    }

    // A listed flow has the listing's columns, in the flow table's names, and nothing else.
    let schemas = &doc["components"]["schemas"];
    let names = |schema: &Value| -> BTreeSet<String> {
        schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    let flows = s.get("/api/flows?limit=3", &[("authorization", &admin_token(db))]);
    let listed: BTreeSet<String> = flows.body["items"][0]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(names(&schemas["ListedFlow"]), listed);
    let mut detail: BTreeSet<String> = flow::columns::all().map(|c| c.name().to_string()).collect();
    detail.extend(
        [
            "id",
            "capture",
            "episodes",
            "Label",
            "Attack Probability",
            "Confidence",
        ]
        .map(String::from),
    );
    assert_eq!(names(&schemas["FlowDetail"]), detail);
    assert!(names(&schemas["FlowDetail"]).contains("Flow IAT Mean"));
}

/// A new API token of the first admin's, as a bearer header.
fn admin_token(db: &str) -> String {
    bearer(&user(db, &["token", "admin", "--label", "openapi"], ""))
}

/// Runs schemathesis against `s` for `seconds`, with `args`; its report, after it passed.
fn schemathesis(s: &Server, auth: &str, seconds: u32, args: &[&str], log: &Path) -> String {
    let out = Command::new("schemathesis")
        .args(["run", &format!("{}/api/openapi.json", s.base)])
        .args(["-H", &format!("Authorization: {auth}")])
        .args(["--max-time", &seconds.to_string()])
        // Every check but one: a valid-looking request may still be refused when the rule
        // it breaks is not one a schema can say (`from` before `to`, a suppression needs a
        // condition, a search must parse).
        .args([
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
        ])
        .args(["--workers", "1", "--seed", "1", "--no-color"])
        .args(args)
        .output()
        .expect("schemathesis runs (scripts/setup.sh installs it)");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(log, &report).unwrap();
    assert!(out.status.success(), "schemathesis failed:\n{report}");
    report
}

/// How many cases a report says it generated (`12345 generated, …`).
fn generated(report: &str) -> u64 {
    report
        .lines()
        .find_map(|l| l.trim().split_once(" generated,"))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or(0)
}

fn fuzz(db: &str, dir: &Path) {
    seed(db, dir);
    let config = format!(
        "upload_dir = {:?}\n{UNLIMITED}",
        dir.join("uploads").display().to_string()
    );
    let (s, _) = Server::start(db, &config, dir);
    let auth = admin_token(db);
    let mut main: Vec<&str> = Vec::new();
    for id in NOT_FUZZED.iter().chain(&CREDENTIALS) {
        main.extend(["--exclude-operation-id", id]);
    }
    let report = schemathesis(&s, &auth, 60, &main, &dir.join("schemathesis.log"));
    assert!(
        generated(&report) >= 1000,
        "too few cases to mean anything:\n{report}"
    );
    // The calls that end credentials, last and on their own (a revoked token then answers
    // 401, as documented).
    let mut last: Vec<&str> = Vec::new();
    for id in CREDENTIALS {
        last.extend(["--include-operation-id", id]);
    }
    schemathesis(
        &s,
        &auth,
        10,
        &last,
        &dir.join("schemathesis-credentials.log"),
    );
}

#[test]
fn schemathesis_finds_no_server_error_and_no_undocumented_answer_on_sqlite() {
    let d = temp("openapi-sqlite");
    let db = d.join("nv.db");
    fuzz(db.to_str().unwrap(), &d);
}

#[test]
fn schemathesis_finds_no_server_error_and_no_undocumented_answer_on_postgres() {
    let d = temp("openapi-postgres");
    let schema = PgSchema::new("openapi");
    fuzz(&schema.url(), &d);
}

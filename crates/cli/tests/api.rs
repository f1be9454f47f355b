//! `netvigil serve`: the API over a store seeded by the generator with attack scenarios, on
//! SQLite and on PostgreSQL. Every resource's numbers are checked against the store read
//! directly; every refusal (400, 401, 403, 413, 429) and the audit log of what changed.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;

use common::server::*;
use common::*;
use serde_json::{json, Value};
use store::{AlertFilter, DeviceFilter, FlowFilter, IncidentFilter, IpFilter, Store, TimeRange};

/// What every backend must answer, against the store read directly.
fn resources_equal_the_store(db: &str, dir: &Path) {
    seed(db, dir);
    let (s, first) = Server::start(db, "[rate]\nlogin = 3\n", dir);
    let admin_password = first.expect("the first run makes the admin");
    let admin = user(db, &["token", "admin"], "");
    let auth = bearer(&admin);
    let a = [("authorization", auth.as_str())];
    let mut store: Box<dyn Store> = store::open_existing(db).unwrap();

    // Captures.
    let caps = store.captures().unwrap();
    let got = all_pages(&s, "/api/captures", &a);
    assert_eq!(ids(&got), caps.iter().map(|c| c.id).collect::<Vec<_>>());
    assert_eq!(got[0]["flows"], json!(caps[0].flows));

    // Flows: every page, limit 1000, is every stored flow, newest first.
    let flows = all_pages(&s, "/api/flows?limit=1000", &a);
    let total: u64 = caps.iter().map(|c| c.flows).sum();
    assert_eq!(flows.len() as u64, total);
    let direct = store.flows(&FlowFilter::default(), None, 100).unwrap();
    assert_eq!(
        ids(&flows[..100]),
        direct.flows.iter().map(|f| f.id).collect::<Vec<_>>()
    );
    // A filter by network and port, against the store's own filter.
    let filter = FlowFilter {
        src: Some(IpFilter::parse("10.0.0.0/8").unwrap()),
        dst_port: Some(443),
        ..FlowFilter::default()
    };
    let got = all_pages(&s, "/api/flows?src=10.0.0.0/8&dst_port=443&limit=50", &a);
    let mut want = Vec::new();
    let mut after = None;
    loop {
        let p = store.flows(&filter, after, 1000).unwrap();
        want.extend(p.flows.iter().map(|f| f.id));
        match p.next {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    assert!(!want.is_empty());
    assert_eq!(ids(&got), want);
    // The same as a search, compiled to SQL.
    let got = all_pages(
        &s,
        "/api/flows?q=src:10.0.0.0/8%20dst_port:443&limit=50",
        &a,
    );
    assert_eq!(ids(&got), want);
    let got = all_pages(
        &s,
        "/api/flows?q=src:10.0.0.0/8%20-dst_port:443%20proto:tcp&limit=1000",
        &a,
    );
    assert!(!got.is_empty());
    assert!(got
        .iter()
        .all(|f| f["Dst Port"] != 443 && f["Protocol"] == 6));

    // Episodes and incidents.
    let alerts = store.alerts(&AlertFilter::default(), 10_000).unwrap();
    assert!(alerts.len() >= 3, "{} episodes", alerts.len());
    let got = all_pages(&s, "/api/episodes?limit=2", &a);
    assert_eq!(ids(&got), alerts.iter().map(|x| x.id).collect::<Vec<_>>());
    assert_eq!(got[0], serde_json::to_value(&alerts[0]).unwrap());
    let found = all_pages(&s, "/api/episodes?q=family:scan%20OR%20kind:syn_flood", &a);
    let want: Vec<i64> = alerts
        .iter()
        .filter(|x| x.alert.family.as_str() == "scan" || x.alert.kind == "syn_flood")
        .map(|x| x.id)
        .collect();
    assert!(!want.is_empty());
    assert_eq!(ids(&found), want);
    let one = s.get(&format!("/api/episodes/{}", alerts[0].id), &a);
    assert_eq!(one.body, serde_json::to_value(&alerts[0]).unwrap());
    let incidents = store.incidents(&IncidentFilter::default(), 10_000).unwrap();
    let got = all_pages(&s, "/api/incidents?limit=1", &a);
    assert_eq!(
        ids(&got),
        incidents.iter().map(|x| x.id).collect::<Vec<_>>()
    );
    let inc = &incidents[0];
    let detail = s.get(&format!("/api/incidents/{}", inc.id), &a);
    let members = store
        .alerts(
            &AlertFilter {
                incident: Some(inc.id),
                ..AlertFilter::default()
            },
            10_000,
        )
        .unwrap();
    assert_eq!(
        ids(detail.body["episodes_list"].as_array().unwrap()),
        members.iter().map(|x| x.id).collect::<Vec<_>>()
    );
    assert_eq!(detail.body["episodes"], json!(inc.episodes));

    // A flow's detail: every column, and the episodes about it (a flow between an episode's
    // attacker and victim while it lasted).
    let (flow_id, episode) = alerts
        .iter()
        .find_map(|x| {
            let (src, dst) = (x.alert.src?, x.alert.dst?);
            let during = FlowFilter {
                src: Some(IpFilter::addr(src)),
                dst: Some(IpFilter::addr(dst)),
                time: Some(TimeRange {
                    from: packet::Timestamp(x.alert.first_seen),
                    to: packet::Timestamp(x.alert.time + 1),
                }),
                ..FlowFilter::default()
            };
            let p = store.flows(&during, None, 1).unwrap();
            p.flows.first().map(|f| (f.id, x.id))
        })
        .expect("a flow of an episode");
    let d = s.get(&format!("/api/flows/{flow_id}"), &a);
    assert_eq!(d.status, 200);
    let stored = store.flow(flow_id).unwrap().unwrap();
    let cols: Vec<_> = flow::columns::all().collect();
    for (k, v) in store::export::flow_object(&stored.record, &cols, Some(stored.score.as_ref())) {
        assert_eq!(d.body[&k], v, "{k}");
    }
    assert!(ids(d.body["episodes"].as_array().unwrap()).contains(&episode));
    assert_eq!(s.get("/api/flows/1", &a).status, 404);

    // Statistics over the stored span.
    let span = TimeRange {
        from: caps.iter().filter_map(|c| c.start).min().unwrap(),
        to: packet::Timestamp(caps.iter().filter_map(|c| c.end).max().unwrap().0 + 1),
    };
    let stat = |path: &str| s.get(path, &a).body["items"].clone();
    assert_eq!(
        stat("/api/stats/talkers?limit=10"),
        serde_json::to_value(store.top_talkers(span, 10).unwrap()).unwrap()
    );
    assert_eq!(
        stat("/api/stats/ports"),
        serde_json::to_value(store.top_ports(span, 20).unwrap()).unwrap()
    );
    assert_eq!(
        stat("/api/stats/protocols"),
        serde_json::to_value(store.protocols(span).unwrap()).unwrap()
    );
    assert_eq!(
        stat("/api/stats/health"),
        serde_json::to_value(store.traffic_health(span).unwrap()).unwrap()
    );
    assert_eq!(
        stat("/api/stats/attackers"),
        serde_json::to_value(store.top_attackers(span, 20).unwrap()).unwrap()
    );
    assert_eq!(
        stat("/api/stats/alert-rate"),
        serde_json::to_value(store.attack_rate(span).unwrap()).unwrap()
    );
    // The hour × weekday heatmap sums what the port ranking sums over the same range.
    let heat = stat("/api/stats/heatmap");
    let cells = heat.as_array().unwrap();
    assert_eq!(cells.len(), 168);
    let ports = store.top_ports(span, usize::MAX).unwrap();
    for (k, want) in [
        ("flows", ports.iter().map(|p| p.flows).sum::<u64>()),
        ("bytes", ports.iter().map(|p| p.bytes).sum::<u64>()),
    ] {
        assert_eq!(
            cells.iter().map(|c| c[k].as_u64().unwrap()).sum::<u64>(),
            want,
            "{k}"
        );
    }
    assert!(
        cells
            .iter()
            .filter(|c| c["flows"].as_u64() > Some(0))
            .count()
            >= 1
    );
    let windows = store.windows(TimeRange::ALL, None).unwrap();
    assert_eq!(
        all_pages(&s, "/api/windows?limit=7", &a).len(),
        windows.len()
    );

    // Devices.
    let devices = store.devices(&DeviceFilter::default(), 100_000).unwrap();
    assert!(!devices.is_empty());
    let got = all_pages(&s, "/api/devices?limit=3", &a);
    assert_eq!(
        got,
        serde_json::to_value(&devices)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    );
    // Filtered by network: what the store's own filter gives, and not nothing.
    let by_net = all_pages(&s, "/api/devices?ip=10.0.0.0/8", &a);
    let net = DeviceFilter {
        ip: Some(IpFilter::parse("10.0.0.0/8").unwrap()),
        ..DeviceFilter::default()
    };
    let want = store.devices(&net, 100_000).unwrap();
    assert!(!want.is_empty());
    assert_eq!(
        by_net,
        serde_json::to_value(&want)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    );

    workflow(&s, db, &admin, &mut *store);

    // Metrics: requests by route and status, and each capture's progress from the store.
    let metrics = s
        .agent
        .get(format!("{}/metrics", s.base))
        .header("authorization", &auth)
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(
        metrics.contains(
            r#"netvigil_http_requests_total{method="GET",route="/api/flows",status="200"}"#
        ),
        "{metrics}"
    );
    let flows_line = format!(
        r#"netvigil_capture{{capture="{}",counter="flows",name="{}",status="complete"}} {}"#,
        caps[0].id, caps[0].name, caps[0].flows
    );
    assert!(
        metrics.contains(&flows_line),
        "{flows_line} not in {metrics}"
    );
    assert_eq!(s.get("/metrics", &[]).status, 401);
    saved_searches(&s, db, &admin, &mut *store);
    exports(&s, &admin, &mut *store, dir);
    refusals(&s, db, &admin, &admin_password);
}

/// Exports of a query: every matching row, in the listing's order, in the file formats of
/// `netvigil export`; a bad format is refused by name.
fn exports(s: &Server, admin: &str, store: &mut dyn Store, dir: &Path) {
    let auth = bearer(admin);
    let a = [("authorization", auth.as_str())];
    // Every stored flow to port 443, newest first, as the store pages them.
    let filter = FlowFilter {
        dst_port: Some(443),
        ..FlowFilter::default()
    };
    let mut want = Vec::new();
    let mut after = None;
    loop {
        let p = store.flows(&filter, after, 1000).unwrap();
        want.extend(
            p.flows
                .iter()
                .map(|f| (f.record.src.to_string(), f.record.sport)),
        );
        match p.next {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    assert!(want.len() > 100, "{}", want.len());
    let r = s
        .agent
        .get(format!("{}/api/flows/export?dst_port=443", s.base))
        .header("authorization", &auth)
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers().get("content-type").unwrap().to_str().unwrap(),
        "text/csv; charset=utf-8"
    );
    let text = r
        .into_body()
        .with_config()
        .limit(1 << 30)
        .read_to_string()
        .unwrap();
    let mut csv = csv::Reader::from_reader(text.as_bytes());
    let header = csv.headers().unwrap().clone();
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    let (src, sport, label) = (col("Src IP"), col("Src Port"), col("Label"));
    assert_eq!(
        header.len() - 1,
        label + 2,
        "the score's three columns end each row"
    );
    let got: Vec<(String, u16)> = csv
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[src].to_string(), r[sport].parse().unwrap())
        })
        .collect();
    assert_eq!(got, want);
    // Parquet: the same rows.
    let r = s
        .agent
        .get(format!(
            "{}/api/flows/export?dst_port=443&format=parquet",
            s.base
        ))
        .header("authorization", &auth)
        .call()
        .unwrap();
    let path = dir.join("flows.parquet");
    std::fs::write(
        &path,
        r.into_body()
            .with_config()
            .limit(1 << 30)
            .read_to_vec()
            .unwrap(),
    )
    .unwrap();
    let rows: usize = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&path).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap()
    .map(|b| b.unwrap().num_rows())
    .sum();
    assert_eq!(rows, want.len());
    // Episodes as JSON Lines: every listed one, in order.
    let listed = ids(&all_pages(s, "/api/episodes?limit=1000", &a));
    let r = s
        .agent
        .get(format!("{}/api/episodes/export?format=jsonl", s.base))
        .header("authorization", &auth)
        .call()
        .unwrap();
    let text = r
        .into_body()
        .with_config()
        .limit(1 << 30)
        .read_to_string()
        .unwrap();
    let exported: Vec<i64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(exported, listed);
    let r = s.get("/api/flows/export?format=xls", &a);
    assert_eq!((r.status, &r.body["field"]), (400, &json!("format")));
    let r = s.get("/api/flows/export?limit=5", &a);
    assert_eq!((r.status, &r.body["field"]), (400, &json!("limit")));
}

/// Saved searches: private to their owner until shared, then readable by any user from their
/// link; `results` runs them; only the owner or an admin changes them; a search that does not
/// parse is refused with its position.
fn saved_searches(s: &Server, db: &str, admin: &str, store: &mut dyn Store) {
    user(db, &["add", "sue", "--role", "viewer", "--no-password"], "");
    user(db, &["add", "tom", "--role", "viewer", "--no-password"], "");
    let sue = bearer(&user(db, &["token", "sue"], ""));
    let tom = bearer(&user(db, &["token", "tom"], ""));
    let (u, t) = (
        [("authorization", sue.as_str())],
        [("authorization", tom.as_str())],
    );
    let text = "dst_port:443 AND proto:tcp";
    let r = s.send(
        "POST",
        "/api/queries",
        &u,
        json!({"name": "tls", "target": "flows", "query": text})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_i64().unwrap();
    assert_eq!(r.body["owner"], "sue");
    let link = format!("/api/queries/{id}");
    assert_eq!(
        s.get(&link, &t).status,
        404,
        "private: another user cannot see it"
    );
    let r = s.send("PATCH", &link, &u, br#"{"shared":true}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    let shared = s.get(&link, &t);
    assert_eq!((shared.status, &shared.body["query"]), (200, &json!(text)));
    // Its results are the search run by the flows listing, as the store answers it.
    let results = shared.body["results"].as_str().unwrap().to_string();
    assert_eq!(results, "/api/flows?q=dst_port%3A443+AND+proto%3Atcp");
    let got = all_pages(s, &format!("{results}&limit=1000"), &t);
    let filter = FlowFilter {
        search: Some(store::search::parse(text, store::search::Target::Flows).unwrap()),
        ..FlowFilter::default()
    };
    let want = store.flows(&filter, None, 1000).unwrap();
    assert!(!want.flows.is_empty());
    assert_eq!(
        ids(&got),
        want.flows.iter().map(|f| f.id).collect::<Vec<_>>()
    );
    // Tom may read it, not change it; an admin may.
    assert_eq!(s.delete(&link, &t).status, 403);
    let admin = bearer(admin);
    let a = [("authorization", admin.as_str())];
    let r = s.send("PATCH", &link, &a, br#"{"name":"https"}"#);
    assert_eq!((r.status, &r.body["name"]), (200, &json!("https")));
    let log = s.get("/api/audit?action=query.change", &a).body;
    assert_eq!(log["items"][0]["before"]["name"], "tls");
    assert_eq!(log["items"][0]["after"]["name"], "https");
    // A search that does not parse, with its position; a name taken.
    let r = s.send(
        "POST",
        "/api/queries",
        &u,
        br#"{"name":"bad","target":"flows","query":"dst_port:(443"}"#,
    );
    assert_eq!(
        (r.status, &r.body["field"]),
        (400, &json!("query")),
        "{}",
        r.body
    );
    assert!(r.body["position"].is_u64());
    let r = s.send(
        "POST",
        "/api/queries",
        &u,
        json!({"name": "https", "target": "episodes", "query": "severity:>=3"})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(s.delete(&link, &u).status, 200);
    assert_eq!(s.get(&link, &u).status, 404);
}

/// Working episodes and incidents, suppressing: each step answered, stored, and in the audit
/// log with its before and after.
fn workflow(s: &Server, db: &str, admin: &str, store: &mut dyn Store) {
    let auth = bearer(admin);
    let a = [("authorization", auth.as_str())];
    user(
        db,
        &["add", "carl", "--role", "analyst", "--no-password"],
        "",
    );
    let carl = bearer(&user(db, &["token", "carl"], ""));
    let c = [("authorization", carl.as_str())];
    let episodes = store.alerts(&AlertFilter::default(), 10_000).unwrap();
    let first = episodes[0].id;

    // Resolve with a verdict and a comment.
    let r = s.send(
        "POST",
        &format!("/api/episodes/{first}/status"),
        &c,
        br#"{"action":"resolve","verdict":"false_positive","comment":"our lab scanner"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        (&r.body["status"], &r.body["verdict"]),
        (&json!("resolved"), &json!("false_positive"))
    );
    assert_eq!(
        r.body,
        serde_json::to_value(store.alert(first).unwrap().unwrap()).unwrap()
    );
    let comments = s.get(&format!("/api/episodes/{first}/comments"), &c).body;
    assert_eq!(comments["items"][0]["body"], "our lab scanner");
    assert_eq!(comments["items"][0]["author"], "carl");
    let log = s
        .get(
            &format!("/api/audit?target=episode:{first}&action=episode.resolve"),
            &a,
        )
        .body;
    assert_eq!(log["items"][0]["actor"], "carl");
    assert_eq!(log["items"][0]["before"]["status"], "new");
    assert_eq!(log["items"][0]["after"]["verdict"], "false_positive");
    for (body, field) in [
        (&br#"{"action":"resolve"}"#[..], "verdict"),
        (br#"{"action":"close"}"#, "action"),
        (
            br#"{"action":"acknowledge","verdict":"false_positive"}"#,
            "verdict",
        ),
        (br#"{"action":"resolve","verdict":"maybe"}"#, "verdict"),
    ] {
        let r = s.send("POST", &format!("/api/episodes/{first}/status"), &c, body);
        assert_eq!(
            (r.status, r.body["field"].as_str()),
            (400, Some(field)),
            "{}",
            r.body
        );
    }

    // A suppression hides exactly what its preview counted.
    let attacker = episodes[1].alert.src.unwrap();
    let m = format!(r#"{{"ip":"{attacker}/32","reason":"expected"}}"#);
    let preview = s.send("POST", "/api/suppressions/preview", &c, m.as_bytes());
    assert_eq!(preview.status, 200, "{}", preview.body);
    let n = preview.body["episodes"].as_u64().unwrap();
    assert!(n >= 1);
    let shown = all_pages(s, "/api/episodes", &c).len() as u64;
    assert_eq!(
        s.send("POST", "/api/suppressions", &c, m.as_bytes()).status,
        403
    );
    let made = s.send("POST", "/api/suppressions", &a, m.as_bytes());
    assert_eq!(made.status, 201, "{}", made.body);
    let after = all_pages(s, "/api/episodes", &c);
    assert_eq!(shown - after.len() as u64, n);
    assert!(after.iter().all(
        |e| e["src"] != json!(attacker.to_string()) && e["dst"] != json!(attacker.to_string())
    ));
    assert_eq!(
        all_pages(s, "/api/episodes?suppressed=include", &c).len(),
        episodes.len()
    );
    let listed = s.get("/api/suppressions", &c).body;
    assert_eq!(listed["items"][0]["active"], true);
    let id = made.body["id"].as_i64().unwrap();
    assert_eq!(s.delete(&format!("/api/suppressions/{id}"), &a).status, 200);
    assert_eq!(all_pages(s, "/api/episodes", &c).len() as u64, shown);

    // An incident made of two episodes, another merged into it, then resolved.
    let pick = format!(r#"{{"episodes":[{},{}]}}"#, episodes[0].id, episodes[1].id);
    let made = s.send("POST", "/api/incidents", &c, pick.as_bytes());
    assert_eq!(made.status, 201, "{}", made.body);
    assert_eq!(made.body["episodes"], 2);
    let inc = made.body["id"].as_i64().unwrap();
    let others: Vec<i64> = store
        .incidents(&IncidentFilter::default(), 100)
        .unwrap()
        .iter()
        .map(|i| i.id)
        .filter(|&i| i != inc)
        .collect();
    let merge = format!(r#"{{"from":[{}]}}"#, others[0]);
    let merged = s.send(
        "POST",
        &format!("/api/incidents/{inc}/merge"),
        &c,
        merge.as_bytes(),
    );
    assert_eq!(merged.status, 200, "{}", merged.body);
    assert_eq!(
        merged.body,
        serde_json::to_value(store.incident(inc).unwrap().unwrap()).unwrap()
    );
    let done = s.send(
        "PATCH",
        &format!("/api/incidents/{inc}"),
        &c,
        br#"{"status":"RESOLVED","assignee":"carl","priority":2}"#,
    );
    assert_eq!(
        (done.status, &done.body["status"]),
        (200, &json!("RESOLVED"))
    );
    let bad = s.send(
        "PATCH",
        &format!("/api/incidents/{inc}"),
        &c,
        br#"{"priority":9}"#,
    );
    assert_eq!(
        (bad.status, bad.body["field"].as_str()),
        (400, Some("priority"))
    );
    let log = s.get(&format!("/api/audit?target=incident:{inc}"), &a).body;
    let actions: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["incident.change", "incident.merge", "incident.create"]
    );
    assert_eq!(log["items"][0]["before"]["status"], "OPEN");
    assert_eq!(log["items"][0]["after"]["assignee"], "carl");
}

/// 400, 401, 403, 413, 429, sessions with CSRF, and the audit log.
fn refusals(s: &Server, db: &str, admin: &str, admin_password: &str) {
    let auth = bearer(admin);
    let a = [("authorization", auth.as_str())];
    // 400 naming the parameter.
    for (path, field) in [
        ("/api/flows?limit=-1", "limit"),
        ("/api/flows?limit=1001", "limit"),
        ("/api/flows?src=10.0.0.0/33", "src"),
        ("/api/flows?srcip=10.0.0.1", "srcip"),
        ("/api/flows?cursor=bm9wZQ", "cursor"),
        ("/api/episodes?family=nope", "family"),
        ("/api/incidents?status=open", "status"),
        ("/api/flows?from=2017-07-08&to=2017-07-07", "from"),
    ] {
        let r = s.get(path, &a);
        assert_eq!(
            (r.status, r.body["field"].as_str()),
            (400, Some(field)),
            "{path}: {}",
            r.body
        );
    }
    // A search that does not parse: 400 with its position.
    let r = s.get("/api/flows?q=src:10.0.0.0/33", &a);
    assert_eq!(
        (
            r.status,
            r.body["field"].as_str(),
            r.body["position"].as_u64()
        ),
        (400, Some("q"), Some(4))
    );
    for (query, target, position) in [
        ("(kind:syn_flood", "episodes", 0),
        ("kind:syn_flood severity:>=x", "episodes", 24),
        ("dst_port:443 OR", "flows", 15),
        ("srcip:10.0.0.1", "flows", 0),
    ] {
        let body = json!({ "query": query, "target": target }).to_string();
        let r = s.send("POST", "/api/query/validate", &a, body.as_bytes());
        assert_eq!(
            (r.status, r.body["position"].as_u64()),
            (400, Some(position)),
            "{query}: {}",
            r.body
        );
    }
    let body =
        json!({ "query": "src:10.0.0.0/8 AND NOT (dst_port:53 OR app:DNS)", "target": "flows" });
    let r = s.send(
        "POST",
        "/api/query/validate",
        &a,
        body.to_string().as_bytes(),
    );
    assert_eq!((r.status, &r.body["valid"]), (200, &json!(true)));

    // 401 without credentials or with a wrong token; health needs none.
    assert_eq!(s.get("/api/flows", &[]).status, 401);
    assert_eq!(
        s.get("/api/flows", &[("authorization", "Bearer nvt_wrong")])
            .status,
        401
    );
    let h = s.get("/api/health", &[]);
    assert_eq!((h.status, &h.body["status"]), (200, &json!("ok")));

    // A viewer reads but may not change: 403.
    user(
        db,
        &["add", "vera", "--role", "viewer", "--password-stdin"],
        "viewer-password-1\n",
    );
    let viewer = bearer(&user(db, &["token", "vera", "--label", "test"], ""));
    let v = [("authorization", viewer.as_str())];
    assert_eq!(s.get("/api/flows?limit=1", &v).status, 200);
    let r = s.send("POST", "/api/users", &v, br#"{"name":"x","role":"viewer"}"#);
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(s.get("/api/audit", &v).status, 403);

    // 400 naming a body field; 201 and the audit log's before/after for an admin.
    let r = s.send("POST", "/api/users", &a, br#"{"name":"ann","role":"boss"}"#);
    assert_eq!((r.status, r.body["field"].as_str()), (400, Some("role")));
    let r = s.send("POST", "/api/users", &a, br#"{"name":"ann"}"#);
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (400, Some("role")),
        "{}",
        r.body
    );
    let r = s.send(
        "POST",
        "/api/users",
        &a,
        br#"{"name":"ann","role":"analyst","password":"analyst-password-1"}"#,
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let r = s.send("PATCH", "/api/users/ann", &a, br#"{"role":"viewer"}"#);
    assert_eq!((r.status, &r.body["role"]), (200, &json!("viewer")));
    let log = s.get("/api/audit?target=user:ann", &a).body["items"].clone();
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["user.role", "user.add"]);
    assert_eq!(log[0]["actor"], "admin");
    assert_eq!(log[0]["before"]["role"], "analyst");
    assert_eq!(log[0]["after"]["role"], "viewer");
    assert_eq!(log[1]["before"], Value::Null);
    assert_eq!(log[1]["after"]["name"], "ann");

    // A session: cookie and CSRF.
    let r = s.send(
        "POST",
        "/api/session",
        &[],
        format!(r#"{{"name":"admin","password":"{admin_password}"}}"#).as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let cookie = r.cookie.expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().unwrap().to_string();
    let csrf = r.body["csrf"].as_str().unwrap().to_string();
    let c = [("cookie", cookie.as_str())];
    assert_eq!(s.get("/api/session", &c).body["user"]["name"], "admin");
    let body = br#"{"name":"bob","role":"viewer"}"#;
    assert_eq!(s.send("POST", "/api/users", &c, body).status, 403);
    let with_csrf = [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str())];
    assert_eq!(s.send("POST", "/api/users", &with_csrf, body).status, 201);
    assert_eq!(s.delete("/api/session", &with_csrf).status, 204);
    assert_eq!(s.get("/api/session", &c).status, 401);

    // 413 over the body limit (1 MiB by default). The server answers once it has read up to
    // the limit and closes; a client still sending the rest may see the connection reset
    // before it reads the answer, so that transport error is tried again (a few times).
    let big = vec![b' '; (1 << 20) + 1];
    let status = (0..5)
        .find_map(|_| {
            s.agent
                .post(format!("{}/api/users", s.base))
                .header("authorization", &auth)
                .header("content-type", "application/json")
                .send(&big[..])
                .ok()
                .map(|r| r.status().as_u16())
        })
        .expect("an answer within five tries");
    assert_eq!(status, 413);

    // 429 past the login rate (3 a minute here), with Retry-After.
    let wrong = br#"{"name":"admin","password":"wrong-password"}"#;
    let statuses: Vec<u16> = (0..4)
        .map(|_| s.send("POST", "/api/session", &[], wrong).status)
        .collect();
    // The session above used one of the three.
    assert_eq!(statuses[..2], [401, 401]);
    let last = s.send("POST", "/api/session", &[], wrong);
    assert_eq!(last.status, 429);
    assert!(last.retry_after.is_some());
}

#[test]
fn the_api_answers_what_the_sqlite_store_holds_and_refuses_what_it_must() {
    let d = temp("api-sqlite");
    let db = d.join("nv.db");
    resources_equal_the_store(db.to_str().unwrap(), &d);
}

#[test]
fn the_api_answers_what_the_postgres_store_holds_and_refuses_what_it_must() {
    let d = temp("api-postgres");
    let schema = PgSchema::new("api");
    resources_equal_the_store(&schema.url(), &d);
}

/// Reads a Server-Sent Events stream: (event, data) pairs.
fn sse_events(
    reader: impl std::io::Read + Send + 'static,
) -> std::sync::mpsc::Receiver<(String, Value)> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut event = String::new();
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { return };
            if let Some(e) = line.strip_prefix("event:") {
                event = e.trim().to_string();
            } else if let Some(d) = line.strip_prefix("data:") {
                let v = serde_json::from_str(d.trim()).unwrap_or(Value::Null);
                if tx.send((std::mem::take(&mut event), v)).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

#[test]
fn a_live_client_that_never_reads_is_dropped_while_others_keep_receiving() {
    use std::io::Write;
    use std::time::Duration;
    let d = temp("api-live");
    let db = d.join("nv.db");
    let db = db.to_str().unwrap();
    seed(db, &d);
    let (s, _) = Server::start(
        db,
        "live_buffer = 8\nlive_poll_ms = 100\nwrite_timeout_s = 2\nsend_buffer_bytes = 16384\n\
         request_log = false\n[rate]\napi = 100000\n",
        &d,
    );
    let token = user(db, &["token", "admin"], "");
    let auth = bearer(&token);
    let a = [("authorization", auth.as_str())];

    // A client that reads, and one that sends its request and never reads, with a small
    // receive buffer so the server's writes stall soon.
    let reader = s
        .agent
        .get(format!("{}/api/events", s.base))
        .header("authorization", &auth)
        .call()
        .unwrap();
    assert_eq!(reader.status().as_u16(), 200);
    let events = sse_events(reader.into_body().into_reader());
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut stuck = std::net::TcpStream::connect(&addr).unwrap();
    unsafe {
        use std::os::fd::AsRawFd;
        let size: libc::c_int = 4096;
        libc::setsockopt(
            stuck.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &size as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    write!(
        stuck,
        "GET /api/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\n\r\n"
    )
    .unwrap();
    let live = |s: &Server| s.get("/api/health", &[]).body["live"].clone();
    let t0 = std::time::Instant::now();
    while live(&s)["clients"] != 2 {
        assert!(t0.elapsed() < Duration::from_secs(10), "{}", live(&s));
        std::thread::sleep(Duration::from_millis(20));
    }

    // Changes through the API publish the episode each time (a few KB each).
    let episode = s.get("/api/episodes?limit=1", &a).body["items"][0]["id"]
        .as_i64()
        .unwrap();
    let n = 300;
    for _ in 0..n {
        let r = s.send(
            "POST",
            &format!("/api/episodes/{episode}/status"),
            &a,
            br#"{"action":"acknowledge"}"#,
        );
        assert_eq!(r.status, 200);
    }
    // The reader got every one, in order; the stuck client was disconnected and counted.
    let mut got = 0;
    while got < n {
        let (kind, v) = events
            .recv_timeout(Duration::from_secs(20))
            .expect("the reader keeps receiving");
        assert_eq!(kind, "episode", "{v}");
        assert_eq!(v["id"], episode);
        got += 1;
    }
    let t0 = std::time::Instant::now();
    loop {
        let l = live(&s);
        let dropped =
            l["slow_disconnects"].as_u64().unwrap() + l["stalled_connections"].as_u64().unwrap();
        if dropped >= 1 && l["clients"] == 1 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the stuck client was not dropped: {l}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(stuck);

    // New data in the store reaches the reader too: a second capture, with its episodes.
    ingest_attacks(db, &d, "syn_flood");
    let mut kinds = std::collections::BTreeSet::new();
    while !(kinds.contains("capture") && kinds.contains("episode")) {
        let (kind, _) = events
            .recv_timeout(Duration::from_secs(20))
            .expect("store changes are published");
        kinds.insert(kind);
    }
}

//! Hostile and careless input against the real binary on the live demo source: a query too
//! deep or too wide, a runaway query, a query that wants too much memory, records that would
//! change a column's type or carry impossible offsets. Each case asserts the documented error
//! code, that the process stays up and that ingestion goes on.

mod common;

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Served, get_json, post_sql};
use serde_json::{Value, json};

/// `streamq serve` on the live demo source in `dir`, on a free loopback port.
fn demo_cmd(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_streamq"));
    cmd.arg("serve")
        .current_dir(dir)
        .env("STREAMQ_LISTEN", "127.0.0.1:0")
        .env("STREAMQ_LOG", "warn");
    cmd
}

/// The demo source with a 1.5 s query timeout and a 256 MiB query budget.
fn demo(dir: &std::path::Path) -> Served {
    let mut cmd = demo_cmd(dir);
    cmd.env("STREAMQ_QUERY__TIMEOUT_MS", "1500")
        .env("STREAMQ_QUERY__MEMORY_LIMIT_MB", "256");
    Served::start(cmd)
}

fn count(base: &str, table: &str) -> u64 {
    let (status, body) = post_sql(base, &format!("SELECT count(*) AS n FROM {table}"));
    assert_eq!(status, 200, "{body}");
    body["rows"][0][0].as_u64().unwrap()
}

/// Waits (on the data, not the clock) until `table` holds at least `n` rows.
fn wait_rows(base: &str, table: &str, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, body) = post_sql(base, &format!("SELECT count(*) AS n FROM {table}"));
        if status == 200 && body["rows"][0][0].as_u64().unwrap_or(0) >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{table} never reached {n} rows: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn refused(base: &str, sql: &str, limit: &str) {
    let (status, body) = post_sql(base, sql);
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("query_too_complex")),
        "{}…: {body}",
        &sql[..sql.len().min(60)]
    );
    let msg = body["message"].as_str().unwrap();
    assert!(msg.contains(limit), "the message names {limit}: {msg}");
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// CPU time (clock ticks) of the process's query threads.
fn query_cpu_ticks(pid: u32) -> u64 {
    let mut sum = 0;
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if !comm.starts_with("streamq-query") {
            continue;
        }
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        // Fields after the parenthesised name: utime is the 12th, stime the 13th.
        let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = after.split_whitespace().collect();
        if f.len() > 12 {
            sum += f[11].parse::<u64>().unwrap_or(0) + f[12].parse::<u64>().unwrap_or(0);
        }
    }
    sum
}

#[test]
fn queries_too_complex_runaway_or_too_large_are_refused_and_the_server_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = demo(dir.path());
    let base = server.base.clone();
    let pid = server.child.id();
    wait_rows(&base, "db2.transactions", 200);
    let before = count(&base, "db2.transactions");

    // Too deep or too wide: refused before planning, with the limit named.
    let sum = |n: usize| format!("SELECT {}", vec!["1"; n].join("+"));
    refused(&base, &sum(2000), "query.max_expr_depth");
    let ors: Vec<String> = (0..2000).map(|i| format!("amount = {i}")).collect();
    refused(
        &base,
        &format!(
            "SELECT count(*) FROM db2.transactions WHERE {}",
            ors.join(" OR ")
        ),
        "query.max_expr_depth",
    );
    refused(
        &base,
        &vec!["SELECT 1"; 2500].join(" UNION ALL "),
        "query.max_set_operations",
    );
    refused(
        &base,
        &format!("SELECT {}1{}", "(".repeat(200), ")".repeat(200)),
        "query.max_nesting",
    );
    let joins: Vec<String> = (0..100).map(|i| format!("db2.accounts a{i}")).collect();
    refused(
        &base,
        &format!("SELECT 1 FROM {} LIMIT 1", joins.join(", ")),
        "query.max_tables",
    );
    // At the documented limits they are answered (and planning does not overflow a stack).
    let (status, body) = post_sql(&base, &sum(256));
    assert_eq!(
        (status, body["rows"][0][0].as_i64()),
        (200, Some(256)),
        "{body}"
    );
    let (status, body) = post_sql(&base, &vec!["SELECT 1 AS x"; 256].join(" UNION ALL "));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rows"].as_array().unwrap().len(), 256);

    // A runaway query gets its timeout, stops using the query threads, and the next query
    // is answered within the (1.5 s) timeout.
    let runaway = "SELECT count(*) FROM db2.transactions a, db2.transactions b, \
                   db2.transactions c, db2.transactions d \
                   WHERE a.txn_id || b.txn_id || c.txn_id || d.txn_id LIKE '%no such id%'";
    let (status, body) = post_sql(&base, runaway);
    assert_eq!(
        (status, body["code"].as_str()),
        (504, Some("query_timeout")),
        "{body}"
    );
    let (status, body) = post_sql(&base, "SELECT 1 AS one");
    assert_eq!(
        (status, body["rows"][0][0].as_i64()),
        (200, Some(1)),
        "{body}"
    );
    let ticks = query_cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(2));
    let used = query_cpu_ticks(pid) - ticks;
    assert!(
        used < 100,
        "the query threads used {used} ticks (of 200 a busy thread would) after the timeout"
    );
    let (status, ready) = get_json(&format!("{base}/readyz"));
    assert_eq!(
        (status, &ready["query_engine"]),
        (200, &Value::Null),
        "{ready}"
    );

    // A query that needs more memory than the budget fails and the memory comes back.
    let baseline = rss_kib(pid);
    let sampler = std::thread::spawn(move || {
        let mut peak = 0;
        let until = Instant::now() + Duration::from_secs(4);
        while Instant::now() < until {
            peak = peak.max(rss_kib(pid));
            std::thread::sleep(Duration::from_millis(20));
        }
        peak
    });
    // Sized from the rows there are now so the aggregate would hold about 1 GiB.
    let n = count(&base, "db2.transactions").max(1);
    let k = (1u64 << 30) / (9 * n * n) + 1;
    let (status, body) = post_sql(
        &base,
        &format!(
            "SELECT length(string_agg(repeat(a.txn_id, {k}) || b.txn_id, ',')) \
             FROM db2.transactions a CROSS JOIN db2.transactions b"
        ),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("query_memory_exceeded")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("query.memory_limit_mb")
    );
    let peak = sampler.join().unwrap();
    assert!(
        peak < baseline + 256 * 1024 + 300 * 1024,
        "RSS went from {baseline} KiB to {peak} KiB with a 256 MiB query budget"
    );

    // Through MCP (stdio, as a desktop client launches it): the same code, as a tool error.
    let reply = mcp_call(
        &base,
        json!({"name": "run_sql", "arguments": {"sql": sum(2000)}}),
    );
    assert_eq!(
        reply["result"]["structuredContent"]["error"]["code"], "query_too_complex",
        "{reply}"
    );
    assert_eq!(reply["result"]["isError"], true, "{reply}");
    // And over MCP's streamable HTTP, the server's own `/mcp`.
    let reply = mcp_http_call(
        &base,
        json!({"name": "run_sql", "arguments": {"sql": sum(2000)}}),
    );
    assert_eq!(
        reply["result"]["structuredContent"]["error"]["code"], "query_too_complex",
        "{reply}"
    );

    // A tail filter is measured the same way.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut c = common::ws::Client::connect(&base).await;
        let deep = ors.join(" OR ");
        c.send(json!({"subscribe": "tail", "table": "db2.transactions", "filter": deep}))
            .await;
        c.wait_for("error", 1).await;
        assert_eq!(c.of_type("error")[0]["code"], "query_too_complex");
    });

    // Through all of it the process stayed up and ingestion went on.
    let after = count(&base, "db2.transactions");
    wait_rows(&base, "db2.transactions", before + 1);
    assert!(after >= before);
}

/// One MCP `tools/call` over streamable HTTP (`POST /mcp`): initialize, the initialized
/// notification, the call, in the session the server names; its JSON-RPC reply.
fn mcp_http_call(base: &str, params: Value) -> Value {
    let url = format!("{base}/mcp");
    let post = |session: Option<&str>, body: Value| {
        let mut req = ureq::post(&url)
            .set("Content-Type", "application/json")
            .set("Accept", "application/json, text/event-stream");
        if let Some(s) = session {
            req = req.set("Mcp-Session-Id", s);
        }
        req.send_string(&body.to_string())
            .unwrap_or_else(|e| panic!("POST /mcp {body}: {e}"))
    };
    // A reply is JSON, or server-sent events whose data lines carry it.
    let reply_of = |r: ureq::Response| -> Value {
        let text = r.into_string().unwrap();
        let data: String = text
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .map(str::to_string)
            .unwrap_or(text);
        serde_json::from_str(&data).unwrap_or_else(|e| panic!("{e}: {data}"))
    };
    let init = post(
        None,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "hostile-test", "version": "0"}}}),
    );
    let session = init.header("mcp-session-id").map(str::to_string);
    let _ = reply_of(init);
    let _ = post(
        session.as_deref(),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );
    reply_of(post(
        session.as_deref(),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": params}),
    ))
}

/// One MCP `tools/call` through `streamq mcp --server base` over stdio: initialize, the
/// initialized notification, the call; its JSON-RPC reply.
fn mcp_call(base: &str, params: Value) -> Value {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_streamq"))
        .args(["mcp", "--server", base])
        .env("STREAMQ_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut send = |v: Value| writeln!(stdin, "{v}").unwrap();
    send(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "hostile-test", "version": "0"}}}),
    );
    let _init = lines.next().unwrap().unwrap();
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": params}));
    let reply = loop {
        let v: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        if v["id"] == 2 {
            break v;
        }
    };
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    reply
}

/// A kcat line (what `--file` replays).
fn kcat(topic: &str, partition: i32, offset: i64, id: u64, after: Value) -> String {
    let value =
        json!({"before": null, "after": after, "op": "c", "ts_ms": 1772438400000i64 + id as i64});
    json!({"topic": topic, "partition": partition, "offset": offset, "tstype": "create",
        "ts": 1772438400000i64, "broker": 1, "headers": null,
        "key": json!({"ID": id}).to_string(), "payload": value.to_string()})
    .to_string()
}

#[test]
fn wrong_kinds_and_impossible_offsets_are_quarantined_and_nothing_else_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hostile.jsonl");
    let mut f = std::fs::File::create(&path).unwrap();
    let t = "shop.payments";
    // QTY is discovered (integers, one fraction at the end: widened and recorded); CODE is
    // fixed as text by configuration (numbers and one postcode, all applied as text).
    let good = |id: u64| {
        json!({"ID": id, "AMOUNT": 10.5 + id as f64, "CREATED_AT": "2026-03-02T10:00:00Z",
            "QTY": if id == 445 { json!(2.5) } else { json!(2) },
            "CODE": if id == 301 { json!("SW1A") } else { json!(1010) }})
    };
    let mut offset = 0;
    let line = |f: &mut std::fs::File, off: i64, id: u64, after: Value| {
        writeln!(f, "{}", kcat(t, 0, off, id, after)).unwrap();
    };
    for id in 0..5 {
        line(&mut f, offset, id, good(id));
        offset += 1;
    }
    // Values of another kind where numbers and timestamps are established.
    let poison = [
        json!({"ID": 100, "AMOUNT": "12.50"}),
        json!({"ID": 101, "AMOUNT": {}}),
        json!({"ID": 102, "AMOUNT": []}),
        json!({"ID": 103, "AMOUNT": true}),
        json!({"ID": 104, "CREATED_AT": 9_200_000_000_000_000_000u64}),
    ];
    for (i, p) in poison.into_iter().enumerate() {
        line(&mut f, offset, 100 + i as u64, p);
        offset += 1;
    }
    // A redelivery (the same bytes at an applied offset) is skipped; another record claiming
    // an applied offset is quarantined.
    line(&mut f, 3, 3, good(3));
    line(&mut f, 4, 999, good(999));
    // Impossible offsets, then 146 ordinary records that must all be applied.
    line(&mut f, -7, 200, good(200));
    line(&mut f, 1 << 62, 201, good(201));
    for id in 300..446 {
        line(&mut f, offset, id, good(id));
        offset += 1;
    }
    drop(f);

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_streamq"));
    cmd.arg("serve")
        .current_dir(dir.path())
        .args(["--file", path.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .env("STREAMQ_LOG", "warn")
        .env(
            "STREAMQ_INGEST__COLUMN_TYPES",
            r#"{ "shop.payments.code" = "VARCHAR" }"#,
        );
    let server = Served::start(cmd);
    let base = server.base.clone();
    wait_rows(&base, t, 5 + 146);
    // Wait for the source to finish (every record seen), then check everything.
    let deadline = Instant::now() + Duration::from_secs(60);
    while get_json(&format!("{base}/readyz")).0 != 200 {
        assert!(Instant::now() < deadline, "the replay never finished");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(count(&base, t), 5 + 146, "every good record is applied");

    let (_, tables) = get_json(&format!("{base}/api/tables/{t}"));
    let ty = |name: &str| {
        tables["columns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["type"].as_str().unwrap().to_string())
    };
    assert_eq!(ty("amount").as_deref(), Some("DOUBLE"), "{tables}");
    assert_eq!(ty("created_at").as_deref(), Some("TIMESTAMP"), "{tables}");
    assert_eq!(ty("qty").as_deref(), Some("DOUBLE"), "{tables}");
    assert_eq!(ty("code").as_deref(), Some("VARCHAR"), "{tables}");
    let (status, body) = post_sql(&base, &format!("SELECT sum(amount) FROM {t}"));
    assert_eq!(status, 200, "SUM still works: {body}");
    let (status, body) = post_sql(
        &base,
        &format!(
            "SELECT count(*) FILTER (WHERE code = 'SW1A'), count(*) FILTER (WHERE code = '1010') FROM {t}"
        ),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rows"][0], json!([1, 150]), "{body}");
    let (status, body) = post_sql(&base, &format!("SELECT count(*) FROM {t} WHERE id = 999"));
    assert_eq!((status, &body["rows"][0][0]), (200, &json!(0)), "{body}");

    // The schema history: each column's appearance and the one widening, with its record.
    let history = tables["schema_history"].as_array().unwrap();
    let find = |col: &str, change: &str| {
        history
            .iter()
            .find(|h| h["column"] == col && h["change"] == change)
            .unwrap_or_else(|| panic!("no {change} of {col} in {history:?}"))
    };
    assert_eq!(find("amount", "added")["to"], "DOUBLE");
    assert_eq!(find("code", "added")["by"], "configuration");
    let widened = find("qty", "widened");
    assert_eq!(
        (&widened["from"], &widened["to"], &widened["by"]),
        (&json!("INT"), &json!("DOUBLE"), &json!("value")),
        "{widened}"
    );
    assert_eq!(widened["offset"].as_i64(), Some(offset - 1), "{widened}");
    assert!(
        history
            .iter()
            .all(|h| h["column"] != "amount" || h["change"] == "added"),
        "the refused values changed nothing: {history:?}"
    );

    let (_, q) = get_json(&format!("{base}/api/quarantine"));
    let entries = q["entries"].as_array().unwrap();
    let reasons: Vec<(i64, String)> = entries
        .iter()
        .map(|e| {
            (
                e["offset"].as_i64().unwrap(),
                e["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(reasons.len(), 8, "{reasons:?}");
    for (off, want) in [
        (
            4,
            "offset 4 was already applied with a different key or value",
        ),
        (5, r#"amount: expected a number, got "12.50""#),
        (6, "amount: expected a number, got"),
        (8, "amount: expected a number, got true"),
        (9, "created_at: expected a timestamp"),
        (-7, "offset -7 is negative"),
        (1 << 62, "ingest.max_offset_jump"),
    ] {
        assert!(
            reasons.iter().any(|(o, r)| *o == off && r.contains(want)),
            "offset {off}: {want:?} not in {reasons:?}"
        );
    }
}

fn post(url: &str, body: Value) -> (u16, Value) {
    match ureq::post(url).send_json(body) {
        Ok(r) => (r.status(), r.into_json().unwrap_or(Value::Null)),
        Err(ureq::Error::Status(c, r)) => (c, r.into_json().unwrap_or(Value::Null)),
        Err(e) => panic!("{e}"),
    }
}

/// Threads of the process whose name starts with `prefix`.
fn threads_named(pid: u32, prefix: &str) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.starts_with(prefix))
        })
        .count()
}

#[test]
fn caps_answer_clear_errors_and_the_server_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = demo_cmd(dir.path());
    cmd.env("STREAMQ_WS__MAX_CONNECTIONS", "100")
        .env("STREAMQ_WS__MAX_CONNECTIONS_PER_CLIENT", "5000")
        .env("STREAMQ_WS__MAX_SUBSCRIPTIONS", "8")
        .env("STREAMQ_WS__MAX_QUERIES", "2")
        .env("STREAMQ_LIVE__MAX_RULES_PER_CLIENT", "5000")
        .env("STREAMQ_LIVE__WEBHOOK_WORKERS", "4")
        .env("STREAMQ_LIVE__WEBHOOK_TIMEOUT_MS", "2000")
        // The dead receiver is on loopback, which webhooks reach only when listed.
        .env("STREAMQ_LIVE__WEBHOOK_ALLOW", "127.0.0.1");
    let server = Served::start(cmd);
    let base = server.base.clone();
    let pid = server.child.id();
    wait_rows(&base, "db2.orders", 50);
    let before = count(&base, "db2.orders");

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // 2 000 connection attempts: the first 100 are held open, every later one gets 429.
        let url = format!("{}/ws", base.replace("http://", "ws://"));
        let mut open = Vec::new();
        let mut refused = 0;
        for _ in 0..2000 {
            match tokio_tungstenite::connect_async(&url).await {
                Ok((ws, _)) => open.push(ws),
                Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
                    assert_eq!(r.status(), 429);
                    refused += 1;
                }
                Err(e) => panic!("connection attempt failed: {e}"),
            }
        }
        assert_eq!((open.len(), refused), (100, 1900));
        drop(open);

        // Subscriptions and continuous queries per connection, and the message size.
        let mut c = loop {
            // The dropped connections free their places as the server notices them close.
            match tokio_tungstenite::connect_async(&url).await {
                Ok(_) => break common::ws::Client::connect(&base).await,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        for i in 0..3 {
            c.send(json!({"subscribe": "query", "id": format!("q{i}"), "sql": "SELECT 1", "every_ms": 60000}))
                .await;
        }
        for i in 0..8 {
            c.send(json!({"subscribe": "insights", "id": format!("i{i}")}))
                .await;
        }
        c.wait_for("error", 3).await;
        let errors = c.of_type("error");
        assert!(errors.iter().all(|e| e["code"] == "limit_reached"), "{errors:?}");
        assert!(errors[0]["message"].as_str().unwrap().contains("ws.max_queries"));
        assert!(errors[1]["message"].as_str().unwrap().contains("ws.max_subscriptions"));
        let big = "x".repeat(2 << 20);
        c.send(json!({"subscribe": big})).await;
        c.wait_for("error", 4).await;
        assert_eq!(c.of_type("error")[3]["code"], "too_large");
    });

    // 1 000 alert rules at a receiver that accepts and never answers: 500 are created, the
    // rest get 429, and their deliveries share the webhook workers.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hook = format!("http://{}/hook", dead.local_addr().unwrap());
    let mut created = 0;
    for _ in 0..1000 {
        let (code, body) = post(
            &format!("{base}/api/alerts"),
            json!({"table": "db2.orders", "measure": {"agg": "count"}, "window_ms": 60_000,
                   "condition": {"op": ">", "value": 0.0}, "webhook": hook}),
        );
        match code {
            201 => created += 1,
            429 => assert_eq!(body["code"], "limit_reached", "{body}"),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(created, 500);
    // Wait until deliveries are under way (a rule fired), then count the threads.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let (_, rules) = get_json(&format!("{base}/api/alerts"));
        let attempted = rules["rules"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| {
                !r["webhook_status"]["last_attempt_at"].is_null()
                    || r["webhook_status"]["queued"].as_u64().unwrap_or(0) > 0
            })
            .count();
        if attempted >= 10 {
            break;
        }
        assert!(Instant::now() < deadline, "no rule fired: {rules}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(threads_named(pid, "streamq-webhook") <= 4);

    // A question past the length cap, and a body past the body limit.
    let (code, body) = post(
        &format!("{base}/api/ask"),
        json!({"question": "how many ".repeat(400)}),
    );
    assert_eq!(
        (code, body["code"].as_str()),
        (413, Some("too_large")),
        "{body}"
    );
    // A 3 MiB body: the server answers once it has read past the limit, so the body is
    // written on its own thread (it may see a broken pipe) while the reply is read here.
    let reply = {
        use std::io::Read;
        let addr = base.trim_start_matches("http://");
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut writer = conn.try_clone().unwrap();
        let body = format!(r#"{{"sql": "SELECT '{}'"}}"#, "x".repeat(3 << 20));
        let head = format!(
            "POST /api/sql HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        let sending = std::thread::spawn(move || {
            let _ = writer.write_all(head.as_bytes());
            let _ = writer.write_all(body.as_bytes());
        });
        let mut reply = Vec::new();
        let _ = conn.read_to_end(&mut reply);
        let _ = sending.join();
        String::from_utf8_lossy(&reply).to_string()
    };
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(reply.contains(r#""code":"too_large""#), "{reply}");

    wait_rows(&base, "db2.orders", before + 1);
    drop(dead);
}

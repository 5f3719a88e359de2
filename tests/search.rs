//! Full-text search over the dev data equals a brute-force scan of the live rows, written here
//! independently of streamq's code; and `text_match` in SQL agrees.

mod common;

use std::collections::BTreeSet;

use common::{TestServer, post_sql, shared};

fn toks(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// One clause of a test query: an optional column, and a phrase (one or more tokens).
struct Clause {
    column: Option<&'static str>,
    phrase: Vec<String>,
}

fn clauses(q: &'static str) -> Vec<Clause> {
    // The test queries are conjunctions of `[column:]term` and `[column:]"a phrase"`.
    let mut out = Vec::new();
    let mut rest = q.trim();
    while !rest.is_empty() {
        let (column, body) = match rest.split_once(':') {
            Some((c, b)) if !c.contains(' ') && !c.contains('"') => (Some(c), b),
            _ => (None, rest),
        };
        let (phrase, next) = if let Some(b) = body.strip_prefix('"') {
            let end = b.find('"').unwrap();
            (&b[..end], &b[end + 1..])
        } else {
            match body.find(' ') {
                Some(i) => (&body[..i], &body[i..]),
                None => (body, ""),
            }
        };
        out.push(Clause {
            column,
            phrase: toks(phrase),
        });
        rest = next.trim();
    }
    out
}

fn brute_force(
    rows: &[serde_json::Value],
    columns: &[String],
    q: &'static str,
) -> BTreeSet<String> {
    let cl = clauses(q);
    rows.iter()
        .filter(|row| {
            let row = row.as_array().unwrap();
            cl.iter().all(|c| {
                columns.iter().enumerate().skip(1).any(|(i, name)| {
                    let Some(v) = row[i].as_str() else {
                        return false;
                    };
                    let indexed = v.trim().contains(char::is_whitespace);
                    indexed
                        && c.column.is_none_or(|col| col == name)
                        && toks(v)
                            .windows(c.phrase.len())
                            .any(|w| w == c.phrase.as_slice())
                })
            })
        })
        .map(|row| row[0].as_str().unwrap().to_string())
        .collect()
}

const QUERIES: [(&str, &str, &str); 20] = [
    ("db2.transactions", "txn_id", "express"),
    ("db2.transactions", "txn_id", "contactless"),
    ("db2.transactions", "txn_id", "\"foreign transaction fee\""),
    (
        "db2.transactions",
        "txn_id",
        "description:\"express shipping\"",
    ),
    ("db2.transactions", "txn_id", "refund"),
    ("db2.transactions", "txn_id", "\"fourth coffee\""),
    ("db2.transactions", "txn_id", "\"blue yonder\""),
    ("db2.transactions", "txn_id", "description:atm"),
    ("db2.transactions", "txn_id", "salary payment"),
    ("db2.transactions", "txn_id", "\"monthly account fee\""),
    ("db2.transactions", "txn_id", "online purchase"),
    ("db2.transactions", "txn_id", "\"click and collect\""),
    ("db2.transactions", "txn_id", "merchant:\"coho winery\""),
    ("db2.transactions", "txn_id", "\"standing order\" rent"),
    ("db2.transactions", "txn_id", "peer"),
    ("db2.orders", "order_id", "notes:\"gift wrap\""),
    ("db2.orders", "order_id", "fragile"),
    ("db2.orders", "order_id", "\"leave at the door\""),
    ("hive.products", "product_id", "lamp"),
    ("hive.customers", "customer_id", "capital"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_results_equal_a_brute_force_scan() {
    let server = TestServer::replayed(&shared("data/dev-events.jsonl.gz"), |c| {
        c.query.max_rows = 100_000;
        c.text.enabled = true;
    })
    .await;
    for (table, key, q) in QUERIES {
        let schema = ureq::get(&format!("{}/api/tables/{table}", server.base))
            .call()
            .unwrap()
            .into_json::<serde_json::Value>()
            .unwrap();
        let mut columns = vec![key.to_string()];
        for c in schema["columns"].as_array().unwrap() {
            if c["type"] == "VARCHAR" && c["metadata"].is_null() && c["name"] != key {
                columns.push(c["name"].as_str().unwrap().to_string());
            }
        }
        let (_, all) = post_sql(
            &server.base,
            &format!("SELECT {} FROM {table}", columns.join(", ")),
        );
        let expected = brute_force(all["rows"].as_array().unwrap(), &columns, q);
        assert!(!expected.is_empty(), "{q}: the brute force finds rows");

        let resp: serde_json::Value = ureq::get(&format!("{}/api/search", server.base))
            .query("q", q)
            .query("table", table)
            .query("limit", "100000")
            .call()
            .map(|r| r.into_json().unwrap())
            .unwrap_or_else(|e| match e {
                ureq::Error::Status(_, r) => r.into_json().unwrap(),
                e => panic!("{e}"),
            });
        let hits = resp["hits"]
            .as_array()
            .unwrap_or_else(|| panic!("{q}: {resp}"));
        let got: BTreeSet<String> = hits
            .iter()
            .map(|h| h["row"][key].as_str().unwrap().to_string())
            .collect();
        assert_eq!(got.len(), hits.len(), "{q}: each row once");
        assert_eq!(got, expected, "{q}");
        assert!(
            hits.iter()
                .all(|h| h["snippet"].as_str().unwrap().contains("<b>")),
            "{q}: highlighted"
        );
        let scores: Vec<f64> = hits.iter().map(|h| h["score"].as_f64().unwrap()).collect();
        assert!(
            scores.windows(2).all(|w| w[0] >= w[1]),
            "{q}: merged by score"
        );
    }
    // The same rule as a SQL predicate.
    let (_, n) = post_sql(
        &server.base,
        "SELECT count(*) FROM db2.transactions WHERE text_match(description, '\"express shipping\"')",
    );
    let (_, all) = post_sql(
        &server.base,
        "SELECT txn_id, description FROM db2.transactions",
    );
    let cols = vec!["txn_id".to_string(), "description".to_string()];
    let expected = brute_force(
        all["rows"].as_array().unwrap(),
        &cols,
        "description:\"express shipping\"",
    );
    assert_eq!(n["rows"][0][0].as_u64(), Some(expected.len() as u64));

    // A time range on _ts narrows the hits.
    let narrow: serde_json::Value = ureq::get(&format!("{}/api/search", server.base))
        .query("q", "express")
        .query("table", "db2.transactions")
        .query("from", "2026-03-02T09:00:00Z")
        .query("to", "2026-03-02T09:10:00Z")
        .query("limit", "100000")
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    let hits = narrow["hits"].as_array().unwrap();
    assert!(!hits.is_empty());
    assert!(hits.iter().all(|h| {
        let ts = h["row"]["_ts"].as_str().unwrap();
        ("2026-03-02T09:00:00"..="2026-03-02T09:10:00").contains(&&ts[..19])
    }));
    let (status, bad) = common::get_json(&format!("{}/api/search?q=%22unclosed", server.base));
    assert_eq!(status, 400, "{bad}");
    server.stop().await;
}

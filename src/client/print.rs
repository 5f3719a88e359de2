//! What `streamq sql` and `streamq ask` print: the reply as a terminal table.

use serde_json::{Value as Json, json};

use crate::client::{CallError, Client};

/// Runs one SQL query on the server and prints the rows.
pub fn sql(client: &Client, sql: &str) -> Result<(), CallError> {
    let body = client.post("/api/sql", json!({ "sql": sql }))?;
    println!("{}", rows_table(&body));
    Ok(())
}

/// Asks the server a question; prints the answer, the SQL and the rows, or the clarification.
pub fn ask(client: &Client, question: &str, as_of: Option<&str>) -> Result<(), CallError> {
    let body = client.post("/api/ask", json!({ "question": question, "as_of": as_of }))?;
    if let Some(c) = body["clarify"].as_str() {
        println!("{c}");
        for cand in body["candidates"].as_array().into_iter().flatten() {
            println!("  - {}", cand.as_str().unwrap_or(""));
        }
        return Ok(());
    }
    println!("{}", body["answer"].as_str().unwrap_or(""));
    println!("\nSQL: {}", body["sql"].as_str().unwrap_or(""));
    println!("confidence {}", body["confidence"]);
    let columns: Vec<Json> = body["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| json!({ "name": c }))
        .collect();
    println!(
        "{}",
        rows_table(&json!({
            "columns": columns,
            "rows": body["rows"],
            "took_ms": body["took_ms"],
            "truncated": false,
        }))
    );
    Ok(())
}

/// A `{columns, rows, took_ms, truncated}` reply as a table and a count line.
pub fn rows_table(body: &Json) -> String {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(
        body["columns"]
            .as_array()
            .map(|c| {
                c.iter()
                    .map(|c| c["name"].as_str().unwrap_or("").to_string())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default(),
    );
    let rows = body["rows"].as_array().cloned().unwrap_or_default();
    for row in &rows {
        table.add_row(
            row.as_array()
                .map(|r| {
                    r.iter()
                        .map(|v| match v {
                            Json::String(s) => s.clone(),
                            Json::Null => "NULL".into(),
                            other => other.to_string(),
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default(),
        );
    }
    format!(
        "{table}\n{} row{}{} in {} ms",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" },
        if body["truncated"].as_bool() == Some(true) {
            " (truncated)"
        } else {
            ""
        },
        body["took_ms"]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_prints_its_columns_rows_and_count() {
        let t = rows_table(&json!({
            "columns": [{"name": "region"}, {"name": "n"}],
            "rows": [["EU", 3], [null, 1]],
            "took_ms": 2,
            "truncated": true,
        }));
        assert!(t.contains("region") && t.contains("EU") && t.contains("NULL"));
        assert!(t.ends_with("2 rows (truncated) in 2 ms"), "{t}");
    }
}

//! Continuous queries: SQL (or a question's SQL) run once on subscribing, then again as the
//! tables it reads change; a result is pushed only when its rows differ.

use std::sync::Arc;
use std::time::Duration;

use crate::error::{ErrorCode, HasCode};
use crate::privacy::sight::Sight;
use crate::web::AppState;
use crate::web::ws::protocol::ServerFrame;
use crate::web::ws::queue::{Out, Queue, error_frame, frame};

pub(super) async fn start_query(
    st: &AppState,
    queue: &Arc<Queue>,
    id: &str,
    sql: Option<&str>,
    question: Option<&str>,
    every_ms: Option<u64>,
    sight: Sight,
) -> Result<tokio::task::JoinHandle<()>, Out> {
    let every = Duration::from_millis(every_ms.unwrap_or(1000).max(50));
    let sql = match (sql, question) {
        (Some(sql), _) => sql.to_string(),
        (None, Some(q)) => match st.assistant.parse(q, None).await {
            Ok((crate::llm::parse::Parsed::Plan { plan, .. }, _)) => {
                let hidden = st.assistant.hidden_matches(&plan, &sight);
                if !hidden.is_empty() {
                    return Err(error_frame(
                        ErrorCode::BadRequest,
                        crate::llm::masked_clarification(&hidden),
                    ));
                }
                plan.to_sql()
            }
            Ok((crate::llm::parse::Parsed::Clarify { message, .. }, _)) => {
                return Err(error_frame(ErrorCode::BadRequest, message));
            }
            Err(e) => return Err(error_frame(e.code(), e.to_string())),
        },
        (None, None) => {
            return Err(error_frame(
                ErrorCode::BadRequest,
                "query needs \"sql\" or \"question\"",
            ));
        }
    };
    // Check it runs before subscribing; then re-run when its tables change.
    let first = match st.engine.sql_as(&sql, &sight).await {
        Ok(r) => r,
        Err(e) => {
            let code = e.code();
            return Err(error_frame(code, e.to_string()));
        }
    };
    let tables = st.engine.tables_of(&sql).unwrap_or_default();
    let engine = st.engine.clone();
    let catalog = st.node.catalog.clone();
    let mut applied = st.node.pipeline.changes.watch_applied();
    let queue = queue.clone();
    let id = id.to_string();
    let version = move || -> u64 {
        let all = tables.is_empty();
        catalog
            .tables()
            .into_iter()
            .filter(|t| all || tables.contains(&t.schema.read().name.to_string()))
            .map(|t| {
                t.partitions()
                    .iter()
                    .map(|(_, p)| p.rows.read().version)
                    .sum::<u64>()
                    + t.schema.read().version
            })
            .sum()
    };
    Ok(tokio::spawn(async move {
        let mut last_rows = serde_json::to_string(&first.rows).unwrap_or_default();
        let mut seen = version();
        let push = |r: &crate::query::QueryResult| {
            queue.push(frame(
                "result",
                &ServerFrame::Result {
                    sub: &id,
                    sql: &sql,
                    columns: &r.columns,
                    rows: &r.rows,
                    truncated: r.truncated,
                    took_ms: r.took_ms,
                },
            ));
        };
        push(&first);
        loop {
            if applied.changed().await.is_err() {
                break;
            }
            tokio::time::sleep(every).await;
            let now = version();
            if now == seen {
                continue;
            }
            seen = now;
            match engine.sql_as(&sql, &sight).await {
                Ok(r) => {
                    let rows = serde_json::to_string(&r.rows).unwrap_or_default();
                    if rows != last_rows {
                        last_rows = rows;
                        push(&r);
                    }
                }
                Err(e) => {
                    queue.push(error_frame(e.code(), e.to_string()));
                }
            }
        }
    }))
}

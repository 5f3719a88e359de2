//! Tails: a table's applied changes pushed to subscribers, filtered by a SQL predicate that
//! DataFusion compiles once per schema version. One task per (table, filter) evaluates each
//! batch once and hands the same frames to every subscriber of it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{Array, BooleanArray};
use datafusion::common::DFSchema;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::prelude::SessionContext;
use parking_lot::Mutex;
use tokio::sync::broadcast;

use crate::actors::changes::ChangeBatch;
use crate::error::ErrorCode;
use crate::privacy::sight::Sight;
use crate::query::limits::Limits;
use crate::web::AppState;
use crate::web::ws::protocol::{ChangeBody, change_frame};
use crate::web::ws::queue::{Out, Queue, error_frame};

/// Why a tail filter cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// DataFusion could not read or plan the predicate.
    #[error("{0}")]
    Plan(#[from] datafusion::error::DataFusionError),
    #[error("the filter is not a true/false condition")]
    NotBoolean,
    #[error("{0}")]
    TooComplex(#[from] crate::query::limits::TooComplex),
}

impl crate::error::HasCode for FilterError {
    fn code(&self) -> ErrorCode {
        match self {
            FilterError::TooComplex(_) => ErrorCode::QueryTooComplex,
            _ => ErrorCode::InvalidQuery,
        }
    }
}

/// A SQL predicate over a table's rows (columns and `_op`, `_ts`, `_partition`, `_offset`),
/// compiled by DataFusion once per schema version.
pub struct Filter {
    text: String,
    /// Compiled for a schema version and the Arrow schema it had (which masking can change
    /// without a new version).
    compiled: Option<(
        u64,
        datafusion::arrow::datatypes::SchemaRef,
        Arc<dyn PhysicalExpr>,
    )>,
    ctx: SessionContext,
    /// Evaluation recurses over the expression: it is measured before it is compiled.
    limits: Limits,
    measured: bool,
}

impl Filter {
    pub fn new(text: &str, limits: Limits) -> Self {
        Self {
            text: text.to_string(),
            compiled: None,
            ctx: SessionContext::new(),
            limits,
            measured: false,
        }
    }

    /// Refuses a filter deeper than the query limits (a text that does not parse is left to
    /// DataFusion, whose message says where).
    fn measure(&mut self) -> Result<(), FilterError> {
        if self.measured {
            return Ok(());
        }
        use datafusion::sql::sqlparser::{dialect::GenericDialect, parser::Parser};
        if let Ok(expr) = Parser::new(&GenericDialect {})
            .try_with_sql(&self.text)
            .and_then(|mut p| p.parse_expr())
        {
            crate::query::limits::check_expr(&expr, self.limits)?;
        }
        self.measured = true;
        Ok(())
    }

    pub fn compile(
        &mut self,
        schema_version: u64,
        schema: &datafusion::arrow::datatypes::SchemaRef,
    ) -> Result<Arc<dyn PhysicalExpr>, FilterError> {
        if let Some((v, s, e)) = &self.compiled
            && *v == schema_version
            && (Arc::ptr_eq(s, schema) || s.fields() == schema.fields())
        {
            return Ok(e.clone());
        }
        self.measure()?;
        let df = DFSchema::try_from(schema.as_ref().clone())?;
        let expr = self.ctx.parse_sql_expr(&self.text, &df)?;
        let phys = self.ctx.create_physical_expr(expr, &df)?;
        self.compiled = Some((schema_version, schema.clone(), phys.clone()));
        Ok(phys)
    }

    /// Which rows of the batch match (`rows`: the batch's rows as the subscriber sees them).
    fn matches(
        &mut self,
        b: &ChangeBatch,
        columns: &[crate::store::schema::ColumnDef],
        rows: &[&crate::store::table::Row],
    ) -> Result<Vec<bool>, FilterError> {
        self.mask(columns, b.schema_version, b.partition, rows)
    }

    /// Which of `rows` (all of one partition) match.
    pub fn mask(
        &mut self,
        columns: &[crate::store::schema::ColumnDef],
        schema_version: u64,
        partition: i32,
        rows: &[&crate::store::table::Row],
    ) -> Result<Vec<bool>, FilterError> {
        let batch = crate::store::table::rows_batch(columns, partition, rows);
        let expr = self.compile(schema_version, &batch.schema())?;
        let v = expr
            .evaluate(&batch)
            .and_then(|c| c.into_array(batch.num_rows()))?;
        let mask = v
            .as_any()
            .downcast_ref::<BooleanArray>()
            .ok_or(FilterError::NotBoolean)?;
        Ok((0..mask.len())
            .map(|i| mask.is_valid(i) && mask.value(i))
            .collect())
    }
}

/// A group: the table, the filter, and what its subscribers see unmasked.
type GroupKey = (String, String, String);

/// Subscribers with the same sight see the same frames.
fn sight_key(sight: &Sight) -> String {
    format!("{sight:?}")
}

/// A group's table and how its subscribers see it.
struct Seer {
    name: String,
    sight: Sight,
    privacy: Arc<crate::privacy::Privacy>,
    catalog: Arc<crate::store::catalog::Catalog>,
}

/// Tails shared by every connection: one task per (table, filter) evaluates each batch once
/// and hands the same frames to all its subscribers.
#[derive(Default)]
pub struct Tails {
    groups: Mutex<HashMap<GroupKey, Arc<TailGroup>>>,
    next: std::sync::atomic::AtomicU64,
}

struct TailGroup {
    members: Mutex<Vec<(u64, String, Arc<Queue>)>>,
    task: Mutex<Option<tokio::task::AbortHandle>>,
}

/// A subscriber's place in a group; leaving (unsubscribe, disconnect) drops it.
struct Member {
    tails: Arc<Tails>,
    key: GroupKey,
    uid: u64,
}

impl Drop for Member {
    fn drop(&mut self) {
        let mut groups = self.tails.groups.lock();
        if let Some(g) = groups.get(&self.key) {
            let mut m = g.members.lock();
            m.retain(|(u, _, _)| *u != self.uid);
            if m.is_empty() {
                if let Some(t) = g.task.lock().take() {
                    t.abort();
                }
                drop(m);
                groups.remove(&self.key);
            }
        }
    }
}

pub(super) fn start_tail(
    st: &AppState,
    queue: &Arc<Queue>,
    id: &str,
    table: Option<&str>,
    filter: Option<&str>,
    sight: Sight,
) -> Result<tokio::task::JoinHandle<()>, Out> {
    let Some(table) = table else {
        return Err(error_frame(ErrorCode::BadRequest, "tail needs a \"table\""));
    };
    // A table that does not exist yet is waited for: its first changes are not missed. The
    // filter is then checked against its first batch.
    let name = crate::ident::TableName::parse(table);
    let live_table = st.node.catalog.get(&name);
    let name = name.to_string();
    let text = filter.map(str::trim).unwrap_or_default().to_string();
    if !text.is_empty()
        && let Some(t) = &live_table
    {
        let mut f = Filter::new(&text, st.node.engine.limits());
        let (version, columns) = {
            let s = t.schema.read();
            (s.version, s.columns.clone())
        };
        // Compiled against the columns as this subscriber sees them.
        let columns = match st.node.privacy.mask_for(t, &sight) {
            Some(m) => m.columns(&columns),
            None => columns,
        };
        let schema = crate::store::table::arrow_schema_of(&columns);
        if let Err(e) = f.compile(version, &schema) {
            use crate::error::HasCode;
            return Err(error_frame(e.code(), format!("filter {text:?}: {e}")));
        }
    }
    let tails = st.tails.clone();
    // Subscribers who see the table alike share a group.
    let key = (name.clone(), text.clone(), sight_key(&sight));
    let uid = tails.next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    {
        let mut groups = tails.groups.lock();
        let group = groups.entry(key.clone()).or_insert_with(|| {
            let group = Arc::new(TailGroup {
                members: Mutex::new(Vec::new()),
                task: Mutex::new(None),
            });
            let limits = st.node.engine.limits();
            let filter = (!text.is_empty()).then(|| Filter::new(&text, limits));
            let guard = st.node.pipeline.changes.tail(&name);
            let rx = st.node.pipeline.changes.subscribe();
            let task = tokio::spawn(run_tail_group(
                group.clone(),
                Seer {
                    name: name.clone(),
                    sight,
                    privacy: st.node.privacy.clone(),
                    catalog: st.node.catalog.clone(),
                },
                filter,
                rx,
                guard,
                st.node.pipeline.changes.clone(),
            ));
            *group.task.lock() = Some(task.abort_handle());
            group
        });
        group
            .members
            .lock()
            .push((uid, id.to_string(), queue.clone()));
    }
    let member = Member { tails, key, uid };
    Ok(tokio::spawn(async move {
        let _member = member;
        std::future::pending::<()>().await;
    }))
}

/// Resumes a paused tail when the group ends.
struct Paused {
    feed: Arc<crate::actors::changes::Changes>,
    table: String,
    on: bool,
}

impl Paused {
    fn set(&mut self, on: bool) {
        if on != self.on {
            self.feed.set_full(&self.table, on);
            self.on = on;
        }
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        self.set(false);
    }
}

async fn run_tail_group(
    group: Arc<TailGroup>,
    seer: Seer,
    mut filter: Option<Filter>,
    mut rx: broadcast::Receiver<Arc<ChangeBatch>>,
    guard: crate::actors::changes::TailGuard,
    feed: Arc<crate::actors::changes::Changes>,
) {
    let _guard = guard;
    let name = seer.name.clone();
    // While every subscriber's queue is full, the partition actors stop building row images
    // for this table (a stuck client costs ingestion nothing); checked again every 100 ms.
    let mut paused = Paused {
        feed,
        table: name.clone(),
        on: false,
    };
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let to_all = |out: &dyn Fn() -> Out| {
        for (_, _, q) in group.members.lock().iter() {
            q.push(out());
        }
    };
    loop {
        let all_full = |g: &TailGroup| {
            let m = g.members.lock();
            !m.is_empty() && m.iter().all(|(_, _, q)| q.is_full())
        };
        let received = tokio::select! {
            r = rx.recv() => r,
            _ = tick.tick() => {
                let full = all_full(&group);
                if full && !paused.on {
                    for (_, _, q) in group.members.lock().iter() {
                        q.mark_gap();
                    }
                }
                paused.set(full);
                continue;
            }
        };
        let b = match received {
            Ok(b) => b,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                let msg = format!(
                    "the change feed ran {n} batches ahead of this tail; changes were missed"
                );
                to_all(&|| error_frame(ErrorCode::Internal, msg.clone()));
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => break,
        };
        if b.table != name {
            continue;
        }
        // Masked before the filter sees them: a filter on a masked column matches masked forms.
        let hide = seer
            .catalog
            .get(&crate::ident::TableName::parse(&name))
            .and_then(|t| seer.privacy.mask_for(&t, &seer.sight));
        let (columns, masked): (std::borrow::Cow<[_]>, Option<Vec<crate::store::table::Row>>) =
            match &hide {
                Some(m) => (
                    m.columns(&b.columns).into(),
                    Some(
                        b.changes
                            .iter()
                            .map(|c| crate::store::table::Row {
                                values: m.values(&c.row.values),
                                ..c.row.clone()
                            })
                            .collect(),
                    ),
                ),
                None => ((&b.columns[..]).into(), None),
            };
        let rows: Vec<&crate::store::table::Row> = match &masked {
            Some(m) => m.iter().collect(),
            None => b.changes.iter().map(|c| &c.row).collect(),
        };
        let mask = match filter.as_mut().map(|f| f.matches(&b, &columns, &rows)) {
            Some(Ok(m)) => Some(m),
            Some(Err(e)) => {
                let msg = format!("filter: {e}");
                to_all(&|| error_frame(ErrorCode::QueryFailed, msg.clone()));
                break;
            }
            None => None,
        };
        let members = group.members.lock().clone();
        let open: Vec<&(u64, String, Arc<Queue>)> =
            members.iter().filter(|(_, _, q)| !q.is_full()).collect();
        for (i, c) in b.changes.iter().enumerate() {
            if mask.as_ref().is_some_and(|m| !m[i]) {
                continue;
            }
            for (_, _, q) in members.iter().filter(|(_, _, q)| q.is_full()) {
                q.miss(1);
            }
            if open.is_empty() {
                continue;
            }
            // The frame is built once; each subscriber gets it with its own id.
            let mut row = serde_json::Map::new();
            for (col, v) in b.columns.iter().zip(&rows[i].values) {
                row.insert(col.name.clone(), v.to_json());
            }
            let body = ChangeBody {
                table: &b.table,
                partition: b.partition,
                offset: c.offset,
                op: (c.op as char).to_string(),
                ts: crate::store::value::format_timestamp_us(c.row.ts_ms * 1000),
                applied_us: b.applied_us,
                row,
            }
            .to_json();
            for (_, id, q) in &open {
                let text = change_frame(id, &body);
                q.push(Out {
                    text,
                    kind: "change",
                    applied_us: Some(b.applied_us),
                });
            }
        }
    }
}

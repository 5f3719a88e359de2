//! `/ws`: pushed insights, alert events, windows, the live change feed of a table (filtered by
//! a SQL predicate) and continuous queries, over one WebSocket.
//!
//! Client → server, JSON text frames:
//! `{"subscribe": "insights" | "alerts", "table"?}`, `{"subscribe": "windows", "table"?}`,
//! `{"subscribe": "tail", "table": "…", "filter"?: "SQL predicate"}`,
//! `{"subscribe": "query", "sql" | "question": "…", "every_ms"?: n}`, each with an optional
//! `"id"`; `{"unsubscribe": "<id>"}`. Server → client: `{"type": "subscribed", "sub", …}`,
//! `{"type": "insight" | "alert" | "window" | "change" | "result", "sub", …}`,
//! `{"type": "error", "code", "message"}`.
//!
//! Backpressure: each connection has a bounded queue. Publishing never waits: a frame that
//! finds the queue full is not queued and counted, and a connection whose queue stays full for
//! `slow_deadline_ms` is closed with a reason saying how many frames it missed — a client that
//! stops reading never slows ingestion. Pings keep idle connections alive.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use datafusion::arrow::array::{Array, BooleanArray};
use datafusion::common::DFSchema;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::prelude::SessionContext;
use futures::{SinkExt, StreamExt};
use parking_lot::Mutex;
use serde_json::json;
use tokio::sync::{Notify, broadcast};

use crate::live::feed::ChangeBatch;
use crate::web::AppState;
use crate::web::error::{ApiError, ErrorCode};

/// One frame waiting to be written.
struct Out {
    text: String,
    kind: &'static str,
    /// When the change it carries became durable (µs), for push latency.
    applied_us: Option<i64>,
}

/// A connection's outbound queue.
struct Queue {
    inner: Mutex<QueueInner>,
    ready: Notify,
    cap: usize,
}

#[derive(Default)]
struct QueueInner {
    frames: VecDeque<Out>,
    full_since: Option<Instant>,
    missed: u64,
    /// Changes went by uncounted while the feed was paused for this full queue.
    gap: bool,
    closed: bool,
}

impl Queue {
    fn new(cap: usize) -> Arc<Queue> {
        Arc::new(Queue {
            inner: Mutex::new(QueueInner::default()),
            ready: Notify::new(),
            cap: cap.max(1),
        })
    }

    /// Queues a frame unless the queue is full (never waits).
    fn push(&self, out: Out) -> bool {
        let mut q = self.inner.lock();
        if q.closed {
            return false;
        }
        if q.frames.len() >= self.cap {
            q.full_since.get_or_insert_with(Instant::now);
            q.missed += 1;
            return false;
        }
        q.frames.push_back(out);
        drop(q);
        self.ready.notify_one();
        true
    }

    fn pop(&self) -> Option<Out> {
        let mut q = self.inner.lock();
        let f = q.frames.pop_front();
        if q.frames.len() < self.cap && q.full_since.take().is_some() && (q.missed > 0 || q.gap) {
            // The client reads again before the deadline: tell it what it missed.
            let n = std::mem::take(&mut q.missed);
            let more = if std::mem::take(&mut q.gap) {
                " (at least; the changes of tailed tables meanwhile were not counted)"
            } else {
                ""
            };
            q.frames.push_back(error_frame(
                ErrorCode::FramesMissed,
                format!(
                    "{n} frames were not delivered while this connection's queue was full{more}"
                ),
            ));
        }
        f
    }

    fn mark_gap(&self) {
        let mut q = self.inner.lock();
        q.gap = true;
        q.full_since.get_or_insert_with(Instant::now);
    }

    fn is_full(&self) -> bool {
        let q = self.inner.lock();
        q.closed || q.frames.len() >= self.cap
    }

    /// Counts frames not even built because the queue was full.
    fn miss(&self, n: u64) {
        let mut q = self.inner.lock();
        q.full_since.get_or_insert_with(Instant::now);
        q.missed += n;
    }

    /// How long the queue has been full, and the frames it could not take.
    fn full_for(&self) -> Option<(Duration, u64)> {
        let q = self.inner.lock();
        q.full_since.map(|t| (t.elapsed(), q.missed))
    }

    fn close(&self) {
        self.inner.lock().closed = true;
        self.ready.notify_one();
    }
}

fn frame(kind: &'static str, v: serde_json::Value) -> Out {
    Out {
        text: v.to_string(),
        kind,
        applied_us: None,
    }
}

fn error_frame(code: ErrorCode, message: impl Into<String>) -> Out {
    frame(
        "error",
        json!({"type": "error", "code": code.as_str(), "message": message.into()}),
    )
}

/// Whether a browser page from `origin` may connect: listed, or (with no list) served by this
/// server. Clients that send no Origin are not browsers and are allowed.
fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get("origin").and_then(|v| v.to_str().ok()) else {
        return true;
    };
    if allowed
        .iter()
        .any(|a| a == "*" || a.eq_ignore_ascii_case(origin))
    {
        return true;
    }
    if !allowed.is_empty() {
        return false;
    }
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin
        .split_once("://")
        .map(|(_, h)| h)
        .unwrap_or(origin)
        .trim_end_matches('/');
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}

/// `GET /ws` (upgrade).
pub async fn upgrade(
    State(st): State<AppState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if !origin_allowed(&headers, &st.node.config.ws.allowed_origins) {
        let origin = headers
            .get("origin")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        tracing::warn!(%origin, "WebSocket refused: origin not allowed");
        return ApiError::new(
            ErrorCode::OriginNotAllowed,
            format!("origin {origin} may not open /ws; add it to ws.allowed_origins"),
        )
        .into_response();
    }
    ws.on_upgrade(move |socket| connection(socket, st))
}

async fn connection(socket: WebSocket, st: AppState) {
    let cfg = st.node.config.ws.clone();
    let metrics = st.node.metrics.clone();
    metrics.ws_connections.inc();
    let queue = Queue::new(cfg.queue_frames);
    let (mut sink, mut stream) = socket.split();
    let cut = Arc::new(Notify::new());
    let last_seen = Arc::new(Mutex::new(Instant::now()));

    // Writer: frames out, pings, and the slow-consumer cut.
    let writer = {
        let queue = queue.clone();
        let cut = cut.clone();
        let metrics = metrics.clone();
        let last_seen = last_seen.clone();
        let deadline = Duration::from_millis(cfg.slow_deadline_ms.max(1));
        let ping_every = Duration::from_millis(cfg.ping_ms.max(100));
        tokio::spawn(async move {
            let mut ping = tokio::time::interval(ping_every);
            ping.tick().await;
            let mut watch = tokio::time::interval(Duration::from_millis(100).min(deadline / 4));
            let reason: Option<(u16, String)> = 'conn: loop {
                while let Some(out) = queue.pop() {
                    let send = sink.send(Message::Text(out.text.into()));
                    tokio::pin!(send);
                    loop {
                        tokio::select! {
                            r = &mut send => {
                                if r.is_err() {
                                    break 'conn None;
                                }
                                metrics.ws_frames.with_label_values(&[out.kind]).inc();
                                if let Some(us) = out.applied_us {
                                    let now = chrono::Utc::now().timestamp_micros();
                                    metrics.ws_push_seconds.observe((now - us).max(0) as f64 / 1e6);
                                }
                                break;
                            }
                            _ = watch.tick() => {
                                if let Some((full, missed)) = queue.full_for()
                                    && full >= deadline
                                {
                                    break 'conn Some((1008, format!(
                                        "slow consumer: queue full for {} ms, {missed} frames not delivered",
                                        full.as_millis()
                                    )));
                                }
                            }
                            _ = cut.notified() => break 'conn None,
                        }
                    }
                }
                tokio::select! {
                    _ = queue.ready.notified() => {}
                    _ = cut.notified() => break None,
                    _ = watch.tick() => {
                        if let Some((full, missed)) = queue.full_for()
                            && full >= deadline
                        {
                            break Some((1008, format!(
                                "slow consumer: queue full for {} ms, {missed} frames not delivered",
                                full.as_millis()
                            )));
                        }
                    }
                    _ = ping.tick() => {
                        if last_seen.lock().elapsed() > ping_every * 3 {
                            break Some((1001, "no pong for three pings".into()));
                        }
                        if sink.send(Message::Ping(Vec::new().into())).await.is_err() {
                            break None;
                        }
                    }
                }
            };
            queue.close();
            if let Some((code, text)) = reason {
                let why = if code == 1008 {
                    "slow_consumer"
                } else {
                    "idle"
                };
                crate::telemetry::WsClosed { why, reason: &text }.emit(&metrics);
                let close = Message::Close(Some(CloseFrame {
                    code,
                    reason: text.into(),
                }));
                let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(close)).await;
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
        })
    };

    // Reader: commands in.
    let mut subs: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    let mut next = 1u64;
    loop {
        tokio::select! {
            msg = stream.next() => {
                let Some(Ok(msg)) = msg else { break };
                *last_seen.lock() = Instant::now();
                match msg {
                    Message::Text(t) => {
                        handle_command(&st, &queue, &mut subs, &mut next, t.as_str()).await;
                    }
                    Message::Close(_) => break,
                    _ => {}
                }
            }
            _ = wait_closed(&queue) => break,
        }
    }
    for (_, h) in subs.drain() {
        h.abort();
    }
    cut.notify_one();
    queue.close();
    let _ = writer.await;
    metrics.ws_connections.dec();
}

/// Resolves once the queue is closed (the writer gave up on the connection).
async fn wait_closed(queue: &Arc<Queue>) {
    loop {
        if queue.inner.lock().closed {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn handle_command(
    st: &AppState,
    queue: &Arc<Queue>,
    subs: &mut HashMap<String, tokio::task::JoinHandle<()>>,
    next: &mut u64,
    text: &str,
) {
    let Ok(cmd) = serde_json::from_str::<serde_json::Value>(text) else {
        queue.push(error_frame(
            ErrorCode::BadRequest,
            "frames must be JSON objects",
        ));
        return;
    };
    if let Some(id) = cmd.get("unsubscribe").and_then(|v| v.as_str()) {
        match subs.remove(id) {
            Some(h) => {
                h.abort();
                queue.push(frame("ack", json!({"type": "unsubscribed", "sub": id})));
            }
            None => {
                queue.push(error_frame(
                    ErrorCode::NotFound,
                    format!("no subscription {id}"),
                ));
            }
        }
        return;
    }
    let Some(kind) = cmd.get("subscribe").and_then(|v| v.as_str()) else {
        queue.push(error_frame(
            ErrorCode::BadRequest,
            "expected {\"subscribe\": \"insights\"|\"alerts\"|\"windows\"|\"tail\"|\"query\", …} or {\"unsubscribe\": id}",
        ));
        return;
    };
    let id = cmd
        .get("id")
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| {
            let id = format!("s{next}");
            *next += 1;
            id
        });
    if subs.contains_key(&id) {
        queue.push(error_frame(
            ErrorCode::BadRequest,
            format!("subscription {id} exists"),
        ));
        return;
    }
    let table = cmd
        .get("table")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let started = match kind {
        "insights" => {
            let rx = st.node.live.subscribe_insights();
            Ok(spawn_forward(
                rx,
                queue.clone(),
                id.clone(),
                "insight",
                table.clone(),
                |i| {
                    (
                        i.table.clone(),
                        serde_json::to_value(&**i).unwrap_or_default(),
                    )
                },
            ))
        }
        "alerts" => {
            let rx = st.node.live.subscribe_alerts();
            Ok(spawn_forward(
                rx,
                queue.clone(),
                id.clone(),
                "alert",
                table.clone(),
                |e| {
                    (
                        e.table.clone(),
                        serde_json::to_value(&**e).unwrap_or_default(),
                    )
                },
            ))
        }
        "windows" => {
            let rx = st.node.live.subscribe_windows();
            Ok(spawn_forward(
                rx,
                queue.clone(),
                id.clone(),
                "window",
                table.clone(),
                |w| {
                    (
                        w.table.clone(),
                        serde_json::to_value(&**w).unwrap_or_default(),
                    )
                },
            ))
        }
        "tail" => start_tail(
            st,
            queue,
            &id,
            table.as_deref(),
            cmd.get("filter").and_then(|v| v.as_str()),
        ),
        "query" => start_query(st, queue, &id, &cmd).await,
        other => Err(error_frame(
            ErrorCode::BadRequest,
            format!(
                "unknown subscription {other:?}; one of insights, alerts, windows, tail, query"
            ),
        )),
    };
    match started {
        Ok(handle) => {
            let mut ack = json!({"type": "subscribed", "sub": id, "subscribe": kind});
            for k in ["table", "filter", "sql", "question", "every_ms"] {
                if let Some(v) = cmd.get(k) {
                    ack[k] = v.clone();
                }
            }
            queue.push(frame("ack", ack));
            subs.insert(id, handle);
        }
        Err(e) => {
            queue.push(e);
        }
    }
}

/// Forwards a broadcast (insights, alerts, windows) into the queue, optionally for one table.
fn spawn_forward<T: Send + Sync + 'static>(
    mut rx: broadcast::Receiver<Arc<T>>,
    queue: Arc<Queue>,
    id: String,
    kind: &'static str,
    table: Option<String>,
    body: impl Fn(&Arc<T>) -> (String, serde_json::Value) + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(item) => {
                    let (t, v) = body(&item);
                    if table.as_ref().is_some_and(|want| *want != t) {
                        continue;
                    }
                    queue.push(frame(kind, json!({"type": kind, "sub": id, kind: v})));
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    queue.push(error_frame(
                        ErrorCode::Internal,
                        format!("{n} {kind} frames were lost behind a slow subscription"),
                    ));
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    })
}

/// A SQL predicate over a table's rows (columns and `_op`, `_ts`, `_partition`, `_offset`),
/// compiled by DataFusion once per schema version.
pub struct Filter {
    text: String,
    compiled: Option<(u64, Arc<dyn PhysicalExpr>)>,
    ctx: SessionContext,
}

impl Filter {
    pub fn new(text: &str) -> Self {
        Self {
            text: text.to_string(),
            compiled: None,
            ctx: SessionContext::new(),
        }
    }

    pub fn compile(
        &mut self,
        schema_version: u64,
        schema: &datafusion::arrow::datatypes::SchemaRef,
    ) -> Result<Arc<dyn PhysicalExpr>, String> {
        if let Some((v, e)) = &self.compiled
            && *v == schema_version
        {
            return Ok(e.clone());
        }
        let df = DFSchema::try_from(schema.as_ref().clone()).map_err(|e| e.to_string())?;
        let expr = self
            .ctx
            .parse_sql_expr(&self.text, &df)
            .map_err(|e| e.to_string())?;
        let phys = self
            .ctx
            .create_physical_expr(expr, &df)
            .map_err(|e| e.to_string())?;
        self.compiled = Some((schema_version, phys.clone()));
        Ok(phys)
    }

    /// Which rows of the batch match.
    fn matches(&mut self, b: &ChangeBatch) -> Result<Vec<bool>, String> {
        let rows: Vec<&crate::store::table::Row> = b.changes.iter().map(|c| &c.row).collect();
        self.mask(&b.columns, b.schema_version, b.partition, &rows)
    }

    /// Which of `rows` (all of one partition) match.
    pub fn mask(
        &mut self,
        columns: &[crate::store::catalog::ColumnDef],
        schema_version: u64,
        partition: i32,
        rows: &[&crate::store::table::Row],
    ) -> Result<Vec<bool>, String> {
        let batch = crate::store::table::rows_batch(columns, partition, rows);
        let expr = self.compile(schema_version, &batch.schema())?;
        let v = expr
            .evaluate(&batch)
            .and_then(|c| c.into_array(batch.num_rows()))
            .map_err(|e| e.to_string())?;
        let mask = v
            .as_any()
            .downcast_ref::<BooleanArray>()
            .ok_or_else(|| "the filter is not a true/false condition".to_string())?;
        Ok((0..mask.len())
            .map(|i| mask.is_valid(i) && mask.value(i))
            .collect())
    }
}

/// Tails shared by every connection: one task per (table, filter) evaluates each batch once
/// and hands the same frames to all its subscribers.
#[derive(Default)]
pub struct Tails {
    groups: Mutex<HashMap<(String, String), Arc<TailGroup>>>,
    next: std::sync::atomic::AtomicU64,
}

struct TailGroup {
    members: Mutex<Vec<(u64, String, Arc<Queue>)>>,
    task: Mutex<Option<tokio::task::AbortHandle>>,
}

/// A subscriber's place in a group; leaving (unsubscribe, disconnect) drops it.
struct Member {
    tails: Arc<Tails>,
    key: (String, String),
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

fn start_tail(
    st: &AppState,
    queue: &Arc<Queue>,
    id: &str,
    table: Option<&str>,
    filter: Option<&str>,
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
        let mut f = Filter::new(&text);
        let version = t.schema.read().version;
        if let Err(e) = f.compile(version, &t.arrow_schema()) {
            return Err(error_frame(
                ErrorCode::InvalidQuery,
                format!("filter {text:?}: {e}"),
            ));
        }
    }
    let tails = st.tails.clone();
    let key = (name.clone(), text.clone());
    let uid = tails.next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    {
        let mut groups = tails.groups.lock();
        let group = groups.entry(key.clone()).or_insert_with(|| {
            let group = Arc::new(TailGroup {
                members: Mutex::new(Vec::new()),
                task: Mutex::new(None),
            });
            let filter = (!text.is_empty()).then(|| Filter::new(&text));
            let guard = st.node.live.feed.tail(&name);
            let rx = st.node.live.feed.subscribe();
            let task = tokio::spawn(run_tail_group(
                group.clone(),
                name.clone(),
                filter,
                rx,
                guard,
                st.node.live.feed.clone(),
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
    feed: Arc<crate::live::feed::Feed>,
    table: String,
    on: bool,
}

impl Paused {
    fn set(&mut self, on: bool) {
        if on != self.on {
            self.feed.pause(&self.table, on);
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
    name: String,
    mut filter: Option<Filter>,
    mut rx: broadcast::Receiver<Arc<ChangeBatch>>,
    guard: crate::live::feed::TailGuard,
    feed: Arc<crate::live::feed::Feed>,
) {
    let _guard = guard;
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
        let mask = match filter.as_mut().map(|f| f.matches(&b)) {
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
            for (col, v) in b.columns.iter().zip(&c.row.values) {
                row.insert(col.name.clone(), v.to_json());
            }
            let op = (c.op as char).to_string();
            let body = json!({
                "table": b.table,
                "partition": b.partition,
                "offset": c.offset,
                "op": op,
                "ts": crate::store::value::format_timestamp_us(c.row.ts_ms * 1000),
                "applied_us": b.applied_us,
                "row": row,
            })
            .to_string();
            for (_, id, q) in &open {
                let text = format!(
                    "{{\"type\":\"change\",\"sub\":{},{}",
                    serde_json::Value::String(id.clone()),
                    &body[1..]
                );
                q.push(Out {
                    text,
                    kind: "change",
                    applied_us: Some(b.applied_us),
                });
            }
        }
    }
}

async fn start_query(
    st: &AppState,
    queue: &Arc<Queue>,
    id: &str,
    cmd: &serde_json::Value,
) -> Result<tokio::task::JoinHandle<()>, Out> {
    let every = Duration::from_millis(
        cmd.get("every_ms")
            .and_then(|v| v.as_u64())
            .unwrap_or(1000)
            .max(50),
    );
    let sql = match (
        cmd.get("sql").and_then(|v| v.as_str()),
        cmd.get("question").and_then(|v| v.as_str()),
    ) {
        (Some(sql), _) => sql.to_string(),
        (None, Some(q)) => match st.assistant.parse(q, None).await {
            Ok((crate::llm::parse::Parsed::Plan { plan, .. }, _)) => plan.to_sql(),
            Ok((crate::llm::parse::Parsed::Clarify { message, .. }, _)) => {
                return Err(error_frame(ErrorCode::BadRequest, message));
            }
            Err(e @ crate::llm::AskError::Model(_)) => {
                return Err(error_frame(ErrorCode::ModelUnavailable, e.to_string()));
            }
            Err(e) => return Err(error_frame(ErrorCode::BadRequest, e.to_string())),
        },
        (None, None) => {
            return Err(error_frame(
                ErrorCode::BadRequest,
                "query needs \"sql\" or \"question\"",
            ));
        }
    };
    // Check it runs before subscribing; then re-run when its tables change.
    let first = match st.engine.sql(&sql).await {
        Ok(r) => r,
        Err(e) => {
            let code = ErrorCode::from(&e);
            return Err(error_frame(code, e.to_string()));
        }
    };
    let tables = st.engine.tables_of(&sql).unwrap_or_default();
    let engine = st.engine.clone();
    let catalog = st.node.catalog.clone();
    let mut applied = st.node.live.feed.watch_applied();
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
                json!({"type": "result", "sub": id, "sql": sql, "columns": r.columns, "rows": r.rows, "truncated": r.truncated, "took_ms": r.took_ms}),
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
            match engine.sql(&sql).await {
                Ok(r) => {
                    let rows = serde_json::to_string(&r.rows).unwrap_or_default();
                    if rows != last_rows {
                        last_rows = rows;
                        push(&r);
                    }
                }
                Err(e) => {
                    queue.push(error_frame(ErrorCode::from(&e), e.to_string()));
                }
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_checked_against_the_list_or_the_host() {
        let mut h = HeaderMap::new();
        h.insert("host", "127.0.0.1:8080".parse().unwrap());
        assert!(origin_allowed(&h, &[]), "no Origin: not a browser");
        h.insert("origin", "http://127.0.0.1:8080".parse().unwrap());
        assert!(origin_allowed(&h, &[]), "the server's own pages");
        h.insert("origin", "http://evil.example".parse().unwrap());
        assert!(!origin_allowed(&h, &[]));
        assert!(origin_allowed(&h, &["http://evil.example".to_string()]));
        assert!(!origin_allowed(&h, &["https://dash.example".to_string()]));
    }

    #[test]
    fn a_full_queue_refuses_frames_and_remembers_since_when() {
        let q = Queue::new(2);
        assert!(q.push(frame("x", json!(1))));
        assert!(q.push(frame("x", json!(2))));
        assert!(!q.push(frame("x", json!(3))));
        let (_, missed) = q.full_for().unwrap();
        assert_eq!(missed, 1);
        assert!(q.pop().is_some());
        assert!(q.full_for().is_none(), "room again: no longer full");
    }
}

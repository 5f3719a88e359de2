//! `/ws`: pushed insights, alert events, windows, the live change feed of a table (filtered by
//! a SQL predicate) and continuous queries, over one WebSocket.
//!
//! The frames both ways are typed in [`protocol`]: a client subscribes
//! (`{"subscribe": "insights" | "alerts" | "windows" | "tail" | "query", …}`) and unsubscribes
//! (`{"unsubscribe": id}`); the server answers `{"type": "subscribed" | "insight" | "alert" |
//! "window" | "change" | "result" | "error", …}`.
//!
//! Backpressure: each connection has a bounded queue. Publishing never waits: a frame that
//! finds the queue full is not queued and counted, and a connection whose queue stays full for
//! `slow_deadline_ms` is closed with a reason saying how many frames it missed — a client that
//! stops reading never slows ingestion. Pings keep idle connections alive.

mod gate;
pub mod protocol;
mod query;
mod queue;
mod tail;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use parking_lot::Mutex;
use tokio::sync::{Notify, broadcast};

use crate::auth::Identity;
use crate::web::AppState;
use crate::web::door::{Caller, check_token, unauthorized};
use crate::web::error::{ApiError, ErrorCode};
pub use gate::Gate;
use protocol::{ClientMessage, ServerFrame, Subscribe};
use query::start_query;
use queue::{Queue, error_frame, frame};
use tail::start_tail;
pub use tail::{Filter, Tails};

/// `GET /ws` (upgrade).
/// The door has checked Host and Origin; credentials in the upgrade (a bearer header or the
/// dashboard's cookie) name the caller, and without them the first message must be
/// `{"auth": token}`. Bad credentials are refused before the upgrade.
pub async fn upgrade(
    State(st): State<AppState>,
    extensions: axum::http::Extensions,
    ws: WebSocketUpgrade,
) -> Response {
    let who = match extensions.get::<Caller>() {
        Some(Caller::Known(i)) => Some(i.clone()),
        Some(Caller::Refused(why)) => return unauthorized(why.clone()),
        Some(Caller::Anonymous) | None => None,
    };
    let cfg = &st.node.config.ws;
    let ip = extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
    let place = match st
        .ws_gate
        .admit(ip, cfg.max_connections, cfg.max_connections_per_client)
    {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(%ip, "WebSocket refused: {e}");
            return ApiError::new(ErrorCode::LimitReached, e.to_string()).into_response();
        }
    };
    let max = cfg.max_message_bytes.max(1024);
    ws.max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| connection(socket, st, place, who))
}

async fn connection(
    socket: WebSocket,
    st: AppState,
    _place: gate::Admitted,
    mut who: Option<Identity>,
) {
    let cfg = st.node.config.ws.clone();
    let metrics = st.node.metrics.clone();
    crate::telemetry::WsConnection::Opened.emit(&metrics);
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
                                crate::telemetry::WsFrameSent {
                                    kind: out.kind,
                                    applied_us: out.applied_us,
                                }
                                .emit(&metrics);
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
    let mut subs: HashMap<String, Sub> = HashMap::new();
    let mut next = 1u64;
    loop {
        tokio::select! {
            msg = stream.next() => {
                let msg = match msg {
                    Some(Ok(m)) => m,
                    Some(Err(e)) => {
                        // A message over ws.max_message_bytes (or a broken frame) ends the
                        // connection; say why before it closes.
                        queue.push(error_frame(
                            ErrorCode::TooLarge,
                            format!("{e} (ws.max_message_bytes = {})", cfg.max_message_bytes),
                        ));
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        break;
                    }
                    None => break,
                };
                *last_seen.lock() = Instant::now();
                match msg {
                    Message::Text(t) => {
                        handle_command(&st, &queue, &mut subs, &mut next, &mut who, t.as_str())
                            .await;
                    }
                    Message::Close(_) => break,
                    _ => {}
                }
            }
            _ = queue.closed() => break,
        }
    }
    for (_, s) in subs.drain() {
        s.handle.abort();
    }
    cut.notify_one();
    queue.close();
    let _ = writer.await;
    crate::telemetry::WsConnection::Closed.emit(&metrics);
}

/// A subscription of a connection: its task, and whether it is a continuous query.
struct Sub {
    handle: tokio::task::JoinHandle<()>,
    query: bool,
}

async fn handle_command(
    st: &AppState,
    queue: &Arc<Queue>,
    subs: &mut HashMap<String, Sub>,
    next: &mut u64,
    who: &mut Option<Identity>,
    text: &str,
) {
    let what = match ClientMessage::parse(text) {
        Ok(ClientMessage::Auth(token)) => {
            match check_token(st, &token) {
                Caller::Known(i) => {
                    queue.push(frame(
                        "ack",
                        &ServerFrame::Authenticated {
                            id: &i.id,
                            role: i.role,
                        },
                    ));
                    *who = Some(i);
                }
                Caller::Refused(why) => {
                    queue.push(error_frame(ErrorCode::Unauthorized, why));
                }
                Caller::Anonymous => {}
            }
            return;
        }
        Ok(ClientMessage::Unsubscribe(id)) => {
            match subs.remove(&id) {
                Some(s) => {
                    s.handle.abort();
                    queue.push(frame("ack", &ServerFrame::Unsubscribed { sub: &id }));
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
        Ok(ClientMessage::Subscribe(what)) => what,
        Err(e) => {
            queue.push(error_frame(ErrorCode::BadRequest, e.to_string()));
            return;
        }
    };
    let started = std::time::Instant::now();
    let current = identify_socket(st, who).ok();
    let result = subscribe(st, queue, subs, next, who, &what).await;
    audit_subscription(st, &what, current.as_ref(), result, started);
}

/// Checks and starts one subscription; the code of the error frame pushed when it is not.
async fn subscribe(
    st: &AppState,
    queue: &Arc<Queue>,
    subs: &mut HashMap<String, Sub>,
    next: &mut u64,
    who: &mut Option<Identity>,
    what: &Subscribe,
) -> Result<(), ErrorCode> {
    let what = what.clone();
    // Each subscription is checked: the token may have been revoked since the last one.
    let need = protocol::ws_need(what.kind());
    let current = match identify_socket(st, who) {
        Ok(i) => i,
        Err(e) => {
            queue.push(e);
            return Err(ErrorCode::Unauthorized);
        }
    };
    if !need.allows(current.role) {
        queue.push(error_frame(
            ErrorCode::Forbidden,
            format!(
                "a {} token may not subscribe to {}: it needs {}",
                current.role.as_str(),
                what.kind(),
                need.roles()
            ),
        ));
        return Err(ErrorCode::Forbidden);
    }
    let id = what.id().map(str::to_string).unwrap_or_else(|| {
        let id = format!("s{next}");
        *next += 1;
        id
    });
    if subs.contains_key(&id) {
        queue.push(error_frame(
            ErrorCode::BadRequest,
            format!("subscription {id} exists"),
        ));
        return Err(ErrorCode::BadRequest);
    }
    let cfg = &st.node.config.ws;
    subs.retain(|_, s| !s.handle.is_finished());
    if subs.len() >= cfg.max_subscriptions {
        queue.push(error_frame(
            ErrorCode::LimitReached,
            format!(
                "this connection holds {} subscriptions (ws.max_subscriptions); unsubscribe one first",
                subs.len()
            ),
        ));
        return Err(ErrorCode::LimitReached);
    }
    let is_query = matches!(what, Subscribe::Query { .. });
    if is_query && subs.values().filter(|s| s.query).count() >= cfg.max_queries {
        queue.push(error_frame(
            ErrorCode::LimitReached,
            format!(
                "this connection holds {} continuous queries (ws.max_queries); unsubscribe one first",
                cfg.max_queries
            ),
        ));
        return Err(ErrorCode::LimitReached);
    }
    let live = &st.node.live;
    let started = match &what {
        Subscribe::Insights { table, .. } => Ok(spawn_forward(
            live.subscribe_insights(),
            queue.clone(),
            id.clone(),
            table.clone(),
            |i| i.table.as_str(),
            "insight",
            |sub, insight| ServerFrame::Insight { sub, insight },
        )),
        Subscribe::Alerts { table, .. } => Ok(spawn_forward(
            live.subscribe_alerts(),
            queue.clone(),
            id.clone(),
            table.clone(),
            |e| e.table.as_str(),
            "alert",
            |sub, alert| ServerFrame::Alert { sub, alert },
        )),
        Subscribe::Windows { table, .. } => Ok(spawn_forward(
            live.subscribe_windows(),
            queue.clone(),
            id.clone(),
            table.clone(),
            |w| w.table.as_str(),
            "window",
            |sub, window| ServerFrame::Window { sub, window },
        )),
        Subscribe::Tail { table, filter, .. } => start_tail(
            st,
            queue,
            &id,
            table.as_deref(),
            filter.as_deref(),
            current.sight(),
        ),
        Subscribe::Query {
            sql,
            question,
            every_ms,
            ..
        } => {
            start_query(
                st,
                queue,
                &id,
                sql.as_deref(),
                question.as_deref(),
                *every_ms,
                current.sight(),
            )
            .await
        }
    };
    match started {
        Ok(handle) => {
            queue.push(frame(
                "ack",
                &ServerFrame::Subscribed {
                    sub: &id,
                    what: &what,
                },
            ));
            subs.insert(
                id,
                Sub {
                    handle,
                    query: is_query,
                },
            );
        }
        Err(e) => {
            queue.push(e);
            return Err(ErrorCode::BadRequest);
        }
    }
    Ok(())
}

/// The audit entry of a subscription: its kind, what it reads, and how it ended.
fn audit_subscription(
    st: &AppState,
    what: &Subscribe,
    who: Option<&Identity>,
    result: Result<(), ErrorCode>,
    started: std::time::Instant,
) {
    let (sql, question, filter, table) = match what {
        Subscribe::Query { sql, question, .. } => (sql.clone(), question.clone(), None, None),
        Subscribe::Tail { table, filter, .. } => (None, None, filter.clone(), table.clone()),
        Subscribe::Insights { table, .. }
        | Subscribe::Alerts { table, .. }
        | Subscribe::Windows { table, .. } => (None, None, None, table.clone()),
    };
    let status = match result {
        Ok(()) => 200,
        Err(code) => crate::web::error::status(code).as_u16(),
    };
    let tables = match (&table, &sql) {
        (Some(t), _) => vec![t.clone()],
        (None, Some(q)) => st.engine.tables_of(q).unwrap_or_default(),
        _ => Vec::new(),
    };
    st.node.audit.append(&crate::audit::Entry {
        at: crate::audit::now(),
        who: who.map(|i| i.id.clone()),
        name: who.map(|i| i.name.clone()),
        role: who.map(|i| i.role.as_str().to_string()),
        door: "ws".into(),
        method: "SUBSCRIBE".into(),
        route: format!("ws:{}", what.kind()),
        path: "/ws".into(),
        status,
        outcome: crate::web::trail::outcome(status).into(),
        code: result.err().map(|c| c.as_str().to_string()),
        ms: (started.elapsed().as_secs_f64() * 1e6).round() / 1e3,
        peer: None,
        detail: crate::audit::Detail {
            sql,
            question,
            filter,
            tables,
            ..Default::default()
        },
    });
}

/// Who the connection acts for now, or the error frame that says why it cannot subscribe.
fn identify_socket(st: &AppState, who: &Option<Identity>) -> Result<Identity, queue::Out> {
    if !st.tokens.enabled() {
        return Ok(Identity::open());
    }
    match who {
        Some(i) if st.tokens.still_valid(i) => Ok(i.clone()),
        Some(i) => Err(error_frame(
            ErrorCode::Unauthorized,
            format!(
                "token {} is no longer valid; reconnect with a valid one",
                i.id
            ),
        )),
        None => Err(error_frame(
            ErrorCode::Unauthorized,
            "send {\"auth\": \"<token>\"} first (or open /ws with an Authorization header)",
        )),
    }
}

/// Forwards a broadcast (insights, alerts, windows) into the queue, optionally for one table.
fn spawn_forward<T: Send + Sync + 'static>(
    mut rx: broadcast::Receiver<Arc<T>>,
    queue: Arc<Queue>,
    id: String,
    table: Option<String>,
    table_of: impl Fn(&T) -> &str + Send + 'static,
    kind: &'static str,
    frame_of: impl for<'a> Fn(&'a str, &'a T) -> ServerFrame<'a> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(item) => {
                    if table.as_ref().is_some_and(|want| want != table_of(&item)) {
                        continue;
                    }
                    queue.push(frame(kind, &frame_of(&id, &item)));
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

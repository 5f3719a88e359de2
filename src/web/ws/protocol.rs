//! The `/ws` protocol, typed: what a client sends ([`ClientMessage`]) and every frame the
//! server writes ([`ServerFrame`]). JSON text frames; the client's are tagged by `subscribe`
//! (or are `{"unsubscribe": id}`), the server's by `type`.

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::ident::Offset;

/// What a subscription kind needs of the connection's caller: pushed insights, alerts and
/// windows are views (viewer); a live tail of rows and a continuous query are analysis
/// (analyst).
pub fn ws_need(kind: &str) -> crate::auth::Need {
    match kind {
        "insights" | "alerts" | "windows" => crate::auth::Need::Viewer,
        _ => crate::auth::Need::Analyst,
    }
}

/// The subscription kinds (the protocol's names).
pub const WS_KINDS: [&str; 5] = ["insights", "alerts", "windows", "tail", "query"];

/// A subscription a client asks for; `id` names it (the server picks one if absent).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(tag = "subscribe", rename_all = "lowercase")]
pub enum Subscribe {
    /// Insights as the live engine finds them, of one table or all.
    Insights {
        #[serde(default, skip_serializing)]
        id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        table: Option<String>,
    },
    /// Alert rules firing and resolving.
    Alerts {
        #[serde(default, skip_serializing)]
        id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        table: Option<String>,
    },
    /// Windows as they close (and re-close with late events).
    Windows {
        #[serde(default, skip_serializing)]
        id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        table: Option<String>,
    },
    /// A table's applied changes, optionally filtered by a SQL predicate over the row.
    Tail {
        #[serde(default, skip_serializing)]
        id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        table: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filter: Option<String>,
    },
    /// A query (SQL or a plain-English question) re-run as its tables change.
    Query {
        #[serde(default, skip_serializing)]
        id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sql: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        question: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        every_ms: Option<u64>,
    },
}

impl Subscribe {
    /// The kind's name in the protocol (what [`ws_need`] is asked).
    pub fn kind(&self) -> &'static str {
        match self {
            Subscribe::Insights { .. } => "insights",
            Subscribe::Alerts { .. } => "alerts",
            Subscribe::Windows { .. } => "windows",
            Subscribe::Tail { .. } => "tail",
            Subscribe::Query { .. } => "query",
        }
    }

    /// The id the client gave, if any.
    pub fn id(&self) -> Option<&str> {
        match self {
            Subscribe::Insights { id, .. }
            | Subscribe::Alerts { id, .. }
            | Subscribe::Windows { id, .. }
            | Subscribe::Tail { id, .. }
            | Subscribe::Query { id, .. } => id.as_deref(),
        }
    }
}

/// One client frame.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientMessage {
    Subscribe(Subscribe),
    Unsubscribe(String),
    /// `{"auth": token}`: who the connection acts for, when the upgrade carried no credentials.
    Auth(String),
}

/// Why a client frame was not understood (answered as a `bad_request` error frame).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ProtocolError {
    #[error("frames must be JSON objects")]
    NotJson,
    #[error(
        "expected {{\"subscribe\": \"insights\"|\"alerts\"|\"windows\"|\"tail\"|\"query\", …}}, {{\"unsubscribe\": id}} or {{\"auth\": token}}"
    )]
    NoCommand,
    #[error("{0}; one of insights, alerts, windows, tail, query")]
    BadSubscription(String),
}

#[derive(Deserialize)]
struct Unsubscribe {
    unsubscribe: String,
}

impl ClientMessage {
    pub fn parse(text: &str) -> Result<ClientMessage, ProtocolError> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|_| ProtocolError::NotJson)?;
        if !v.is_object() {
            return Err(ProtocolError::NotJson);
        }
        if let Some(token) = v.get("auth").and_then(|t| t.as_str()) {
            return Ok(ClientMessage::Auth(token.to_string()));
        }
        if v.get("unsubscribe").is_some_and(|u| u.is_string()) {
            let u: Unsubscribe = serde_json::from_value(v).map_err(|_| ProtocolError::NoCommand)?;
            return Ok(ClientMessage::Unsubscribe(u.unsubscribe));
        }
        if v.get("subscribe").is_none() {
            return Err(ProtocolError::NoCommand);
        }
        serde_json::from_value(v)
            .map(ClientMessage::Subscribe)
            .map_err(|e| ProtocolError::BadSubscription(e.to_string()))
    }
}

/// Every frame the server writes. `sub` is the subscription it belongs to.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame<'a> {
    /// A subscription started; it echoes what was asked.
    Subscribed {
        sub: &'a str,
        #[serde(flatten)]
        what: &'a Subscribe,
    },
    Unsubscribed {
        sub: &'a str,
    },
    /// `{"auth"}` was accepted: the connection acts for this token.
    Authenticated {
        id: &'a str,
        role: crate::auth::Role,
    },
    Insight {
        sub: &'a str,
        insight: &'a crate::live::insight::Insight,
    },
    Alert {
        sub: &'a str,
        alert: &'a crate::live::rules::AlertEvent,
    },
    Window {
        sub: &'a str,
        window: &'a crate::live::frame::WindowFrame,
    },
    /// A continuous query's result, when it changed.
    Result {
        sub: &'a str,
        sql: &'a str,
        columns: &'a [crate::query::ColumnMeta],
        rows: &'a [Vec<serde_json::Value>],
        truncated: bool,
        took_ms: f64,
    },
    Error {
        #[serde(serialize_with = "code_name")]
        code: ErrorCode,
        message: &'a str,
    },
}

fn code_name<S: serde::Serializer>(c: &ErrorCode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(c.as_str())
}

/// A change of a tailed table, without its `sub` (one body is built per change and shared by
/// every subscriber of the tail; each frame adds its own `sub`).
#[derive(Debug, Serialize)]
pub struct ChangeBody<'a> {
    pub table: &'a str,
    pub partition: i32,
    pub offset: Offset,
    pub op: String,
    pub ts: String,
    pub applied_us: i64,
    pub row: serde_json::Map<String, serde_json::Value>,
}

impl ChangeBody<'_> {
    /// The body as JSON, ready for [`change_frame`].
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a change serializes")
    }
}

/// `{"type":"change","sub":…, <body>}` from a body [`ChangeBody::to_json`] made.
pub fn change_frame(sub: &str, body: &str) -> String {
    format!(
        "{{\"type\":\"change\",\"sub\":{},{}",
        serde_json::Value::String(sub.to_string()),
        &body[1..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn client_frames_parse_into_their_commands() {
        assert_eq!(
            ClientMessage::parse(r#"{"subscribe":"tail","table":"a.t","filter":"x > 1","id":"s"}"#),
            Ok(ClientMessage::Subscribe(Subscribe::Tail {
                id: Some("s".into()),
                table: Some("a.t".into()),
                filter: Some("x > 1".into()),
            }))
        );
        assert_eq!(
            ClientMessage::parse(r#"{"unsubscribe":"s1"}"#),
            Ok(ClientMessage::Unsubscribe("s1".into()))
        );
        assert_eq!(
            ClientMessage::parse("not json"),
            Err(ProtocolError::NotJson)
        );
        assert_eq!(ClientMessage::parse("[1]"), Err(ProtocolError::NotJson));
        assert_eq!(
            ClientMessage::parse(r#"{"hello":1}"#),
            Err(ProtocolError::NoCommand)
        );
        let e = ClientMessage::parse(r#"{"subscribe":"everything"}"#).unwrap_err();
        assert!(e.to_string().contains("everything"), "{e}");
        let e = ClientMessage::parse(r#"{"subscribe":"query","every_ms":"soon"}"#).unwrap_err();
        assert!(matches!(e, ProtocolError::BadSubscription(_)), "{e}");
    }

    #[test]
    fn server_frames_carry_their_type_and_echo_the_subscription() {
        let what = Subscribe::Query {
            id: Some("q".into()),
            sql: Some("SELECT 1".into()),
            question: None,
            every_ms: Some(200),
        };
        let v = serde_json::to_value(ServerFrame::Subscribed {
            sub: "q",
            what: &what,
        })
        .unwrap();
        assert_eq!(
            v,
            json!({"type": "subscribed", "sub": "q", "subscribe": "query", "sql": "SELECT 1", "every_ms": 200})
        );
        let v = serde_json::to_value(ServerFrame::Error {
            code: ErrorCode::NotFound,
            message: "no subscription x",
        })
        .unwrap();
        assert_eq!(
            v,
            json!({"type": "error", "code": "not_found", "message": "no subscription x"})
        );
        let body = ChangeBody {
            table: "a.t",
            partition: 1,
            offset: Offset(7),
            op: "c".into(),
            ts: "2026-01-01T00:00:00Z".into(),
            applied_us: 5,
            row: serde_json::Map::new(),
        };
        let f: serde_json::Value =
            serde_json::from_str(&change_frame("s\"1", &body.to_json())).unwrap();
        assert_eq!(f["type"], "change");
        assert_eq!(f["sub"], "s\"1");
        assert_eq!(f["offset"], 7);
    }
}

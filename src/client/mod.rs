//! The HTTP client of a running streamq: what `streamq sql`, `streamq ask` and
//! `streamq mcp --server` call. A failed call carries the API's error code and message.

pub mod print;

use serde_json::Value as Json;

/// A failed call, as the REST API reported it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct CallError {
    /// The API's error code (`unknown_table`, `invalid_sql`…), or `unreachable`.
    pub code: String,
    pub message: String,
}

impl CallError {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// A streamq server at a base URL (`http://127.0.0.1:8080`), called with a token when the
/// server has authentication on.
#[derive(Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "(set)"))
            .finish()
    }
}

/// The token a command-line client sends: `STREAMQ_TOKEN`, or the first line of the file
/// `STREAMQ_TOKEN_FILE` names (so that it need not sit in the environment or a shell history).
pub fn token_from_env() -> Result<Option<String>, CallError> {
    if let Ok(t) = std::env::var("STREAMQ_TOKEN")
        && !t.trim().is_empty()
    {
        return Ok(Some(t.trim().to_string()));
    }
    match std::env::var("STREAMQ_TOKEN_FILE") {
        Ok(path) if !path.trim().is_empty() => std::fs::read_to_string(path.trim())
            .map(|t| t.lines().next().map(|l| l.trim().to_string()))
            .map_err(|e| CallError::new("bad_request", format!("STREAMQ_TOKEN_FILE {path}: {e}"))),
        _ => Ok(None),
    }
}

impl Client {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            token: None,
        }
    }

    /// The same server, called with `token` (`Authorization: Bearer`).
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token.filter(|t| !t.is_empty());
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Calls `method path` (path with its query string) with an optional JSON body; blocks.
    pub fn call(&self, method: &str, path: &str, body: Option<Json>) -> Result<Json, CallError> {
        let url = format!("{}{path}", self.base);
        // HTTPS trusts the public roots and `STREAMQ_TLS__CA_FILE` (a site's private CA).
        let ca = std::env::var_os("STREAMQ_TLS__CA_FILE").map(std::path::PathBuf::from);
        crate::tls::trust(ca.as_deref())
            .map_err(|e| CallError::new("bad_request", e.to_string()))?;
        let agent = ureq::AgentBuilder::new()
            .tls_config(crate::tls::client_config())
            .build();
        let mut req = agent.request(method, &url);
        if let Some(t) = &self.token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        let res = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        match res {
            Ok(r) => {
                let status = r.status();
                let text = r.into_string().map_err(|e| {
                    CallError::new(
                        "unreachable",
                        format!("reading the reply from {}: {e}", self.base),
                    )
                })?;
                parse_reply(status, text.as_bytes())
            }
            Err(ureq::Error::Status(status, r)) => {
                let text = r.into_string().unwrap_or_default();
                parse_reply(status, text.as_bytes())
            }
            Err(e) => Err(CallError::new(
                "unreachable",
                format!(
                    "cannot reach streamq at {} ({e}); is `streamq serve` running?",
                    self.base
                ),
            )),
        }
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: Json) -> Result<Json, CallError> {
        self.call("POST", path, Some(body))
    }
}

/// A REST reply as the client sees it: the JSON of a 2xx, the `{code, message}` of an error.
pub fn parse_reply(status: u16, bytes: &[u8]) -> Result<Json, CallError> {
    if status == 204 || bytes.is_empty() {
        return if (200..300).contains(&status) {
            Ok(Json::Null)
        } else {
            Err(CallError::new(
                "internal",
                format!("HTTP {status} with no body"),
            ))
        };
    }
    let v: Json = serde_json::from_slice(bytes).map_err(|e| {
        CallError::new(
            "internal",
            format!("HTTP {status}: the reply is not JSON ({e})"),
        )
    })?;
    if (200..300).contains(&status) {
        Ok(v)
    } else {
        Err(CallError {
            code: v["code"].as_str().unwrap_or("error").to_string(),
            message: v["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("HTTP {status}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_become_values_or_coded_errors() {
        assert_eq!(parse_reply(200, b"{\"a\":1}").unwrap()["a"], 1);
        assert_eq!(parse_reply(204, b"").unwrap(), Json::Null);
        let e = parse_reply(404, b"{\"code\":\"unknown_table\",\"message\":\"no t\"}").unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("unknown_table", "no t")
        );
        assert_eq!(parse_reply(502, b"<html>").unwrap_err().code, "internal");
    }

    #[test]
    fn an_absent_server_is_unreachable() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = Client::new(&format!("http://127.0.0.1:{port}/"))
            .call("GET", "/healthz", None)
            .unwrap_err();
        assert_eq!(e.code, "unreachable");
    }
}

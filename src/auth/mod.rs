//! Who may do what: API tokens with a role ([`tokens`]), dashboard sessions that stand for a
//! token ([`sessions`]), and the one rule every door applies ([`Need::allows`]).
//!
//! With no token in the token file, streamq runs *open*: every caller acts as an admin, and the
//! server refuses to listen beyond loopback unless `auth.allow_anonymous`. Once a token exists
//! (even a revoked one), every request but health and the sign-in page needs one.

pub mod sessions;
pub mod tokens;

use serde::{Deserialize, Serialize};

use crate::privacy::sight::{Grant, Sight};

/// A token's role. Each includes the one before it, except `metrics`, which reads `/metrics`
/// and nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads tables, changes, profiles, charts, search, insights and alert rules.
    Viewer,
    /// A viewer who also runs SQL, asks questions and subscribes to live tails and queries.
    Analyst,
    /// An analyst who also changes alert rules, manages tokens, reads the quarantine's raw
    /// bytes, the audit trail and metrics.
    Admin,
    /// Scrapes `/metrics` only.
    Metrics,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
            Role::Metrics => "metrics",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s.trim().to_ascii_lowercase().as_str() {
            "viewer" => Some(Role::Viewer),
            "analyst" => Some(Role::Analyst),
            "admin" => Some(Role::Admin),
            "metrics" => Some(Role::Metrics),
            _ => None,
        }
    }
}

/// What a route (or a WebSocket subscription) needs of its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Need {
    /// Anyone, signed in or not (health, the dashboard's files, signing in and out).
    Open,
    /// Any valid token, whatever its role (`/api/whoami`).
    Known,
    /// viewer, analyst or admin.
    Viewer,
    /// analyst or admin.
    Analyst,
    /// admin.
    Admin,
    /// metrics or admin.
    Metrics,
}

impl Need {
    /// Whether `role` meets this need.
    pub fn allows(self, role: Role) -> bool {
        use Role::*;
        match self {
            Need::Open | Need::Known => true,
            Need::Viewer => matches!(role, Viewer | Analyst | Admin),
            Need::Analyst => matches!(role, Analyst | Admin),
            Need::Admin => role == Admin,
            Need::Metrics => matches!(role, Metrics | Admin),
        }
    }

    /// The roles that meet it, for messages and the documentation.
    pub fn roles(self) -> &'static str {
        match self {
            Need::Open => "anyone",
            Need::Known => "any token",
            Need::Viewer => "viewer, analyst or admin",
            Need::Analyst => "analyst or admin",
            Need::Admin => "admin",
            Need::Metrics => "metrics or admin",
        }
    }
}

/// Who is calling: a token's holder, or anyone while streamq runs open.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// The token's public id (`open` when streamq runs without tokens).
    pub id: String,
    /// The name given when the token was created.
    pub name: String,
    pub role: Role,
    /// Personal-data columns seen unmasked (an analyst's grants).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<String>,
}

impl Identity {
    /// What this caller sees unmasked: every column for an admin, its grants for an analyst,
    /// no personal data for anyone else.
    pub fn sight(&self) -> Sight {
        match self.role {
            Role::Admin => Sight::All,
            Role::Analyst => Sight::Granted(
                self.grants
                    .iter()
                    .filter_map(|g| Grant::parse(g).ok())
                    .collect(),
            ),
            Role::Viewer | Role::Metrics => Sight::masked(),
        }
    }

    /// The caller while no token exists: an admin, since the server listens on loopback only
    /// (or was opened on purpose with `auth.allow_anonymous`).
    pub fn open() -> Self {
        Identity {
            id: "open".into(),
            name: "anonymous (no tokens configured)".into(),
            role: Role::Admin,
            grants: Vec::new(),
        }
    }
}

/// `n` random bytes as lowercase hex, from the operating system's generator.
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).expect("the operating system's random generator failed");
    hex(&buf)
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// SHA-256 of `text`, hex: how tokens and sessions are kept (never the secret itself).
pub fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(text.as_bytes()))
}

/// Equal without an early exit, for comparing secrets' digests.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_meets_exactly_its_needs() {
        use Role::*;
        let cases = [
            (Need::Open, [true, true, true, true]),
            (Need::Known, [true, true, true, true]),
            (Need::Viewer, [true, true, true, false]),
            (Need::Analyst, [false, true, true, false]),
            (Need::Admin, [false, false, true, false]),
            (Need::Metrics, [false, false, true, true]),
        ];
        for (need, want) in cases {
            for (role, w) in [Viewer, Analyst, Admin, Metrics].into_iter().zip(want) {
                assert_eq!(need.allows(role), w, "{need:?} {role:?}");
            }
        }
        assert_eq!(Role::parse(" Analyst"), Some(Analyst));
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn digests_and_random_hex() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let a = random_hex(16);
        assert_eq!(a.len(), 32);
        assert_ne!(a, random_hex(16));
        assert!(same("ab", "ab") && !same("ab", "ac") && !same("ab", "abc"));
    }
}

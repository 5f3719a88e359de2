//! API tokens: `sq_<id>_<secret>`, shown once when created; the file keeps the id, the name,
//! the role and the SHA-256 of the token, never the token. The file (`<data_dir>/auth/
//! tokens.json`, mode 0600) is shared by the server and `streamq token …`: writers take a lock
//! file and replace it atomically; the server re-reads it when it changes, so a token created
//! or revoked from the command line counts at the next request.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::{Identity, Role, random_hex, same, sha256_hex};

/// What the file holds about one token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Public: shown in listings, logs and the audit trail.
    pub id: String,
    pub name: String,
    pub role: Role,
    /// SHA-256 of the whole token, hex.
    pub hash: String,
    /// RFC 3339.
    pub created: String,
    /// RFC 3339, once revoked. A revoked token is kept so that it is refused by name.
    #[serde(default)]
    pub revoked: Option<String>,
    /// Personal-data columns an analyst's token sees unmasked ([`crate::privacy::sight`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<String>,
}

/// A token as listings show it: everything but the digest.
#[derive(Clone, Debug, Serialize)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub created: String,
    pub revoked: Option<String>,
    pub grants: Vec<String>,
}

impl From<&TokenRecord> for TokenInfo {
    fn from(r: &TokenRecord) -> Self {
        TokenInfo {
            id: r.id.clone(),
            name: r.name.clone(),
            role: r.role,
            created: r.created.clone(),
            revoked: r.revoked.clone(),
            grants: r.grants.clone(),
        }
    }
}

#[derive(Default, Serialize, Deserialize)]
struct TokenFile {
    tokens: Vec<TokenRecord>,
}

/// What a presented token turned out to be.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Valid(Identity),
    /// A token that was revoked (the id says which).
    Revoked(String),
    /// Not a token this server issued.
    Unknown,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("token file {path} is not valid: {why}")]
    Corrupt { path: String, why: String },
    #[error("token file {0} is locked by another writer (remove the .lock file if none runs)")]
    Locked(String),
    #[error("a token's name must be 1 to 64 printable characters")]
    BadName,
    #[error("{0}")]
    BadGrant(String),
}

/// The token file, cached until it changes.
pub struct TokenStore {
    path: PathBuf,
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    /// (modified, length) of the file read; None: not read yet or missing.
    stamp: Option<(SystemTime, u64)>,
    tokens: Vec<TokenRecord>,
    /// The file exists but cannot be read: every token is refused (never open by accident).
    broken: bool,
}

impl TokenStore {
    /// The token file of a data directory.
    pub fn in_data_dir(data_dir: &Path) -> Self {
        Self::at(data_dir.join("auth").join("tokens.json"))
    }

    pub fn at(path: PathBuf) -> Self {
        TokenStore {
            path,
            cache: Mutex::new(Cache::default()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether authentication is on: the file lists a token (a revoked one counts, so that
    /// revoking the last token never opens the server), or cannot be read.
    pub fn enabled(&self) -> bool {
        let c = self.fresh();
        c.broken || !c.tokens.is_empty()
    }

    /// Checks a presented token.
    pub fn check(&self, token: &str) -> Verdict {
        let hash = sha256_hex(token.trim());
        let c = self.fresh();
        match c.tokens.iter().find(|t| same(&t.hash, &hash)) {
            Some(t) if t.revoked.is_some() => Verdict::Revoked(t.id.clone()),
            Some(t) => Verdict::Valid(Identity {
                id: t.id.clone(),
                name: t.name.clone(),
                role: t.role,
                grants: t.grants.clone(),
            }),
            None => Verdict::Unknown,
        }
    }

    /// Checks a token's digest (what a dashboard session holds).
    pub fn check_digest(&self, hash: &str) -> Verdict {
        let c = self.fresh();
        match c.tokens.iter().find(|t| same(&t.hash, hash)) {
            Some(t) if t.revoked.is_some() => Verdict::Revoked(t.id.clone()),
            Some(t) => Verdict::Valid(Identity {
                id: t.id.clone(),
                name: t.name.clone(),
                role: t.role,
                grants: t.grants.clone(),
            }),
            None => Verdict::Unknown,
        }
    }

    /// Whether `who` still holds: its token exists and is not revoked (the open identity holds
    /// while no token exists). Long-lived connections ask this before each new subscription.
    pub fn still_valid(&self, who: &Identity) -> bool {
        let c = self.fresh();
        if !c.broken && c.tokens.is_empty() {
            return who.id == "open";
        }
        c.tokens
            .iter()
            .any(|t| t.id == who.id && t.revoked.is_none())
    }

    /// Every token, revoked ones included, oldest first.
    pub fn list(&self) -> Result<Vec<TokenInfo>, TokenError> {
        let file = self.read()?;
        Ok(file.tokens.iter().map(TokenInfo::from).collect())
    }

    /// Creates a token; the returned string is the only time the secret exists outside the
    /// caller.
    /// `grants` (analysts only) name the personal-data columns it sees unmasked.
    pub fn create(
        &self,
        name: &str,
        role: Role,
        grants: &[String],
    ) -> Result<(String, TokenInfo), TokenError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(TokenError::BadName);
        }
        if !grants.is_empty() && role != Role::Analyst {
            return Err(TokenError::BadGrant(format!(
                "grants are for analysts: a {} {}",
                role.as_str(),
                if role == Role::Admin {
                    "sees every column"
                } else {
                    "sees no personal data unmasked"
                }
            )));
        }
        let grants: Vec<String> = grants
            .iter()
            .map(|g| {
                crate::privacy::sight::Grant::parse(g)
                    .map(|_| g.trim().to_ascii_lowercase())
                    .map_err(TokenError::BadGrant)
            })
            .collect::<Result<_, _>>()?;
        self.update(|file| {
            let id = loop {
                let id = random_hex(4);
                if !file.tokens.iter().any(|t| t.id == id) {
                    break id;
                }
            };
            let token = format!("sq_{id}_{}", random_hex(32));
            let rec = TokenRecord {
                id,
                name: name.to_string(),
                role,
                hash: sha256_hex(&token),
                created: now(),
                revoked: None,
                grants: grants.clone(),
            };
            let info = TokenInfo::from(&rec);
            file.tokens.push(rec);
            (token, info)
        })
    }

    /// Revokes a token by id; false when there is none (revoking twice keeps the first time).
    pub fn revoke(&self, id: &str) -> Result<bool, TokenError> {
        self.update(|file| match file.tokens.iter_mut().find(|t| t.id == id) {
            Some(t) => {
                if t.revoked.is_none() {
                    t.revoked = Some(now());
                }
                true
            }
            None => false,
        })
    }

    fn fresh(&self) -> parking_lot::MutexGuard<'_, Cache> {
        let mut c = self.cache.lock();
        let stamp = std::fs::metadata(&self.path)
            .ok()
            .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
        if stamp != c.stamp || c.broken {
            match (stamp, self.read()) {
                (None, _) => *c = Cache::default(),
                (Some(_), Ok(file)) => {
                    c.tokens = file.tokens;
                    c.broken = false;
                }
                (Some(_), Err(e)) => {
                    if !c.broken {
                        tracing::error!(target: "streamq::auth", error = %e,
                            "cannot read the token file: every token is refused until it is fixed");
                    }
                    c.tokens.clear();
                    c.broken = true;
                }
            }
            c.stamp = stamp;
        }
        c
    }

    fn read(&self) -> Result<TokenFile, TokenError> {
        let path = self.path.display().to_string();
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| TokenError::Corrupt {
                path,
                why: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TokenFile::default()),
            Err(source) => Err(TokenError::Io { path, source }),
        }
    }

    /// Read, change and replace the file under the lock.
    fn update<T>(&self, change: impl FnOnce(&mut TokenFile) -> T) -> Result<T, TokenError> {
        let path = self.path.display().to_string();
        let io = |source| TokenError::Io {
            path: path.clone(),
            source,
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io)?;
        let _lock = Lock::take(&self.path.with_extension("json.lock"))
            .map_err(|_| TokenError::Locked(path.clone()))?;
        let mut file = self.read()?;
        let out = change(&mut file);
        let tmp = self.path.with_extension("json.tmp");
        let text = serde_json::to_vec_pretty(&file).expect("tokens serialise");
        {
            let mut f = private_file(&tmp).map_err(io)?;
            f.write_all(&text).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        Ok(out)
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A new file only its owner can read.
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

/// A lock file held while the token file is rewritten; one older than a minute is stale.
struct Lock(PathBuf);

impl Lock {
    fn take(path: &Path) -> std::io::Result<Lock> {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(_) => return Ok(Lock(path.to_path_buf())),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let stale = std::fs::metadata(path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age > Duration::from_secs(60));
                    if stale {
                        let _ = std::fs::remove_file(path);
                        continue;
                    }
                    if std::time::Instant::now() > deadline {
                        return Err(e);
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_kept_hashed_checked_and_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::in_data_dir(dir.path());
        assert!(!store.enabled(), "no file: open");
        let (token, info) = store.create("alice", Role::Viewer, &[]).unwrap();
        assert!(token.starts_with(&format!("sq_{}_", info.id)));
        assert!(store.enabled());
        let text = std::fs::read_to_string(store.path()).unwrap();
        assert!(!text.contains(&token[10..]), "the secret is not stored");
        match store.check(&token) {
            Verdict::Valid(i) => assert_eq!((i.name.as_str(), i.role), ("alice", Role::Viewer)),
            v => panic!("{v:?}"),
        }
        assert_eq!(store.check("sq_00000000_00"), Verdict::Unknown);
        // A second store (the command line) revokes; the first sees it at once.
        let other = TokenStore::in_data_dir(dir.path());
        assert!(other.revoke(&info.id).unwrap());
        assert!(!other.revoke("nope").unwrap());
        assert_eq!(store.check(&token), Verdict::Revoked(info.id.clone()));
        assert!(store.enabled(), "a revoked token keeps authentication on");
        let listed = store.list().unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].revoked.is_some());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(store.path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "only the owner reads the token file");
        }
    }

    #[test]
    fn a_broken_file_refuses_every_token_and_never_opens() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::in_data_dir(dir.path());
        let (token, _) = store.create("bob", Role::Admin, &[]).unwrap();
        std::fs::write(store.path(), b"{not json").unwrap();
        assert!(store.enabled());
        assert_eq!(store.check(&token), Verdict::Unknown);
        assert!(store.create("x", Role::Admin, &[]).is_err());
        assert!(matches!(
            store.create(" ", Role::Admin, &[]),
            Err(TokenError::BadName)
        ));
    }
}

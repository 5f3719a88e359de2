//! Which `Host` names and browser `Origin`s the server answers (the DNS-rebinding and
//! cross-site guards), from `server.allowed_hosts`, `server.allowed_origins` and the address
//! listened on. Never compared with each other: a page from a rebound name sends a matching
//! Host and Origin, and both are refused.

use std::net::{IpAddr, SocketAddr};

use crate::config::ServerConfig;

#[derive(Clone, Debug)]
pub struct Origins {
    /// Lowercase host patterns (`name`, `*.suffix`, `*`).
    hosts: Vec<String>,
    /// Lowercase `scheme://host[:port]` (or `*`).
    origins: Vec<String>,
    /// The address listened on, once known.
    local: Option<SocketAddr>,
}

/// `localhost` and its subdomains, which resolve to loopback by definition.
fn is_localhost(host: &str) -> bool {
    host == "localhost" || host.ends_with(".localhost")
}

/// The host of a `Host` header or authority, lowercase, without port or trailing dot.
pub fn host_part(authority: &str) -> String {
    let a = authority.trim();
    let host = if let Some(rest) = a.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        match a.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => a,
        }
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

fn pattern_matches(pattern: &str, host: &str) -> bool {
    pattern == "*"
        || pattern == host
        || pattern
            .strip_prefix("*.")
            .is_some_and(|suffix| host.ends_with(&format!(".{suffix}")))
}

impl Origins {
    pub fn new(cfg: &ServerConfig, local: Option<SocketAddr>) -> Self {
        let lower = |v: &[String]| -> Vec<String> {
            v.iter()
                .map(|s| s.trim().trim_end_matches('/').to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect()
        };
        Origins {
            hosts: lower(&cfg.allowed_hosts),
            origins: lower(&cfg.allowed_origins),
            local,
        }
    }

    /// Whether the address is one of this server's own: loopback, or the one listened on (any
    /// literal address when listening on all interfaces, since a rebound name is never one).
    fn own_ip(&self, ip: IpAddr) -> bool {
        ip.is_loopback()
            || self
                .local
                .is_some_and(|l| l.ip() == ip || l.ip().is_unspecified())
    }

    /// Whether a request with this `Host` is answered.
    pub fn host_allowed(&self, authority: &str) -> bool {
        let host = host_part(authority);
        if is_localhost(&host) {
            return true;
        }
        if let Ok(ip) = host.parse::<IpAddr>()
            && self.own_ip(ip)
        {
            return true;
        }
        self.hosts.iter().any(|p| pattern_matches(p, &host))
    }

    /// Whether a browser page from `origin` may change state or open `/ws`: listed, or one of
    /// this server's own pages (a loopback name or the listen address, on its port).
    pub fn origin_allowed(&self, origin: &str) -> bool {
        let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
        if self.origins.iter().any(|o| o == "*" || *o == origin) {
            return true;
        }
        let Some((scheme, authority)) = origin.split_once("://") else {
            return false; // "null" (sandboxed frames, files) and anything unparsable
        };
        let default_port = match scheme {
            "http" => 80,
            "https" => 443,
            _ => return false,
        };
        let host = host_part(authority);
        let own = is_localhost(&host) || host.parse::<IpAddr>().is_ok_and(|ip| self.own_ip(ip));
        if !own {
            return false;
        }
        let port = authority
            .rsplit_once(':')
            .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|(_, p)| p.parse::<u16>().ok())
            .unwrap_or(default_port);
        self.local.is_none_or(|l| l.port() == port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins(hosts: &[&str], origins: &[&str], local: &str) -> Origins {
        Origins::new(
            &ServerConfig {
                allowed_hosts: hosts.iter().map(|s| s.to_string()).collect(),
                allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            },
            Some(local.parse().unwrap()),
        )
    }

    #[test]
    fn hosts_are_loopback_the_listen_address_or_listed() {
        let o = origins(&["streamq.corp", "*.dash.example"], &[], "10.1.2.3:8080");
        for ok in [
            "localhost:8080",
            "app.localhost",
            "127.0.0.1:8080",
            "[::1]:8080",
            "10.1.2.3:8080",
            "STREAMQ.corp:8080",
            "a.dash.example",
            "streamq.corp.",
        ] {
            assert!(o.host_allowed(ok), "{ok}");
        }
        for no in [
            "evil.example",
            "dash.example",
            "10.1.2.4:8080",
            "streamq.corp.evil.example",
            "",
        ] {
            assert!(!o.host_allowed(no), "{no}");
        }
        let any = origins(&[], &[], "0.0.0.0:8080");
        assert!(
            any.host_allowed("192.168.7.7:8080"),
            "any literal on 0.0.0.0"
        );
        assert!(!any.host_allowed("rebound.example:8080"));
        assert!(origins(&["*"], &[], "127.0.0.1:1").host_allowed("x.y"));
    }

    #[test]
    fn origins_are_own_pages_on_the_port_or_listed_never_the_host() {
        let o = origins(&["dash.example"], &["https://ui.example"], "127.0.0.1:8080");
        for ok in [
            "http://127.0.0.1:8080",
            "http://localhost:8080",
            "https://ui.example",
            "https://UI.example/",
        ] {
            assert!(o.origin_allowed(ok), "{ok}");
        }
        for no in [
            "http://dash.example:8080", // an allowed Host is not an allowed Origin
            "http://127.0.0.1:9999",
            "http://localhost",
            "null",
            "file://",
            "http://evil.example",
        ] {
            assert!(!o.origin_allowed(no), "{no}");
        }
        assert_eq!(host_part("[::1]:80"), "::1");
        assert_eq!(host_part("Example.ORG"), "example.org");
    }
}

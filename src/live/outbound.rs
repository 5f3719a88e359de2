//! Where webhooks may go. A target's addresses are checked after DNS resolution, on every
//! connection (so on every redirect too): loopback, private, link-local (cloud metadata),
//! shared, unspecified and multicast addresses are refused unless `live.webhook_allow` lists
//! them — by host name (`hooks.internal`, `*.corp.example`) or network (`10.2.0.0/16`,
//! `127.0.0.1`). A refused target fails with "refused by policy" and is never connected to, so
//! a rule's `last_error` cannot be used to probe the network.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

/// One entry of `live.webhook_allow`.
#[derive(Clone, Debug, PartialEq)]
enum Allow {
    /// A host name, or `*.suffix` for any name under it (lower case).
    Host(String),
    /// A network: an address and its prefix length.
    Net(IpAddr, u8),
}

/// The outbound policy for webhook targets.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    allow: Vec<Allow>,
}

/// Why an address is not public, if it is not.
fn internal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            if v4.is_loopback() {
                Some("a loopback address")
            } else if v4.is_private() {
                Some("a private address")
            } else if v4.is_link_local() {
                Some("a link-local address (cloud metadata lives there)")
            } else if o[0] == 100 && (64..128).contains(&o[1]) {
                Some("a shared (carrier-grade NAT) address")
            } else if o[0] == 0 || v4.is_broadcast() || v4.is_multicast() || o[0] >= 240 {
                Some("not a unicast host address")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return internal(IpAddr::V4(v4));
            }
            let s = v6.segments();
            if v6.is_loopback() {
                Some("a loopback address")
            } else if v6.is_unspecified() || v6.is_multicast() {
                Some("not a unicast host address")
            } else if s[0] & 0xfe00 == 0xfc00 {
                Some("a private (unique local) address")
            } else if s[0] & 0xffc0 == 0xfe80 {
                Some("a link-local address")
            } else {
                None
            }
        }
    }
}

fn bits(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(v4) => (u32::from(v4) as u128, 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    }
}

fn in_net(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    let ip = match (ip, net) {
        (IpAddr::V6(v6), IpAddr::V4(_)) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => return false,
        },
        _ => ip,
    };
    let ((a, width), (b, width_b)) = (bits(ip), bits(net));
    if width != width_b {
        return false;
    }
    let keep = u32::from(prefix.min(width));
    if keep == 0 {
        return true;
    }
    let shift = u32::from(width) - keep;
    (a >> shift) == (b >> shift)
}

impl Policy {
    /// The policy of `live.webhook_allow`; an entry that is neither a network nor a host name
    /// is an error naming it.
    pub fn new(entries: &[String]) -> Result<Policy, String> {
        let mut allow = Vec::new();
        for e in entries {
            let e = e.trim();
            let (addr, prefix) = match e.split_once('/') {
                Some((a, p)) => (a, Some(p)),
                None => (e, None),
            };
            let entry = match (addr.parse::<IpAddr>(), prefix) {
                (Ok(ip), None) => Allow::Net(ip, bits(ip).1),
                (Ok(ip), Some(p)) => match p.parse::<u8>() {
                    Ok(n) if n <= bits(ip).1 => Allow::Net(ip, n),
                    _ => return Err(format!("live.webhook_allow: bad prefix in {e:?}")),
                },
                (Err(_), None)
                    if !e.is_empty()
                        && e.trim_start_matches("*.")
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') =>
                {
                    Allow::Host(e.to_ascii_lowercase())
                }
                _ => {
                    return Err(format!(
                        "live.webhook_allow: {e:?} is neither a host name nor a network"
                    ));
                }
            };
            allow.push(entry);
        }
        Ok(Policy { allow })
    }

    fn host_listed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.allow.iter().any(|a| match a {
            Allow::Host(p) => match p.strip_prefix("*.") {
                Some(suffix) => host.ends_with(&format!(".{suffix}")),
                None => *p == host,
            },
            Allow::Net(..) => false,
        })
    }

    /// Why `ip` (reached as `host`) is refused, if it is.
    pub fn refusal(&self, host: &str, ip: IpAddr) -> Option<String> {
        let why = internal(ip)?;
        let listed = self.host_listed(host)
            || self.allow.iter().any(|a| match a {
                Allow::Net(net, p) => in_net(ip, *net, *p),
                Allow::Host(_) => false,
            });
        (!listed).then(|| {
            format!("refused by policy: {host} is {why} ({ip}); list it in live.webhook_allow")
        })
    }

    /// Checks a webhook URL as a rule is created: its form, and a literal address.
    pub fn check_url(&self, url: &str) -> Result<(), String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("webhook {url:?}: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!(
                "webhook {url:?}: only http and https are delivered"
            ));
        }
        let ip = match parsed.host() {
            Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
            Some(url::Host::Domain(_)) => return Ok(()),
            None => return Err(format!("webhook {url:?}: no host")),
        };
        match self.refusal(&ip.to_string(), ip) {
            Some(why) => Err(format!("webhook {url:?}: {why}")),
            None => Ok(()),
        }
    }

    /// Resolves `netloc` (`host:port`) to the addresses the policy allows; none allowed is an
    /// error saying why, and nothing is connected to.
    pub fn resolve(&self, netloc: &str) -> io::Result<Vec<SocketAddr>> {
        let host = netloc
            .rsplit_once(':')
            .map_or(netloc, |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']');
        let addrs: Vec<SocketAddr> = netloc.to_socket_addrs()?.collect();
        let mut refused = None;
        let allowed: Vec<SocketAddr> = addrs
            .into_iter()
            .filter(|a| match self.refusal(host, a.ip()) {
                Some(why) => {
                    refused.get_or_insert(why);
                    false
                }
                None => true,
            })
            .collect();
        if allowed.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                refused.unwrap_or_else(|| format!("{host} has no address")),
            ));
        }
        Ok(allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_refused_unless_listed() {
        let none = Policy::default();
        for url in [
            "http://127.0.0.1:6379/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]:22/",
            "http://10.1.2.3/hook",
            "http://192.168.0.10/hook",
            "http://172.20.0.1/hook",
            "http://[fd00:ec2::254]/",
            "http://[::ffff:127.0.0.1]/",
            "http://100.64.0.1/",
            "http://0.0.0.0:80/",
        ] {
            let e = none.check_url(url).unwrap_err();
            assert!(e.contains("refused by policy"), "{url}: {e}");
        }
        assert!(none.check_url("http://93.184.215.14/hook").is_ok());
        assert!(none.check_url("https://hooks.example.com/x").is_ok());
        assert!(none.check_url("file:///etc/passwd").is_err());
        assert!(none.check_url("gopher://127.0.0.1/").is_err());

        let listed = Policy::new(&[
            "127.0.0.1".into(),
            "10.2.0.0/16".into(),
            "*.corp.test".into(),
        ])
        .unwrap();
        assert!(listed.check_url("http://127.0.0.1:9/hook").is_ok());
        assert!(listed.check_url("http://10.2.200.1/hook").is_ok());
        assert!(listed.check_url("http://10.3.0.1/hook").is_err());
        assert!(listed.check_url("http://127.0.0.2/hook").is_err());
        assert!(
            listed
                .refusal("alerts.corp.test", "10.9.9.9".parse().unwrap())
                .is_none()
        );
        assert!(
            listed
                .refusal("corp.test.evil", "10.9.9.9".parse().unwrap())
                .is_some()
        );
        assert!(Policy::new(&["10.0.0.0/40".into()]).is_err());
        assert!(Policy::new(&["http://x".into()]).is_err());
    }

    #[test]
    fn a_name_resolving_to_loopback_is_refused_before_connecting() {
        let e = Policy::default().resolve("localhost:9").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        assert!(
            e.to_string()
                .contains("refused by policy: localhost is a loopback address"),
            "{e}"
        );
        let ok = Policy::new(&["localhost".into()])
            .unwrap()
            .resolve("localhost:9")
            .unwrap();
        assert!(!ok.is_empty());
    }
}

//! Who may talk to us: reserved source ports and the `allow:` list (spec §7).
//!
//! [`Allow`] and [`AccessPolicy`] are plain data that `config` builds while
//! it parses; the checks run per connection in `conn`.
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipnet::IpNet;

use crate::wire_error::WireError;

/// One `allow:` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Allow {
    /// An address (as a /32 or /128) or a CIDR block. IPv4 short forms such
    /// as `10/8` and `192.168/16` are padded with zero octets, like
    /// obs-signd does.
    Net(IpNet),
    /// A host name, compared with the client's reverse-DNS name.
    Host(String),
}

impl Allow {
    /// Parses one entry; `None` if it is neither an address, a CIDR block
    /// nor a plausible host name.
    pub fn parse(s: &str) -> Option<Allow> {
        if let Some((addr, prefix)) = s.split_once('/') {
            if prefix.is_empty() || prefix.len() > 3 || !prefix.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            let prefix: u8 = prefix.parse().ok()?;
            let ip = if addr.contains(':') {
                IpAddr::V6(addr.parse::<Ipv6Addr>().ok()?)
            } else {
                IpAddr::V4(parse_v4_short(addr)?)
            };
            return IpNet::new(ip, prefix).ok().map(Allow::Net);
        }
        if s.contains(':') {
            return s
                .parse::<Ipv6Addr>()
                .ok()
                .map(|ip| Allow::Net(IpNet::from(IpAddr::V6(ip))));
        }
        if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            // Looks numeric: must be a full dotted quad. obs-signd would
            // compare "10" or "10.1" as a string and never match.
            if s.split('.').count() != 4 {
                return None;
            }
            return parse_v4_short(s).map(|ip| Allow::Net(IpNet::from(IpAddr::V4(ip))));
        }
        let valid_host = !s.is_empty()
            && !s.starts_with(['.', '-'])
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        valid_host.then(|| Allow::Host(s.to_owned()))
    }

    /// `127.0.0.1` and `::1`: the list of a server configured by neither a
    /// sign.conf nor a TOML `allow`.
    pub fn loopback() -> Vec<Allow> {
        vec![
            Allow::Net(IpAddr::V4(Ipv4Addr::LOCALHOST).into()),
            Allow::Net(IpAddr::V6(Ipv6Addr::LOCALHOST).into()),
        ]
    }

    /// Whether a client address is covered by this entry. Host entries never
    /// match here: they need the reverse-DNS name (see [`Self::matches_host`]).
    pub fn matches_ip(&self, ip: IpAddr) -> bool {
        match self {
            Allow::Net(net) => net.contains(&ip),
            Allow::Host(_) => false,
        }
    }

    /// Whether a client's reverse-DNS name matches a host entry (exact,
    /// case-sensitive, as obs-signd compares it).
    pub fn matches_host(&self, name: &str) -> bool {
        matches!(self, Allow::Host(h) if h == name)
    }
}

impl fmt::Display for Allow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Allow::Net(net) => write!(f, "{net}"),
            Allow::Host(h) => f.write_str(h),
        }
    }
}

/// `a`, `a.b`, `a.b.c` or `a.b.c.d`, missing octets zero.
fn parse_v4_short(s: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    for (n, part) in s.split('.').enumerate() {
        if n == 4 || part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        octets[n] = part.parse().ok()?;
    }
    Some(Ipv4Addr::from(octets))
}

/// The access policy of the listening side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessPolicy {
    /// An empty list refuses everyone, as in signd.
    pub allow: Vec<Allow>,
    /// Accept source ports above 1024 (`allow-unprivileged-ports: true`).
    pub allow_unprivileged_ports: bool,
}

impl AccessPolicy {
    /// Checks `peer` in signd's order: source port, then the allow list.
    pub fn check(&self, peer: SocketAddr) -> Result<(), WireError> {
        if !self.allow_unprivileged_ports && peer.port() > 1024 {
            return Err(WireError::NotReservedPort);
        }
        let ip = canonical(peer.ip());
        // Host-name entries need a forward-confirmed reverse lookup; the
        // connection handler does it and calls `allows_host_name`.
        let allowed = self.allow.iter().any(|a| a.matches_ip(ip));
        if allowed {
            Ok(())
        } else {
            Err(WireError::IllegalHost(ip.to_string()))
        }
    }

    /// True when the list has host-name entries (they need DNS).
    pub fn has_host_names(&self) -> bool {
        self.allow.iter().any(|a| matches!(a, Allow::Host(_)))
    }

    /// Checks a (forward-confirmed) peer host name against the list.
    pub fn allows_host_name(&self, name: &str) -> bool {
        self.allow.iter().any(|a| a.matches_host(name))
    }
}

/// IPv4-mapped IPv6 peers are judged by their IPv4 address.
pub(super) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(entries: &[&str], unpriv: bool) -> AccessPolicy {
        AccessPolicy {
            allow: entries.iter().map(|e| Allow::parse(e).unwrap()).collect(),
            allow_unprivileged_ports: unpriv,
        }
    }

    #[test]
    fn reserved_port_rule() {
        let p = policy(&["127.0.0.1/32"], false);
        assert!(p.check("127.0.0.1:1024".parse().unwrap()).is_ok());
        assert_eq!(
            p.check("127.0.0.1:1025".parse().unwrap())
                .unwrap_err()
                .wire_text(),
            "not coming from a reserved port"
        );
        assert!(policy(&["127.0.0.1/32"], true)
            .check("127.0.0.1:40000".parse().unwrap())
            .is_ok());
    }

    fn net(s: &str) -> Allow {
        Allow::Net(s.parse().unwrap())
    }

    #[test]
    fn allow_entries_forms() {
        let cases: &[(&str, Allow)] = &[
            ("127.0.0.1", net("127.0.0.1/32")),
            ("10/8", net("10.0.0.0/8")),
            ("192.168/16", net("192.168.0.0/16")),
            ("172.16.5/24", net("172.16.5.0/24")),
            ("0.0.0.0/0", net("0.0.0.0/0")),
            ("10.1.2.3/8", net("10.1.2.3/8")),
            ("::1", net("::1/128")),
            ("fd00::/8", net("fd00::/8")),
            ("build.example.org", Allow::Host("build.example.org".into())),
            ("worker-1", Allow::Host("worker-1".into())),
        ];
        for (input, want) in cases {
            assert_eq!(Allow::parse(input).as_ref(), Some(want), "{input}");
        }
        let bad = [
            "300.1.1.1/8",
            "10/33",
            "10/",
            "/8",
            "10/x",
            "1.2.3.4.5/8",
            "10..1/8",
            "10",
            "10.1",
            "1.2.3.256",
            "::1/129",
            "fe80::zz",
            "-host",
            "host/name",
            "a*b",
            "",
        ];
        for input in bad {
            assert_eq!(Allow::parse(input), None, "{input}");
        }
    }

    #[test]
    fn allow_entry_matching() {
        let e = Allow::parse("10/8").unwrap();
        assert!(e.matches_ip("10.200.1.1".parse().unwrap()));
        assert!(!e.matches_ip("11.0.0.1".parse().unwrap()));
        let h = Allow::parse("worker").unwrap();
        assert!(!h.matches_ip("10.0.0.1".parse().unwrap()));
        assert!(h.matches_host("worker"));
        assert!(!h.matches_host("Worker"));
        assert_eq!(e.to_string(), "10.0.0.0/8");
        assert_eq!(h.to_string(), "worker");
        assert_eq!(Allow::loopback(), [net("127.0.0.1/32"), net("::1/128")]);
    }

    #[test]
    fn allow_list() {
        let p = policy(&["10.0.0.0/8", "127.0.0.1/32"], true);
        assert!(p.check("10.2.3.4:5".parse().unwrap()).is_ok());
        assert_eq!(
            p.check("127.0.0.2:5".parse().unwrap())
                .unwrap_err()
                .wire_text(),
            "illegal host 127.0.0.2"
        );
        assert!(p.check("[::ffff:127.0.0.1]:5".parse().unwrap()).is_ok());
        assert!(policy(&[], true)
            .check("127.0.0.1:5".parse().unwrap())
            .is_err());
    }
}

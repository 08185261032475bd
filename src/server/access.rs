//! Who may talk to us: reserved source ports and the `allow:` list (spec §7).
use std::net::{IpAddr, SocketAddr};

pub use crate::config::AllowEntry as Allow;
use crate::wire_error::WireError;

/// The access policy of the listening side.
#[derive(Debug, Clone, Default)]
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

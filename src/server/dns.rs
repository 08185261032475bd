//! Host names in `allow:` (spec §7.1): the peer's reverse-DNS name, then
//! forward-confirmed (the name must resolve back to the peer's address, so
//! whoever controls the reverse zone of an address cannot claim any name).
//!
//! A deliberate difference from obs-signd, which takes the reverse lookup
//! alone (`getnameinfo`; spec §13, issue 16 item 14; README's
//! compatibility table): a name that does not resolve back to the peer
//! does not match. Where the reverse and forward zones agree, which a
//! working `allow:` by host name needs anyway, the result is the same.
//!
//! The resolver calls are blocking (`getnameinfo`/`getaddrinfo`): they run
//! on tokio's blocking pool and are bounded by a timeout; a lookup that
//! times out or fails simply does not match.
use std::net::IpAddr;
use std::time::Duration;

use super::access::canonical;

/// The forward-confirmed host name of `ip`, or `None`.
pub async fn confirmed_name(ip: IpAddr, limit: Duration) -> Option<String> {
    let task = tokio::task::spawn_blocking(move || confirm_blocking(ip));
    match tokio::time::timeout(limit, task).await {
        Ok(Ok(name)) => name,
        Ok(Err(_)) => None,
        Err(_) => {
            tracing::info!(%ip, "reverse DNS lookup timed out");
            None
        }
    }
}

fn confirm_blocking(ip: IpAddr) -> Option<String> {
    confirm_with(
        ip,
        |ip| dns_lookup::lookup_addr(ip).ok(),
        |name| dns_lookup::lookup_host(name).ok(),
    )
}

/// The rule, with the two lookups passed in: `reverse` gives the peer's
/// name, `forward` that name's addresses, one of which must be the peer's.
fn confirm_with(
    ip: IpAddr,
    reverse: impl Fn(&IpAddr) -> Option<String>,
    forward: impl Fn(&str) -> Option<Vec<IpAddr>>,
) -> Option<String> {
    let name = reverse(&ip)?;
    let forward = forward(&name)?;
    let confirmed = forward.into_iter().any(|a| canonical(a) == canonical(ip));
    if confirmed {
        Some(name)
    } else {
        tracing::info!(%ip, %name, "reverse DNS name does not resolve back to the peer");
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn loopback_is_localhost() {
        // /etc/hosts maps 127.0.0.1 to localhost on every machine we run on.
        let name = confirmed_name("127.0.0.1".parse().unwrap(), Duration::from_secs(5)).await;
        assert_eq!(name.as_deref(), Some("localhost"));
    }

    /// The documented difference from obs-signd: a reverse name whose
    /// forward lookup does not give the peer back does not match (Perl
    /// would accept it); one that does, matches.
    #[test]
    fn a_reverse_name_must_resolve_back_to_the_peer() {
        let peer: IpAddr = "192.0.2.7".parse().unwrap();
        let reverse = |_: &IpAddr| Some("build.example.org".to_string());
        let elsewhere = |_: &str| Some(vec!["198.51.100.1".parse().unwrap()]);
        assert_eq!(confirm_with(peer, reverse, elsewhere), None);
        let back = |_: &str| Some(vec!["198.51.100.1".parse().unwrap(), peer]);
        assert_eq!(
            confirm_with(peer, reverse, back).as_deref(),
            Some("build.example.org")
        );
        // A v4-mapped peer is the same address.
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert!(confirm_with(mapped, reverse, back).is_some());
        assert_eq!(confirm_with(peer, reverse, |_: &str| None), None);
        assert_eq!(confirm_with(peer, |_: &IpAddr| None, back), None);
    }
}

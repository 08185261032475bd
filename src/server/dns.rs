//! Host names in `allow:` (spec §7.1): the peer's reverse-DNS name, then
//! forward-confirmed (the name must resolve back to the peer's address, so
//! whoever controls the reverse zone of an address cannot claim any name).
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
    let name = dns_lookup::lookup_addr(&ip).ok()?;
    let forward = dns_lookup::lookup_host(&name).ok()?;
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
}

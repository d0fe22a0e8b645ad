//! Who the client is: the TCP peer, or — when the peer is a reverse proxy the
//! operator trusts (`--trusted-proxies`) — the address the proxies recorded in
//! `X-Forwarded-For`.
//!
//! Only the part of `X-Forwarded-For` written by trusted proxies is believed:
//! the list is read from the right (the hop nearest to cartql), skipping
//! trusted proxies, and the first address that is not one is the client. What
//! a client writes into the header itself sits to the left of that and is
//! never used. Without `--trusted-proxies` the header is ignored.

use crate::auth::ClientAddress;
use axum::http::HeaderMap;
use ipnet::IpNet;
use std::net::IpAddr;

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// These networks (a single address is a /32 or /128).
    pub fn new(networks: Vec<IpNet>) -> TrustedProxies {
        TrustedProxies(networks)
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&address))
    }

    /// The client behind a request from `peer` with these headers.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> ClientAddress {
        if !self.trusts(peer) {
            return ClientAddress(peer);
        }
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect::<Vec<_>>();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(address) = parse_hop(hop) else {
                // Garbage where a trusted proxy should have written an
                // address: believe nothing further left.
                break;
            };
            client = address;
            if !self.trusts(address) {
                break;
            }
        }
        ClientAddress(client)
    }
}

/// One `X-Forwarded-For` entry: an IPv4 or IPv6 address, possibly with a port
/// (`1.2.3.4:5678`, `[::1]:5678`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(address) = hop.parse() {
        return Some(address);
    }
    if let Ok(socket) = hop.parse::<std::net::SocketAddr>() {
        return Some(socket.ip());
    }
    hop.strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|inner| inner.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_network;

    fn headers(forwarded: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in forwarded {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn proxies() -> TrustedProxies {
        TrustedProxies::new(vec![
            parse_network("10.0.0.0/8").unwrap(),
            parse_network("::1").unwrap(),
        ])
    }

    #[test]
    fn the_header_is_ignored_unless_the_peer_is_a_trusted_proxy() {
        let spoofed = headers(&["1.2.3.4"]);
        assert_eq!(
            proxies().client(ip("203.0.113.9"), &spoofed).0,
            ip("203.0.113.9")
        );
        assert_eq!(
            TrustedProxies::default().client(ip("10.0.0.1"), &spoofed).0,
            ip("10.0.0.1")
        );
    }

    #[test]
    fn the_client_is_the_rightmost_address_that_is_not_a_trusted_proxy() {
        // The client wrote "6.6.6.6" itself; the proxies appended the rest.
        let forwarded = headers(&["6.6.6.6, 198.51.100.7", "10.1.1.1"]);
        assert_eq!(
            proxies().client(ip("10.0.0.2"), &forwarded).0,
            ip("198.51.100.7")
        );
        let with_port = headers(&["[2001:db8::5]:4711"]);
        assert_eq!(proxies().client(ip("::1"), &with_port).0, ip("2001:db8::5"));
        let garbage = headers(&["nonsense"]);
        assert_eq!(proxies().client(ip("10.0.0.2"), &garbage).0, ip("10.0.0.2"));
        assert_eq!(
            proxies().client(ip("10.0.0.2"), &headers(&[])).0,
            ip("10.0.0.2")
        );
    }

    #[test]
    fn networks_are_addresses_or_cidr() {
        assert!(parse_network("192.168.0.0/16").is_ok());
        assert!(parse_network("fd00::/8").is_ok());
        assert!(parse_network("127.0.0.1").is_ok());
        assert!(parse_network("10.0.0.0/33").is_err());
        assert!(parse_network("proxy.local").is_err());
    }
}

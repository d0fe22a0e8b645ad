//! Who the client is: the TCP peer, or — when the peer is a reverse proxy the
//! operator trusts (`--trusted-proxies`) — the address the proxies recorded in
//! `X-Forwarded-For`.
//!
//! Only the part of `X-Forwarded-For` written by trusted proxies is believed:
//! the list is read from the right (the hop nearest to cartql), skipping
//! trusted proxies, and the first address that is not one is the client. What
//! a client writes into the header itself sits to the left of that and is
//! never used. An entry that is not an address (any byte that is not visible
//! ASCII makes it garbage) stops the reading: nothing left of it is believed,
//! and the client is the last good hop, or the peer. Without
//! `--trusted-proxies` the header is ignored.
//!
//! Every address is made canonical before it is compared or kept: on a
//! dual-stack listener (`--listen [::]:8080`) Linux shows an IPv4 peer as
//! `::ffff:a.b.c.d`, and proxies may write that form too. Read as it is, it
//! would neither match an IPv4 `--trusted-proxies` entry nor count as its own
//! client (every IPv4 client would share the /64 `::`). So the peer, each
//! forwarded hop and each trusted network are turned into IPv4 first; an
//! IPv6 network such as `::/0` then does not cover IPv4 clients, exactly as
//! on an IPv4 listener.

use crate::auth::ClientAddress;
use axum::http::HeaderMap;
use ipnet::IpNet;
use std::net::IpAddr;

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// These networks (a single address is a /32 or /128), made canonical.
    pub fn new(networks: Vec<IpNet>) -> TrustedProxies {
        TrustedProxies(
            networks
                .into_iter()
                .map(crate::auth::canonical_network)
                .collect(),
        )
    }

    /// Whether `address` (canonical) is one of the trusted proxies.
    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&address))
    }

    /// The client behind a request from `peer` with these headers.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> ClientAddress {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return ClientAddress::new(peer);
        }
        // Entries are split from the raw bytes: a value with bytes that are
        // not visible ASCII is not skipped as a whole (that would believe
        // what the client wrote left of it); its bad entry is garbage.
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .flat_map(|value| value.as_bytes().split(|byte| *byte == b','))
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
        ClientAddress::new(client)
    }
}

/// One `X-Forwarded-For` entry: an IPv4 or IPv6 address, possibly with a port
/// (`1.2.3.4:5678`, `[::1]:5678`), made canonical. `None` for anything else,
/// bytes that are not visible ASCII included.
fn parse_hop(hop: &[u8]) -> Option<IpAddr> {
    let hop = std::str::from_utf8(hop).ok().filter(|hop| hop.is_ascii())?;
    let hop = hop.trim();
    let address = hop
        .parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            hop.strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|inner| inner.parse().ok())
        })?;
    Some(address.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_network;
    use axum::http::HeaderValue;

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
            proxies().client(ip("203.0.113.9"), &spoofed).ip(),
            ip("203.0.113.9")
        );
        assert_eq!(
            TrustedProxies::default()
                .client(ip("10.0.0.1"), &spoofed)
                .ip(),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn the_client_is_the_rightmost_address_that_is_not_a_trusted_proxy() {
        // The client wrote "6.6.6.6" itself; the proxies appended the rest.
        let forwarded = headers(&["6.6.6.6, 198.51.100.7", "10.1.1.1"]);
        assert_eq!(
            proxies().client(ip("10.0.0.2"), &forwarded).ip(),
            ip("198.51.100.7")
        );
        let with_port = headers(&["[2001:db8::5]:4711"]);
        assert_eq!(
            proxies().client(ip("::1"), &with_port).ip(),
            ip("2001:db8::5")
        );
        let garbage = headers(&["nonsense"]);
        assert_eq!(
            proxies().client(ip("10.0.0.2"), &garbage).ip(),
            ip("10.0.0.2")
        );
        assert_eq!(
            proxies().client(ip("10.0.0.2"), &headers(&[])).ip(),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn an_entry_that_is_not_visible_ascii_is_garbage_not_skipped() {
        // The client sent "X-Forwarded-For: 6.6.6.6" and a second value with
        // a byte that is not visible ASCII; the trusted proxy 10.1.1.1
        // appended its own line. Skipping the bad value would have made
        // 6.6.6.6 the client; reading stops at it instead.
        let mut forwarded = headers(&["6.6.6.6"]);
        let bad = HeaderValue::from_bytes(b"198.51.100.7\xff").unwrap();
        forwarded.append("x-forwarded-for", bad);
        forwarded.append("x-forwarded-for", "10.1.1.1".parse().unwrap());
        assert_eq!(
            proxies().client(ip("10.0.0.2"), &forwarded).ip(),
            ip("10.1.1.1"),
            "the last good hop"
        );
        // The same within one value: what the proxy appended right of the
        // client's bytes is still read; nothing left of them is.
        let mut one_value = HeaderMap::new();
        let appended = HeaderValue::from_bytes(b"6.6.6.6, caf\xc3\xa9, 198.51.100.7").unwrap();
        one_value.append("x-forwarded-for", appended);
        assert_eq!(
            proxies().client(ip("10.0.0.2"), &one_value).ip(),
            ip("198.51.100.7")
        );
        let mut only_bad = HeaderMap::new();
        let trusted_then_bad = HeaderValue::from_bytes(b"6.6.6.6, \x80, 10.1.1.1").unwrap();
        only_bad.append("x-forwarded-for", trusted_then_bad);
        assert_eq!(
            proxies().client(ip("10.0.0.2"), &only_bad).ip(),
            ip("10.1.1.1")
        );
    }

    #[test]
    fn an_ipv4_peer_seen_as_ipv4_mapped_is_the_ipv4_client() {
        // A dual-stack listener shows the IPv4 peer 203.0.113.9 as
        // ::ffff:203.0.113.9: it is that IPv4 client, with its own key.
        let none = HeaderMap::new();
        let client = TrustedProxies::default().client(ip("::ffff:203.0.113.9"), &none);
        assert_eq!(client.ip(), ip("203.0.113.9"));
        assert_eq!(client.throttle_key(), "203.0.113.9");
    }

    #[test]
    fn a_trusted_ipv4_proxy_is_trusted_when_seen_as_ipv4_mapped() {
        let loopback = TrustedProxies::new(vec![parse_network("127.0.0.1").unwrap()]);
        let forwarded = headers(&["198.51.100.7"]);
        assert_eq!(
            loopback.client(ip("::ffff:127.0.0.1"), &forwarded).ip(),
            ip("198.51.100.7")
        );
        // A proxy that writes IPv4 clients in the mapped form names an IPv4
        // client; a trusted hop written that way is skipped like its IPv4 form.
        let mapped = headers(&["::ffff:198.51.100.7, ::ffff:10.1.1.1"]);
        let client = proxies().client(ip("10.0.0.2"), &mapped);
        assert_eq!(client.ip(), ip("198.51.100.7"));
        assert_eq!(client.throttle_key(), "198.51.100.7");
        let with_port = headers(&["[::ffff:198.51.100.8]:4711"]);
        assert_eq!(
            proxies().client(ip("10.0.0.2"), &with_port).ip(),
            ip("198.51.100.8")
        );
    }

    #[test]
    fn ipv4_mapped_networks_are_read_as_ipv4_networks() {
        let net = |text: &str| parse_network(text).unwrap().to_string();
        assert_eq!(net("::ffff:10.0.0.0/104"), "10.0.0.0/8");
        assert_eq!(net("::ffff:127.0.0.1"), "127.0.0.1/32");
        assert_eq!(net("::ffff:0:0/96"), "0.0.0.0/0");
        // Networks that are not within ::ffff:0:0/96 stay as written.
        assert_eq!(net("::/0"), "::/0");
        assert_eq!(net("fd00::/8"), "fd00::/8");
        assert_eq!(net("::ffff:0:0/95"), "::ffff:0.0.0.0/95");
        let mapped = TrustedProxies::new(vec!["::ffff:10.0.0.0/104".parse().unwrap()]);
        let forwarded = headers(&["198.51.100.7"]);
        for peer in ["10.9.9.9", "::ffff:10.9.9.9"] {
            assert_eq!(mapped.client(ip(peer), &forwarded).ip(), ip("198.51.100.7"));
        }
        assert_eq!(
            mapped.client(ip("11.0.0.1"), &forwarded).ip(),
            ip("11.0.0.1")
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

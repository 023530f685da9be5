//! Which addresses an HTTP step may reach: by default (`executor.egress =
//! public`) public ones, plus the networks an operator allow-listed;
//! private, loopback, link-local (cloud metadata), CGNAT, multicast and
//! unspecified addresses are refused. With `egress = allowlist` only the
//! allow-listed networks, nothing else.

use ipnet::IpNet;
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `executor.egress`: where HTTP steps may go besides `executor.allow_networks`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Egress {
    /// Any public address.
    #[default]
    Public,
    /// Nothing but `executor.allow_networks`.
    Allowlist,
}

#[derive(Debug, Clone, Default)]
pub struct NetworkPolicy {
    allow: Vec<IpNet>,
    egress: Egress,
}

impl NetworkPolicy {
    /// Parses `ECHOFLOW_EXECUTOR__ALLOW_NETWORKS` (comma-separated CIDRs or addresses).
    pub fn parse(allow: &str) -> Result<Self, String> {
        let allow = allow
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("executor.allow_networks: {s:?} is not a CIDR"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            allow,
            egress: Egress::Public,
        })
    }

    /// The same allow-list under `egress`.
    pub fn with_egress(self, egress: Egress) -> Self {
        Self { egress, ..self }
    }

    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        let listed = self.allow.iter().any(|net| net.contains(&ip));
        match self.egress {
            Egress::Public => listed || !is_restricted(ip),
            Egress::Allowlist => listed,
        }
    }

    /// Why `ip` is refused, naming the settings that would open it.
    pub fn refusal(&self, ip: IpAddr) -> String {
        match self.egress {
            Egress::Public => format!(
                "{ip} is a private, loopback, link-local or metadata address; allow it with ECHOFLOW_EXECUTOR__ALLOW_NETWORKS"
            ),
            Egress::Allowlist => format!(
                "{ip} is not in executor.allow_networks, and executor.egress = allowlist lets HTTP steps reach nothing else; allow it with ECHOFLOW_EXECUTOR__ALLOW_NETWORKS"
            ),
        }
    }
}

/// IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn is_restricted(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_restricted_v4(v4),
        IpAddr::V6(v6) => is_restricted_v6(v6),
    }
}

fn is_restricted_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        || a >= 240
}

fn is_restricted_v6(ip: Ipv6Addr) -> bool {
    let [first, second, third, ..] = ip.segments();
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        // Deprecated site-local: some stacks still route it inside a site.
        || (first & 0xffc0) == 0xfec0
        // Local-use NAT64 (RFC 8215): translates into the operator's own network.
        || (first, second, third) == (0x64, 0xff9b, 1)
        || embedded_v4(ip).is_some_and(is_restricted_v4)
}

/// The IPv4 address an IPv6 address reaches through a translator or tunnel:
/// IPv4-compatible (`::a.b.c.d`), IPv4-translated (`::ffff:0:a.b.c.d`),
/// NAT64 (`64:ff9b::a.b.c.d`) and 6to4 (`2002:aabb:ccdd::/48`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match ip.segments() {
        [0, 0, 0, 0, 0, 0, hi, lo]
        | [0, 0, 0, 0, 0xffff, 0, hi, lo]
        | [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(v4(hi, lo)),
        [0x2002, hi, lo, ..] => Some(v4(hi, lo)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// The address check alone: no test sends traffic outside 127.0.0.0/8.
    #[test]
    fn refuses_internal_addresses_by_default() {
        let p = NetworkPolicy::default();
        for addr in [
            // private
            "10.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.254",
            "192.168.1.1",
            // loopback, unspecified, "this network"
            "127.0.0.1",
            "127.0.0.2",
            "0.0.0.0",
            "0.1.2.3",
            // link-local and the cloud metadata address
            "169.254.169.254",
            "169.254.0.1",
            // CGNAT, IETF protocol assignments, reserved, broadcast, multicast
            "100.64.0.1",
            "100.127.255.254",
            "192.0.0.8",
            "240.0.0.1",
            "255.255.255.255",
            "224.0.0.1",
            // IPv6 loopback, unspecified, unique local, link-local, site-local, multicast
            "::1",
            "::",
            "fd00::1",
            "fc00::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            // IPv4 inside IPv6: mapped, compatible, translated, NAT64, 6to4
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "::ffff:0:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::1",
        ] {
            assert!(!p.permits(ip(addr)), "{addr} should be refused");
        }
        for addr in [
            "93.184.216.34",
            "8.8.8.8",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:93.184.216.34",
            "64:ff9b::808:808",
            "2002:5db8:d822::1",
        ] {
            assert!(p.permits(ip(addr)), "{addr} should be allowed");
        }
    }

    #[test]
    fn allow_list_opens_exactly_its_networks() {
        let p = NetworkPolicy::parse("127.0.0.0/8, 10.0.0.5").unwrap();
        assert!(p.permits(ip("127.0.0.1")));
        assert!(p.permits(ip("10.0.0.5")));
        assert!(!p.permits(ip("10.0.0.6")));
        assert!(!p.permits(ip("169.254.169.254")));
        assert!(NetworkPolicy::parse("nope").is_err());
    }

    /// The address check alone: nothing is sent anywhere.
    #[test]
    fn allowlist_egress_refuses_public_addresses_and_opens_only_its_networks() {
        let p = NetworkPolicy::parse("127.0.0.0/8, 10.1.0.0/16")
            .unwrap()
            .with_egress(Egress::Allowlist);
        for addr in ["127.0.0.1", "10.1.2.3", "::ffff:127.0.0.1"] {
            assert!(p.permits(ip(addr)), "{addr} is listed");
        }
        for addr in [
            "203.0.113.7",
            "93.184.216.34",
            "2606:4700::1111",
            "10.2.0.1",
            "169.254.169.254",
            "::1",
        ] {
            assert!(!p.permits(ip(addr)), "{addr} is not listed");
        }
        assert!(
            p.refusal(ip("203.0.113.7"))
                .starts_with("203.0.113.7 is not in executor.allow_networks")
        );
        let nothing = NetworkPolicy::default().with_egress(Egress::Allowlist);
        assert!(!nothing.permits(ip("8.8.8.8")));
    }
}

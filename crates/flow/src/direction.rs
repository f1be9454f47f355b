//! Direction of a flow relative to the home network (`--home-net`).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// Where a flow goes relative to the home network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From outside into the home network.
    Inbound,
    /// From the home network out.
    Outbound,
    /// Both ends at home.
    Internal,
    /// Neither end at home.
    #[default]
    External,
}

impl Direction {
    /// The name written to outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
            Direction::Internal => "internal",
            Direction::External => "external",
        }
    }

    /// The direction named by [`Direction::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        [
            Direction::Inbound,
            Direction::Outbound,
            Direction::Internal,
            Direction::External,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }
}

/// One CIDR block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// A bad CIDR in the configuration.
#[derive(Debug, thiserror::Error)]
#[error("invalid network {0:?}: expected ADDRESS/PREFIX, e.g. 10.0.0.0/8 or fd00::/8")]
pub struct CidrError(pub String);

impl FromStr for Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || CidrError(s.to_string());
        let (a, p) = s.trim().split_once('/').ok_or_else(err)?;
        let addr: IpAddr = a.parse().map_err(|_| err())?;
        let prefix: u8 = p.parse().map_err(|_| err())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(err());
        }
        Ok(Cidr { addr, prefix })
    }
}

#[cfg(test)]
mod cidr_tests {
    use super::*;

    #[test]
    fn bounds_cover_exactly_the_block() {
        let c: Cidr = "10.1.2.3/16".parse().unwrap();
        assert_eq!(
            c.bounds(),
            ("10.1.0.0".parse().unwrap(), "10.1.255.255".parse().unwrap())
        );
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert_eq!(all.bounds().1, "255.255.255.255".parse::<IpAddr>().unwrap());
        let v6: Cidr = "fd00::1/8".parse().unwrap();
        assert_eq!(
            v6.bounds(),
            (
                "fd00::".parse().unwrap(),
                "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap()
            )
        );
        let host: Cidr = "192.168.1.7/32".parse().unwrap();
        assert_eq!(host.bounds().0, host.bounds().1);
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Cidr {
    fn mask4(&self) -> u32 {
        u32::MAX.checked_shl(32 - self.prefix as u32).unwrap_or(0)
    }

    fn mask6(&self) -> u128 {
        u128::MAX.checked_shl(128 - self.prefix as u32).unwrap_or(0)
    }

    /// Whether `ip` is inside the block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                u32::from(n) & self.mask4() == u32::from(a) & self.mask4()
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                u128::from(n) & self.mask6() == u128::from(a) & self.mask6()
            }
            _ => false,
        }
    }

    /// The lowest and highest addresses of the block.
    pub fn bounds(&self) -> (IpAddr, IpAddr) {
        match self.addr {
            IpAddr::V4(n) => {
                let lo = u32::from(n) & self.mask4();
                (
                    std::net::Ipv4Addr::from(lo).into(),
                    std::net::Ipv4Addr::from(lo | !self.mask4()).into(),
                )
            }
            IpAddr::V6(n) => {
                let lo = u128::from(n) & self.mask6();
                (
                    std::net::Ipv6Addr::from(lo).into(),
                    std::net::Ipv6Addr::from(lo | !self.mask6()).into(),
                )
            }
        }
    }
}

/// The home network: a list of CIDR blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HomeNet(pub Vec<Cidr>);

impl Default for HomeNet {
    /// Private address space: RFC 1918, IPv6 unique-local (RFC 4193) and link-local, and
    /// loopback.
    fn default() -> Self {
        HomeNet(
            [
                "10.0.0.0/8",
                "172.16.0.0/12",
                "192.168.0.0/16",
                "fc00::/7",
                "fe80::/10",
                "127.0.0.0/8",
                "::1/128",
            ]
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect(),
        )
    }
}

impl FromStr for HomeNet {
    type Err = CidrError;
    /// A comma-separated list of CIDRs.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(',')
            .filter(|p| !p.trim().is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map(HomeNet)
    }
}

impl HomeNet {
    /// Whether `ip` is at home.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    /// The direction of a flow from `src` to `dst`.
    pub fn classify(&self, src: IpAddr, dst: IpAddr) -> Direction {
        match (self.contains(src), self.contains(dst)) {
            (true, true) => Direction::Internal,
            (true, false) => Direction::Outbound,
            (false, true) => Direction::Inbound,
            (false, false) => Direction::External,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_by_which_end_is_at_home() {
        let home: HomeNet = "192.168.0.0/16,fd00::/8".parse().unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            home.classify(ip("192.168.1.2"), ip("8.8.8.8")),
            Direction::Outbound
        );
        assert_eq!(
            home.classify(ip("8.8.8.8"), ip("192.168.1.2")),
            Direction::Inbound
        );
        assert_eq!(
            home.classify(ip("192.168.1.2"), ip("192.168.9.9")),
            Direction::Internal
        );
        assert_eq!(
            home.classify(ip("1.1.1.1"), ip("8.8.8.8")),
            Direction::External
        );
        assert_eq!(
            home.classify(ip("fd00::1"), ip("2001:db8::1")),
            Direction::Outbound
        );
    }

    #[test]
    fn rejects_a_malformed_network_naming_it() {
        let e = "10.0.0.0/33".parse::<HomeNet>().unwrap_err();
        assert!(e.to_string().contains("10.0.0.0/33"));
    }
}

//! Socket addresses as syscalls pass them: `struct sockaddr` and the
//! layouts of its families (the kernel's UAPI headers: in.h, in6.h, un.h,
//! netlink.h, if_packet.h). The recorder keeps the bytes a syscall was given
//! (the syscalls table's `sockaddr` column) and says what they are in
//! `sa_family`, `sa_addr` and `sa_port`; readers that need more (stap's
//! argstr) parse the bytes with [`parse`].

use std::net::{Ipv4Addr, Ipv6Addr};

/// The most bytes of an address kept: `sizeof(struct sockaddr_storage)`,
/// which is also what stap reads.
pub const MAX: usize = 128;

pub const AF_UNIX: u16 = 1;
pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;
pub const AF_NETLINK: u16 = 16;
pub const AF_PACKET: u16 = 17;

/// Sizes of the families' structs.
pub const SOCKADDR_IN: usize = 16;
pub const SOCKADDR_IN6: usize = 28;
pub const SOCKADDR_UN: usize = 110;
pub const SOCKADDR_NL: usize = 12;
pub const SOCKADDR_LL: usize = 20;

/// An address, by family. Multi-byte fields the kernel keeps in network
/// order (ports, packet protocol) are converted; the others are as the
/// recording machine stored them (`sa_family_t` and the rest are host
/// order, and the recorder runs on the traced machine).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SockAddr<'a> {
    Inet {
        ip: Ipv4Addr,
        port: u16,
    },
    Inet6 {
        ip: Ipv6Addr,
        port: u16,
        /// `sin6_flowinfo` as its four bytes read in host order.
        flowinfo: u32,
        scope_id: u32,
    },
    /// A path, or an abstract name (first byte NUL; `name` is what follows
    /// it, as many bytes as the address length says).
    Unix {
        name: &'a [u8],
        abstract_name: bool,
    },
    Netlink {
        pid: u32,
        groups: u32,
    },
    Packet {
        protocol: u16,
        ifindex: i32,
        hatype: u16,
        pkttype: u8,
        halen: u8,
        addr: [u8; 8],
    },
}

/// The family of an address (`sa_family`), when it is long enough to have
/// one.
pub fn family(bytes: &[u8]) -> Option<u16> {
    Some(u16::from_ne_bytes(bytes.get(..2)?.try_into().ok()?))
}

/// The kernel's name of a family (`AF_INET`), for the common ones.
pub fn family_name(family: u16) -> Option<&'static str> {
    Some(match family {
        0 => "AF_UNSPEC",
        AF_UNIX => "AF_UNIX",
        AF_INET => "AF_INET",
        AF_INET6 => "AF_INET6",
        AF_NETLINK => "AF_NETLINK",
        AF_PACKET => "AF_PACKET",
        _ => return None,
    })
}

fn u32_ne(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn port(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[2], b[3]])
}

/// Parses an address of a known family that is at least as long as its
/// family's struct (AF_UNIX: a family and one byte); None otherwise.
pub fn parse(b: &[u8]) -> Option<SockAddr<'_>> {
    Some(match family(b)? {
        AF_INET if b.len() >= SOCKADDR_IN => SockAddr::Inet {
            ip: Ipv4Addr::new(b[4], b[5], b[6], b[7]),
            port: port(b),
        },
        AF_INET6 if b.len() >= SOCKADDR_IN6 => {
            let ip: [u8; 16] = b[8..24].try_into().expect("16 bytes");
            SockAddr::Inet6 {
                ip: Ipv6Addr::from(ip),
                port: port(b),
                flowinfo: u32_ne(b, 4),
                scope_id: u32_ne(b, 24),
            }
        }
        AF_UNIX if b.len() > 2 => {
            let path = &b[2..b.len().min(SOCKADDR_UN)];
            if path[0] == 0 {
                SockAddr::Unix {
                    name: &path[1..],
                    abstract_name: true,
                }
            } else {
                let end = path.iter().position(|c| *c == 0).unwrap_or(path.len());
                SockAddr::Unix {
                    name: &path[..end],
                    abstract_name: false,
                }
            }
        }
        AF_NETLINK if b.len() >= SOCKADDR_NL => SockAddr::Netlink {
            pid: u32_ne(b, 4),
            groups: u32_ne(b, 8),
        },
        AF_PACKET if b.len() >= SOCKADDR_LL => SockAddr::Packet {
            protocol: u16::from_be_bytes([b[2], b[3]]),
            ifindex: u32_ne(b, 4) as i32,
            hatype: u16::from_ne_bytes([b[8], b[9]]),
            pkttype: b[10],
            halen: b[11],
            addr: b[12..20].try_into().expect("8 bytes"),
        },
        _ => return None,
    })
}

/// What the `sa_family`, `sa_addr` and `sa_port` columns say of an address:
/// the family's name (or its number), the address as people write it
/// (`127.0.0.1`, `::1`, a socket path, `@name` for an abstract socket as
/// `ss` prints it, a netlink port id) and the port of an IP address.
pub fn columns(b: &[u8]) -> (Option<String>, Option<String>, Option<u16>) {
    let Some(f) = family(b) else {
        return (None, None, None);
    };
    let name = family_name(f)
        .map(str::to_string)
        .unwrap_or_else(|| f.to_string());
    let (addr, port) = match parse(b) {
        Some(SockAddr::Inet { ip, port }) => (Some(ip.to_string()), Some(port)),
        Some(SockAddr::Inet6 { ip, port, .. }) => (Some(ip.to_string()), Some(port)),
        Some(SockAddr::Unix {
            name,
            abstract_name,
        }) => {
            let text = String::from_utf8_lossy(name);
            if abstract_name {
                let end = text.trim_end_matches('\0');
                (Some(format!("@{end}")), None)
            } else {
                (Some(text.into_owned()), None)
            }
        }
        Some(SockAddr::Netlink { pid, .. }) => (Some(pid.to_string()), None),
        _ => (None, None),
    };
    (Some(name), addr, port)
}

/// The bytes of a `struct sockaddr_in` (what a caller passes to connect):
/// the inverse of [`parse`] for IPv4, for tests and tools that make one.
pub fn sockaddr_in(ip: Ipv4Addr, port: u16) -> Vec<u8> {
    let mut b = vec![0u8; SOCKADDR_IN];
    b[..2].copy_from_slice(&AF_INET.to_ne_bytes());
    b[2..4].copy_from_slice(&port.to_be_bytes());
    b[4..8].copy_from_slice(&ip.octets());
    b
}

/// A packet's IP protocol as the `net` table's `transport` column names
/// it (`tcp`, `udp`, ...; other numbers in decimal).
pub fn transport_name(protocol: u8) -> String {
    match protocol {
        1 => "icmp".into(),
        2 => "igmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        33 => "dccp".into(),
        47 => "gre".into(),
        50 => "esp".into(),
        58 => "icmpv6".into(),
        132 => "sctp".into(),
        136 => "udplite".into(),
        n => n.to_string(),
    }
}

/// An IP address from a packet header's bytes: the first 4 for IPv4.
pub fn ip_text(version: u8, bytes: &[u8; 16]) -> Option<String> {
    match version {
        4 => Some(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string()),
        6 => Some(Ipv6Addr::from(*bytes).to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inet(ip: [u8; 4], port: u16) -> Vec<u8> {
        sockaddr_in(ip.into(), port)
    }

    #[test]
    fn families_decode_to_columns() {
        let b = inet([127, 0, 0, 1], 8080);
        assert_eq!(
            columns(&b),
            (Some("AF_INET".into()), Some("127.0.0.1".into()), Some(8080))
        );
        let mut six = vec![0u8; SOCKADDR_IN6];
        six[..2].copy_from_slice(&AF_INET6.to_ne_bytes());
        six[2..4].copy_from_slice(&443u16.to_be_bytes());
        six[23] = 1;
        assert_eq!(
            columns(&six),
            (Some("AF_INET6".into()), Some("::1".into()), Some(443))
        );
        let mut un = AF_UNIX.to_ne_bytes().to_vec();
        un.extend_from_slice(b"/run/x.sock\0garbage");
        assert_eq!(
            columns(&un),
            (Some("AF_UNIX".into()), Some("/run/x.sock".into()), None)
        );
        let mut abs = AF_UNIX.to_ne_bytes().to_vec();
        abs.extend_from_slice(b"\0bus");
        assert_eq!(columns(&abs).1.as_deref(), Some("@bus"));
        assert_eq!(columns(&[42, 0]), (Some("42".into()), None, None));
        assert_eq!(columns(&[1]), (None, None, None));
    }

    #[test]
    fn short_addresses_are_not_parsed() {
        let b = inet([10, 0, 0, 1], 53);
        assert!(parse(&b[..15]).is_none());
        assert_eq!(columns(&b[..8]).0.as_deref(), Some("AF_INET"));
        assert_eq!(columns(&b[..8]).1, None);
    }
}

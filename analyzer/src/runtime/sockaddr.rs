//! Socket addresses as stap's syscall tapset shows them
//! (`_struct_sockaddr_u` and its `_sa_family`, `_ip_addr`, `_tcp_port`,
//! `_ipv6_flowinfo`, `_ipv6_scope_id` variants in aux_syscalls.stp), from
//! the bytes the recorder read at the syscall. stap reads `len` bytes
//! (clamped to 128) into a zeroed buffer and recognises a family only at
//! its struct's exact length; that is kept, quirks included.

pub use crate::stap::elaborate::syscall_args::AddrPart as Part;
use retap_schema::sockaddr::{
    self as sa, SockAddr, AF_INET, AF_INET6, AF_NETLINK, AF_PACKET, AF_UNIX, SOCKADDR_IN,
    SOCKADDR_IN6, SOCKADDR_LL, SOCKADDR_NL, SOCKADDR_UN,
};

/// The recorded bytes of an address: `None` when the pointer was not null
/// but the caller's memory could not be read.
pub fn format(part: Part, ptr: u64, len: i64, bytes: Option<&[u8]>) -> String {
    if ptr == 0 {
        return "NULL".into();
    }
    let Some(bytes) = bytes else {
        return "{...}".into();
    };
    let len = len.clamp(0, sa::MAX as i64) as usize;
    let mut buf = [0u8; sa::MAX];
    let n = bytes.len().min(len);
    buf[..n].copy_from_slice(&bytes[..n]);
    let family = sa::family(&buf).unwrap_or(0);
    match (family, sa::parse(&buf[..len.max(2)])) {
        (AF_INET, Some(SockAddr::Inet { ip, port })) if len == SOCKADDR_IN => match part {
            Part::Pretty => format!("{{AF_INET, {ip}, {port}}}"),
            Part::Family => "AF_INET".into(),
            Part::IpAddr => ip.to_string(),
            Part::Port => port.to_string(),
            Part::Flowinfo | Part::ScopeId => String::new(),
        },
        (AF_UNIX, _) if len == SOCKADDR_UN || len >= 4 => {
            // sun_path, and on to the 128th byte, which stap zeroes.
            let path = &buf[2..sa::MAX - 1];
            match part {
                Part::Pretty if path[0] == 0 => {
                    let name = &buf[3..(3 + len - 2).min(sa::MAX)];
                    format!(
                        "{{AF_UNIX, \"\\000{}\"}}",
                        super::builtins::text_bytes(name, false)
                    )
                }
                Part::Pretty => {
                    let end = path.iter().position(|c| *c == 0).unwrap_or(path.len());
                    format!("{{AF_UNIX, \"{}\"}}", String::from_utf8_lossy(&path[..end]))
                }
                Part::Family => "AF_UNIX".into(),
                _ => String::new(),
            }
        }
        (AF_NETLINK, Some(SockAddr::Netlink { pid, groups })) if len == SOCKADDR_NL => match part {
            Part::Pretty => format!("{{AF_NETLINK, pid={}, groups={groups:08x}}}", pid as i32),
            Part::Family => "AF_NETLINK".into(),
            _ => String::new(),
        },
        (
            AF_INET6,
            Some(SockAddr::Inet6 {
                ip, port, flowinfo, ..
            }),
        ) if len == SOCKADDR_IN6 => {
            // %pI6: eight groups of four hex digits, nothing compressed.
            let full = || {
                ip.segments()
                    .iter()
                    .map(|g| format!("{g:04x}"))
                    .collect::<Vec<_>>()
                    .join(":")
            };
            match part {
                Part::Pretty => format!("{{AF_INET6, {}, {port}}}", full()),
                Part::Family => "AF_INET6".into(),
                Part::IpAddr => full(),
                Part::Port => port.to_string(),
                Part::Flowinfo | Part::ScopeId => (flowinfo as i32).to_string(),
            }
        }
        (
            AF_PACKET,
            Some(SockAddr::Packet {
                protocol,
                ifindex,
                hatype,
                pkttype,
                halen,
                addr,
            }),
        ) if len == SOCKADDR_LL => match part {
            Part::Pretty => {
                // stap prints the protocol as stored (network order) and the
                // hardware address as a host-order 64-bit word.
                let proto = u16::from_ne_bytes(protocol.to_be_bytes());
                let addr = u64::from_ne_bytes(addr);
                format!(
                    "{{AF_PACKET, proto={proto}, ind={ifindex}, hatype={hatype}, pkttype={pkttype}, halen={halen}, addr=0x{addr:x}}}"
                )
            }
            Part::Family => "AF_PACKET".into(),
            _ => String::new(),
        },
        _ if len >= 2 => format!("{{unknown sockaddr with sa={family}, salen={len}}}"),
        _ => format!("{{unknown sockaddr with salen={len}}}"),
    }
}

/// What the `_af_inet_info_u` variables of `syscall.connect` and
/// `syscall.bind` hold: `uaddr_af` always, `uaddr_ip` and `uaddr_ip_port`
/// for an address whose family reads `AF_INET...`, the flow info and scope
/// id for `AF_INET6`; "" where stap leaves the variable unset.
pub fn inet_info(part: Part, ptr: u64, len: i64, bytes: Option<&[u8]>) -> String {
    let family = format(Part::Family, ptr, len, bytes);
    let wanted = match part {
        Part::Pretty | Part::Family => true,
        Part::IpAddr | Part::Port => family.contains("AF_INET"),
        Part::Flowinfo | Part::ScopeId => family == "AF_INET6",
    };
    match (wanted, part) {
        (false, _) => String::new(),
        (true, Part::Family) => family,
        (true, p) => format(p, ptr, len, bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inet(ip: [u8; 4], port: u16) -> Vec<u8> {
        retap_schema::sockaddr::sockaddr_in(ip.into(), port)
    }

    #[test]
    fn as_stap_prints_them() {
        let b = inet([127, 0, 0, 1], 8080);
        assert_eq!(
            format(Part::Pretty, 1, 16, Some(&b)),
            "{AF_INET, 127.0.0.1, 8080}"
        );
        assert_eq!(format(Part::Family, 1, 16, Some(&b)), "AF_INET");
        assert_eq!(format(Part::IpAddr, 1, 16, Some(&b)), "127.0.0.1");
        assert_eq!(format(Part::Port, 1, 16, Some(&b)), "8080");
        // Not the struct's exact length: not recognised.
        assert_eq!(
            format(Part::Pretty, 1, 20, Some(&b)),
            "{unknown sockaddr with sa=2, salen=20}"
        );
        assert_eq!(format(Part::Pretty, 0, 16, None), "NULL");
        assert_eq!(format(Part::Pretty, 1, 16, None), "{...}");
        assert_eq!(
            format(Part::Pretty, 1, 1, Some(&b[..1])),
            "{unknown sockaddr with salen=1}"
        );

        let mut six = vec![0u8; SOCKADDR_IN6];
        six[..2].copy_from_slice(&AF_INET6.to_ne_bytes());
        six[2..4].copy_from_slice(&53u16.to_be_bytes());
        six[23] = 1;
        assert_eq!(
            format(Part::Pretty, 1, 28, Some(&six)),
            "{AF_INET6, 0000:0000:0000:0000:0000:0000:0000:0001, 53}"
        );

        let mut un = AF_UNIX.to_ne_bytes().to_vec();
        un.extend_from_slice(b"/run/a.sock\0");
        assert_eq!(
            format(Part::Pretty, 1, un.len() as i64, Some(&un)),
            "{AF_UNIX, \"/run/a.sock\"}"
        );
        assert_eq!(format(Part::IpAddr, 1, un.len() as i64, Some(&un)), "");
        let mut abs = AF_UNIX.to_ne_bytes().to_vec();
        abs.extend_from_slice(b"\0bus");
        assert_eq!(
            format(Part::Pretty, 1, abs.len() as i64, Some(&abs)),
            "{AF_UNIX, \"\\000bus\\000\"}"
        );

        let mut nl = vec![0u8; SOCKADDR_NL];
        nl[..2].copy_from_slice(&AF_NETLINK.to_ne_bytes());
        nl[4..8].copy_from_slice(&77u32.to_ne_bytes());
        nl[8..12].copy_from_slice(&0x10u32.to_ne_bytes());
        assert_eq!(
            format(Part::Pretty, 1, 12, Some(&nl)),
            "{AF_NETLINK, pid=77, groups=00000010}"
        );
    }

    #[test]
    fn packet_addresses_print_their_fields_as_stored() {
        let mut ll = vec![0u8; SOCKADDR_LL];
        ll[..2].copy_from_slice(&AF_PACKET.to_ne_bytes());
        ll[2..4].copy_from_slice(&0x0003u16.to_be_bytes()); // ETH_P_ALL
        ll[4..8].copy_from_slice(&2i32.to_ne_bytes());
        ll[8..10].copy_from_slice(&1u16.to_ne_bytes());
        ll[11] = 6;
        ll[12..18].copy_from_slice(&[1, 2, 3, 4, 5, 6]);
        let proto = u16::from_ne_bytes([0, 3]);
        let addr = u64::from_ne_bytes([1, 2, 3, 4, 5, 6, 0, 0]);
        assert_eq!(
            format(Part::Pretty, 1, 20, Some(&ll)),
            format!("{{AF_PACKET, proto={proto}, ind=2, hatype=1, pkttype=0, halen=6, addr=0x{addr:x}}}")
        );
        assert_eq!(format(Part::Family, 1, 20, Some(&ll)), "AF_PACKET");
    }

    #[test]
    fn inet_info_leaves_unset_what_stap_leaves_unset() {
        let b = inet([10, 1, 2, 3], 22);
        assert_eq!(inet_info(Part::IpAddr, 1, 16, Some(&b)), "10.1.2.3");
        assert_eq!(inet_info(Part::Flowinfo, 1, 16, Some(&b)), "");
        let mut un = AF_UNIX.to_ne_bytes().to_vec();
        un.extend_from_slice(b"/x\0");
        assert_eq!(inet_info(Part::Family, 1, 5, Some(&un)), "AF_UNIX");
        assert_eq!(inet_info(Part::Port, 1, 5, Some(&un)), "");
    }
}

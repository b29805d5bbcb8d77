//! IPv4 TCP/UDP packets on an Ethernet device: reading a packet's flow and
//! rewriting its addresses and ports with the checksums kept right.

use aya_ebpf::bindings::{BPF_F_MARK_MANGLED_0, BPF_F_PSEUDO_HDR};
use aya_ebpf::programs::TcContext;
use sluice_ebpf_common::{Flow, PROTO_TCP, PROTO_UDP};

const ETH_HLEN: usize = 14;
/// 0x0800 as the Ethernet header holds it.
const ETH_P_IP_BE: u16 = 0x0800u16.to_be();
const IP_FRAG: usize = ETH_HLEN + 6;
const IP_PROTOCOL: usize = ETH_HLEN + 9;
const IP_CSUM: usize = ETH_HLEN + 10;
const IP_SADDR: usize = ETH_HLEN + 12;
const IP_DADDR: usize = ETH_HLEN + 16;
const TCP_FLAGS: usize = 13;
const TCP_SYN: u8 = 0x02;
const TCP_ACK: u8 = 0x10;

/// A packet's flow and where its transport header and checksum are.
pub struct Packet {
    pub flow: Flow,
    l4: usize,
    csum: usize,
    /// Extra checksum-helper flags (UDP: a zero checksum means none).
    csum_flags: u64,
}

impl Packet {
    /// The flow of an IPv4 TCP or UDP packet that is not a fragment;
    /// `None` for anything else, which passes untouched.
    pub fn parse(ctx: &TcContext) -> Option<Packet> {
        if ctx.load::<u16>(12).ok()? != ETH_P_IP_BE {
            return None;
        }
        let version_ihl: u8 = ctx.load(ETH_HLEN).ok()?;
        let ihl = usize::from(version_ihl & 0x0f) * 4;
        if version_ihl >> 4 != 4 || ihl < 20 {
            return None;
        }
        // Only the first fragment has ports; fragments are left to the stack.
        if u16::from_be(ctx.load::<u16>(IP_FRAG).ok()?) & 0x3fff != 0 {
            return None;
        }
        let protocol: u8 = ctx.load(IP_PROTOCOL).ok()?;
        let (csum, csum_flags) = match protocol {
            PROTO_TCP => (16, 0),
            PROTO_UDP => (6, u64::from(BPF_F_MARK_MANGLED_0)),
            _ => return None,
        };
        let l4 = ETH_HLEN + ihl;
        let flow = Flow {
            saddr: ctx.load(IP_SADDR).ok()?,
            daddr: ctx.load(IP_DADDR).ok()?,
            sport: ctx.load(l4).ok()?,
            dport: ctx.load(l4 + 2).ok()?,
            protocol,
            _pad: [0; 3],
        };
        Some(Packet { flow, l4, csum: l4 + csum, csum_flags })
    }

    /// A TCP SYN without ACK: a new connection, even if its tuple was seen.
    pub fn opens_connection(&self, ctx: &TcContext) -> bool {
        self.flow.protocol == PROTO_TCP
            && ctx.load::<u8>(self.l4 + TCP_FLAGS).is_ok_and(|f| f & (TCP_SYN | TCP_ACK) == TCP_SYN)
    }

    /// Rewrites the packet to carry `to`.
    pub fn rewrite(&self, ctx: &TcContext, to: &Flow) -> Result<(), i64> {
        let from = &self.flow;
        if to.saddr != from.saddr {
            self.address(ctx, IP_SADDR, from.saddr, to.saddr)?;
        }
        if to.daddr != from.daddr {
            self.address(ctx, IP_DADDR, from.daddr, to.daddr)?;
        }
        if to.sport != from.sport {
            self.port(ctx, self.l4, from.sport, to.sport)?;
        }
        if to.dport != from.dport {
            self.port(ctx, self.l4 + 2, from.dport, to.dport)?;
        }
        Ok(())
    }

    /// An address is in the IP checksum and the transport pseudo-header.
    fn address(&self, ctx: &TcContext, offset: usize, from: u32, to: u32) -> Result<(), i64> {
        let flags = u64::from(BPF_F_PSEUDO_HDR) | self.csum_flags | 4;
        ctx.l4_csum_replace(self.csum, u64::from(from), u64::from(to), flags)?;
        ctx.l3_csum_replace(IP_CSUM, u64::from(from), u64::from(to), 4)?;
        ctx.store(offset, &to, 0)
    }

    fn port(&self, ctx: &TcContext, offset: usize, from: u16, to: u16) -> Result<(), i64> {
        ctx.l4_csum_replace(self.csum, u64::from(from), u64::from(to), self.csum_flags | 2)?;
        ctx.store(offset, &to, 0)
    }
}

//! The kernel datapath: the programs loaded once with their shared maps,
//! attached where asked (a cgroup for socket-LB, devices for NodePort), and
//! the maps kept equal to the Snapshot's service table. Dropping it
//! detaches everything it attached.

use crate::node_addresses::ipv4_addresses;
use crate::service_table::{Diff, ServiceTable, TableOptions};
use aya::Ebpf;
#[cfg(feature = "programs")]
use aya::include_bytes_aligned;
use aya::maps::{HashMap, MapData, PerCpuArray};
use aya::programs::{CgroupAttachMode, CgroupSockAddr, SchedClassifier, TcAttachType};
use sluice_config::ServiceVip;
use sluice_ebpf_common::{
    Backend, COUNTER_NO_BACKEND, COUNTER_NODEPORT_FLOWS, COUNTER_NODEPORT_NO_BACKEND, COUNTER_NODEPORT_NO_PORT,
    COUNTER_TRANSLATED, Flow, LiveKey, PROTO_UDP, ServiceKey, ServiceValue, SlotKey,
};
use std::collections::HashSet;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

const SOCKET_PROGRAMS: &[&str] = &["sluice_connect4", "sluice_sendmsg4", "sluice_recvmsg4", "sluice_getpeername4"];
const NODEPORT_PROGRAMS: &[(&str, TcAttachType)] =
    &[("sluice_nodeport_ingress", TcAttachType::Ingress), ("sluice_nodeport_egress", TcAttachType::Egress)];

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open cgroup {path}: {source}")]
    Cgroup { path: String, source: std::io::Error },
    #[error("cannot load the eBPF programs: {0}")]
    Load(#[from] aya::EbpfError),
    #[error("eBPF program {name}: {source}")]
    Program { name: &'static str, source: aya::programs::ProgramError },
    #[error("eBPF map {name}: {source}")]
    Map { name: &'static str, source: aya::maps::MapError },
    #[error("the eBPF object has no {0}")]
    Missing(&'static str),
    #[error("cannot list the node's addresses: {0}")]
    Addresses(std::io::Error),
    #[error("this build has no eBPF programs (built without the `ebpf` cargo feature)")]
    NotBuilt,
}

/// What the programs did since they were loaded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Socket-LB connects and sends translated.
    pub translated: u64,
    /// Socket-LB connects and sends refused: no backend.
    pub no_backend: u64,
    /// New NodePort flows translated.
    pub nodeport_flows: u64,
    /// NodePort packets dropped: no backend (on this node, for `Local`).
    pub nodeport_no_backend: u64,
    /// NodePort packets dropped: no free SNAT port.
    pub nodeport_no_port: u64,
}

/// The kernel's service, backend and live-backend maps, as read back.
pub type KernelMaps = (Vec<(ServiceKey, ServiceValue)>, Vec<(SlotKey, Backend)>, Vec<(LiveKey, u8)>);

pub struct Datapath {
    ebpf: Ebpf,
    options: TableOptions,
    applied: ServiceTable,
    /// A write to the maps failed: they may hold part of a difference.
    unsure: bool,
    /// What `NODE_ADDRS` holds; `None` until a NodePort device is attached
    /// (nothing reads the map before).
    node_addresses: Option<HashSet<u32>>,
}

/// The kernel programs' object, as built into this binary.
#[cfg(feature = "programs")]
fn programs() -> Result<&'static [u8], Error> {
    Ok(include_bytes_aligned!(concat!(env!("OUT_DIR"), "/sluice-ebpf-programs")))
}

#[cfg(not(feature = "programs"))]
fn programs() -> Result<&'static [u8], Error> {
    Err(Error::NotBuilt)
}

fn map_err(name: &'static str) -> impl Fn(aya::maps::MapError) -> Error {
    move |source| Error::Map { name, source }
}

fn program_err(name: &'static str) -> impl Fn(aya::programs::ProgramError) -> Error {
    move |source| Error::Program { name, source }
}

impl Datapath {
    /// Loads the programs and creates their maps; nothing is attached yet.
    pub fn load(options: TableOptions) -> Result<Datapath, Error> {
        let ebpf = Ebpf::load(programs()?)?;
        Ok(Datapath { ebpf, options, applied: ServiceTable::default(), unsure: false, node_addresses: None })
    }

    /// Loaded with the default options and attached to `cgroup` only.
    pub fn socket_lb(cgroup: &Path) -> Result<Datapath, Error> {
        let mut datapath = Datapath::load(TableOptions::default())?;
        datapath.attach_cgroup(cgroup)?;
        Ok(datapath)
    }

    /// Socket-LB for the processes of the cgroup (v2) at `cgroup`.
    pub fn attach_cgroup(&mut self, cgroup: &Path) -> Result<(), Error> {
        let file = File::open(cgroup).map_err(|source| Error::Cgroup { path: cgroup.display().to_string(), source })?;
        for name in SOCKET_PROGRAMS {
            let program: &mut CgroupSockAddr =
                self.ebpf.program_mut(name).ok_or(Error::Missing(name))?.try_into().map_err(program_err(name))?;
            program.load().map_err(program_err(name))?;
            // AllowMultiple fails with aya 0.14 on this kernel (ebpf-toolchain.md).
            program.attach(&file, CgroupAttachMode::Single).map_err(program_err(name))?;
        }
        Ok(())
    }

    /// NodePort on the device `interface` (ingress and egress, through TCX).
    pub fn attach_nodeport(&mut self, interface: &str) -> Result<(), Error> {
        for (name, direction) in NODEPORT_PROGRAMS {
            let program: &mut SchedClassifier =
                self.ebpf.program_mut(name).ok_or(Error::Missing(name))?.try_into().map_err(program_err(name))?;
            if program.fd().is_err() {
                program.load().map_err(program_err(name))?;
            }
            program.attach(interface, *direction).map_err(program_err(name))?;
        }
        self.node_addresses.get_or_insert_default();
        self.sync_node_addresses()
    }

    /// Makes the maps hold `services`, writing only what differs from what
    /// they hold now: a one-service change costs one service (see
    /// [`ServiceTable::update`]). Returns the difference applied. After a
    /// failed write the next sync compares with what the kernel holds.
    pub fn sync(&mut self, services: &[Arc<ServiceVip>]) -> Result<Diff, Error> {
        self.sync_node_addresses()?;
        let diff = self.applied.update(services, &self.options);
        let from_kernel;
        let written = if self.unsure {
            let (s, b, l) = self.kernel_maps()?;
            let kernel = (s.into_iter().collect(), b.into_iter().collect(), l.into_iter().collect());
            from_kernel = Diff::between((&kernel.0, &kernel.1, &kernel.2), self.applied.maps());
            &from_kernel
        } else {
            &diff
        };
        self.unsure = true;
        self.write(written)?;
        self.unsure = false;
        if !written.remove_live.is_empty() {
            self.forget_udp_flows_to_gone_backends(&written.remove_live)?;
        }
        Ok(diff)
    }

    /// Writes `diff` to the maps in its order.
    fn write(&mut self, diff: &Diff) -> Result<(), Error> {
        {
            let mut live = self.map_mut::<LiveKey, u8>("LIVE")?;
            for k in &diff.upsert_live {
                live.insert(k, 1, 0).map_err(map_err("LIVE"))?;
            }
        }
        {
            let mut backends = self.map_mut::<SlotKey, Backend>("BACKENDS")?;
            for (k, v) in &diff.upsert_backends {
                backends.insert(k, v, 0).map_err(map_err("BACKENDS"))?;
            }
        }
        {
            let mut services = self.map_mut::<ServiceKey, ServiceValue>("SERVICES")?;
            for (k, v) in &diff.upsert_services {
                services.insert(k, v, 0).map_err(map_err("SERVICES"))?;
            }
            for k in &diff.remove_services {
                services.remove(k).map_err(map_err("SERVICES"))?;
            }
        }
        {
            let mut backends = self.map_mut::<SlotKey, Backend>("BACKENDS")?;
            for k in &diff.remove_backends {
                backends.remove(k).map_err(map_err("BACKENDS"))?;
            }
        }
        let mut live = self.map_mut::<LiveKey, u8>("LIVE")?;
        for k in &diff.remove_live {
            live.remove(k).map_err(map_err("LIVE"))?;
        }
        Ok(())
    }

    /// UDP NodePort flows to a backend that no longer exists are forgotten,
    /// so the client's next datagram picks a live one (kube-proxy clears
    /// their conntrack entries the same way). TCP flows stay: a terminating
    /// endpoint finishes its connections.
    fn forget_udp_flows_to_gone_backends(&mut self, removed: &[LiveKey]) -> Result<(), Error> {
        // A backend another slot set still has is not gone.
        let gone_backends: HashSet<(u32, u16)> = removed
            .iter()
            .map(|k| (k.address, k.port))
            .filter(|(address, port)| !self.applied.has_backend(*address, *port))
            .collect();
        if gone_backends.is_empty() {
            return Ok(());
        }
        let gone: Vec<(Flow, Flow)> = {
            let forward = self.map::<Flow, Flow>("CT_FORWARD")?;
            forward
                .iter()
                .filter_map(Result::ok)
                .filter(|(_, to)| to.protocol == PROTO_UDP && gone_backends.contains(&(to.daddr, to.dport)))
                .collect()
        };
        let mut forward = self.map_mut::<Flow, Flow>("CT_FORWARD")?;
        for (from, _) in &gone {
            let _ = forward.remove(from);
        }
        let mut reply = self.map_mut::<Flow, Flow>("CT_REPLY")?;
        for (_, to) in &gone {
            let _ = reply.remove(&to.reply());
        }
        Ok(())
    }

    /// NodePorts answer on the node's IPv4 addresses, as they are now.
    fn sync_node_addresses(&mut self) -> Result<(), Error> {
        let Some(before) = &self.node_addresses else { return Ok(()) };
        let now: HashSet<u32> =
            ipv4_addresses().map_err(Error::Addresses)?.into_iter().map(|a| u32::from(a).to_be()).collect();
        if now == *before {
            return Ok(());
        }
        // Empty until written, so a failed write is redone in full next time.
        let before = self.node_addresses.replace(HashSet::new()).unwrap_or_default();
        let mut map = self.map_mut::<u32, u8>("NODE_ADDRS")?;
        for a in now.difference(&before) {
            map.insert(a, 1, 0).map_err(map_err("NODE_ADDRS"))?;
        }
        for a in before.difference(&now) {
            map.remove(a).map_err(map_err("NODE_ADDRS"))?;
        }
        self.node_addresses = Some(now);
        Ok(())
    }

    /// The maps as the kernel holds them now.
    pub fn kernel_maps(&self) -> Result<KernelMaps, Error> {
        let s = self.map::<ServiceKey, ServiceValue>("SERVICES")?.iter().collect::<Result<Vec<_>, _>>();
        let b = self.map::<SlotKey, Backend>("BACKENDS")?.iter().collect::<Result<Vec<_>, _>>();
        let l = self.map::<LiveKey, u8>("LIVE")?.iter().collect::<Result<Vec<_>, _>>();
        Ok((s.map_err(map_err("SERVICES"))?, b.map_err(map_err("BACKENDS"))?, l.map_err(map_err("LIVE"))?))
    }

    /// What the maps should hold, as last synced.
    pub fn applied(&self) -> &ServiceTable {
        &self.applied
    }

    pub fn counters(&self) -> Result<Counters, Error> {
        let counters: PerCpuArray<&MapData, u64> =
            PerCpuArray::try_from(self.ebpf.map("COUNTERS").ok_or(Error::Missing("COUNTERS"))?)
                .map_err(map_err("COUNTERS"))?;
        let sum = |i: u32| counters.get(&i, 0).map(|v| v.iter().sum::<u64>()).map_err(map_err("COUNTERS"));
        Ok(Counters {
            translated: sum(COUNTER_TRANSLATED)?,
            no_backend: sum(COUNTER_NO_BACKEND)?,
            nodeport_flows: sum(COUNTER_NODEPORT_FLOWS)?,
            nodeport_no_backend: sum(COUNTER_NODEPORT_NO_BACKEND)?,
            nodeport_no_port: sum(COUNTER_NODEPORT_NO_PORT)?,
        })
    }

    fn map<K: aya::Pod, V: aya::Pod>(&self, name: &'static str) -> Result<HashMap<&MapData, K, V>, Error> {
        HashMap::try_from(self.ebpf.map(name).ok_or(Error::Missing(name))?).map_err(map_err(name))
    }

    fn map_mut<K: aya::Pod, V: aya::Pod>(&mut self, name: &'static str) -> Result<HashMap<&mut MapData, K, V>, Error> {
        HashMap::try_from(self.ebpf.map_mut(name).ok_or(Error::Missing(name))?).map_err(map_err(name))
    }
}

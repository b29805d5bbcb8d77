//! Socket-LB attached to one cgroup: `connect4`, `sendmsg4`, `recvmsg4` and
//! `getpeername4` programs and their maps. Dropping it detaches everything
//! it attached.

use crate::service_table::{Diff, ServiceTable};
use aya::maps::{HashMap, MapData, PerCpuArray};
use aya::programs::{CgroupAttachMode, CgroupSockAddr};
use aya::{Ebpf, include_bytes_aligned};
use sluice_config::ServiceVip;
use sluice_ebpf_common::{Backend, COUNTER_NO_BACKEND, COUNTER_TRANSLATED, LiveKey, ServiceKey, ServiceValue, SlotKey};
use std::fs::File;
use std::path::Path;

const PROGRAMS: &[&str] = &["sluice_connect4", "sluice_sendmsg4", "sluice_recvmsg4", "sluice_getpeername4"];

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
}

/// Translations and refusals since the programs were loaded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub translated: u64,
    pub no_backend: u64,
}

/// The kernel's service, backend and live-backend maps, as read back.
pub type KernelMaps = (Vec<(ServiceKey, ServiceValue)>, Vec<(SlotKey, Backend)>, Vec<(LiveKey, u8)>);

pub struct SocketLb {
    ebpf: Ebpf,
    applied: ServiceTable,
}

fn map_err(name: &'static str) -> impl Fn(aya::maps::MapError) -> Error {
    move |source| Error::Map { name, source }
}

impl SocketLb {
    /// Loads the programs and attaches them to the cgroup (v2) at `cgroup`.
    pub fn attach(cgroup: &Path) -> Result<SocketLb, Error> {
        let file = File::open(cgroup).map_err(|source| Error::Cgroup { path: cgroup.display().to_string(), source })?;
        let mut ebpf = Ebpf::load(include_bytes_aligned!(concat!(env!("OUT_DIR"), "/sluice-ebpf-programs")))?;
        for name in PROGRAMS {
            let program: &mut CgroupSockAddr = ebpf
                .program_mut(name)
                .ok_or(Error::Missing(name))?
                .try_into()
                .map_err(|source| Error::Program { name, source })?;
            program.load().map_err(|source| Error::Program { name, source })?;
            // AllowMultiple fails with aya 0.14 on this kernel (ebpf-toolchain.md).
            program.attach(&file, CgroupAttachMode::Single).map_err(|source| Error::Program { name, source })?;
        }
        Ok(SocketLb { ebpf, applied: ServiceTable::default() })
    }

    /// Makes the maps hold `services`, writing only what differs from what
    /// they hold now. Returns the difference applied.
    pub fn sync(&mut self, services: &[ServiceVip]) -> Result<Diff, Error> {
        let next = ServiceTable::build(services, Some(&self.applied));
        let diff = self.applied.diff(&next);
        {
            let mut live: HashMap<&mut MapData, LiveKey, u8> =
                HashMap::try_from(self.ebpf.map_mut("LIVE").ok_or(Error::Missing("LIVE"))?).map_err(map_err("LIVE"))?;
            for k in &diff.upsert_live {
                live.insert(k, 1, 0).map_err(map_err("LIVE"))?;
            }
        }
        {
            let mut backends: HashMap<&mut MapData, SlotKey, Backend> =
                HashMap::try_from(self.ebpf.map_mut("BACKENDS").ok_or(Error::Missing("BACKENDS"))?)
                    .map_err(map_err("BACKENDS"))?;
            for (k, v) in &diff.upsert_backends {
                backends.insert(k, v, 0).map_err(map_err("BACKENDS"))?;
            }
        }
        {
            let mut services: HashMap<&mut MapData, ServiceKey, ServiceValue> =
                HashMap::try_from(self.ebpf.map_mut("SERVICES").ok_or(Error::Missing("SERVICES"))?)
                    .map_err(map_err("SERVICES"))?;
            for (k, v) in &diff.upsert_services {
                services.insert(k, v, 0).map_err(map_err("SERVICES"))?;
            }
            for k in &diff.remove_services {
                services.remove(k).map_err(map_err("SERVICES"))?;
            }
        }
        {
            let mut backends: HashMap<&mut MapData, SlotKey, Backend> =
                HashMap::try_from(self.ebpf.map_mut("BACKENDS").ok_or(Error::Missing("BACKENDS"))?)
                    .map_err(map_err("BACKENDS"))?;
            for k in &diff.remove_backends {
                backends.remove(k).map_err(map_err("BACKENDS"))?;
            }
        }
        {
            let mut live: HashMap<&mut MapData, LiveKey, u8> =
                HashMap::try_from(self.ebpf.map_mut("LIVE").ok_or(Error::Missing("LIVE"))?).map_err(map_err("LIVE"))?;
            for k in &diff.remove_live {
                live.remove(k).map_err(map_err("LIVE"))?;
            }
        }
        self.applied = next;
        Ok(diff)
    }

    /// The maps as the kernel holds them now.
    pub fn kernel_maps(&self) -> Result<KernelMaps, Error> {
        let services: HashMap<&MapData, ServiceKey, ServiceValue> =
            HashMap::try_from(self.ebpf.map("SERVICES").ok_or(Error::Missing("SERVICES"))?)
                .map_err(map_err("SERVICES"))?;
        let backends: HashMap<&MapData, SlotKey, Backend> =
            HashMap::try_from(self.ebpf.map("BACKENDS").ok_or(Error::Missing("BACKENDS"))?)
                .map_err(map_err("BACKENDS"))?;
        let live: HashMap<&MapData, LiveKey, u8> =
            HashMap::try_from(self.ebpf.map("LIVE").ok_or(Error::Missing("LIVE"))?).map_err(map_err("LIVE"))?;
        let s = services.iter().collect::<Result<Vec<_>, _>>().map_err(map_err("SERVICES"))?;
        let b = backends.iter().collect::<Result<Vec<_>, _>>().map_err(map_err("BACKENDS"))?;
        let l = live.iter().collect::<Result<Vec<_>, _>>().map_err(map_err("LIVE"))?;
        Ok((s, b, l))
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
        Ok(Counters { translated: sum(COUNTER_TRANSLATED)?, no_backend: sum(COUNTER_NO_BACKEND)? })
    }
}

//! The kernel datapath as a Snapshot consumer (`--ebpf-cgroup`,
//! `--nodeport-interface`): socket-LB attached to a cgroup and NodePort to
//! devices, their maps synced to each new Snapshot's service table by
//! differences, their counters exported as metrics. The programs are
//! attached through bpf links owned by this process, so they go away with
//! it, whatever way it ends.

use prometheus::{IntGauge, IntGaugeVec, Opts};
use sluice_config::{Consumer, Diagnostic, ObjectRef, Published, Snapshot};
use sluice_ebpf::{Datapath, NodeHealth, TableOptions};
use sluice_proxy::metrics::register;
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

static TRANSLATED: LazyLock<IntGauge> = LazyLock::new(|| {
    register(
        IntGauge::new("sluice_ebpf_translations", "Connects and sends socket-LB translated to a backend")
            .expect("valid metric"),
    )
});
static NO_BACKEND: LazyLock<IntGauge> = LazyLock::new(|| {
    register(
        IntGauge::new("sluice_ebpf_no_backend", "Connects and sends to a Service frontend without backends, refused")
            .expect("valid metric"),
    )
});
static NODEPORT_FLOWS: LazyLock<IntGauge> = LazyLock::new(|| {
    register(IntGauge::new("sluice_ebpf_nodeport_flows", "New NodePort flows translated").expect("valid metric"))
});
static NODEPORT_DROPS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register(
        IntGaugeVec::new(
            Opts::new("sluice_ebpf_nodeport_drops", "NodePort packets of new flows dropped, by reason"),
            &["reason"],
        )
        .expect("valid metric"),
    )
});
static SERVICES: LazyLock<IntGauge> = LazyLock::new(|| {
    register(
        IntGauge::new("sluice_ebpf_service_frontends", "Frontends in the kernel service map").expect("valid metric"),
    )
});

pub struct Kernel {
    lb: Arc<Mutex<Datapath>>,
    health: NodeHealth,
}

impl Kernel {
    /// Attaches socket-LB to the cgroup v2 directory `cgroup` and NodePort
    /// to `interfaces`; `health` serves the health-check node ports as the
    /// table changes.
    pub fn attach(
        cgroup: Option<&Path>,
        interfaces: &[String],
        options: TableOptions,
        health: NodeHealth,
    ) -> Result<Kernel, String> {
        let mut lb = Datapath::load(options).map_err(|e| e.to_string())?;
        if let Some(cgroup) = cgroup {
            lb.attach_cgroup(cgroup).map_err(|e| format!("cgroup {}: {e}", cgroup.display()))?;
            tracing::info!(cgroup = %cgroup.display(), "socket-LB attached");
        }
        for interface in interfaces {
            lb.attach_nodeport(interface).map_err(|e| format!("device {interface}: {e}"))?;
            tracing::info!(%interface, "NodePort attached");
        }
        Ok(Kernel { lb: Arc::new(Mutex::new(lb)), health })
    }

    /// Makes the maps hold `snapshot`'s services and the health-check node
    /// ports answer for them; each failure is a diagnostic (the maps keep
    /// what they had). The maps go first, as kube-proxy writes its rules
    /// before its health server: once a health check says a node has no
    /// local endpoint, no new flow reaches the one that left.
    pub fn sync(&self, snapshot: &Snapshot) -> Vec<Diagnostic> {
        let mut out: Vec<Diagnostic> = self.sync_maps(snapshot).into_iter().collect();
        out.extend(self.health.reconcile(&snapshot.services).into_iter().map(|(port, why)| {
            let owner = snapshot.services.iter().find(|s| s.health_check_node_port == Some(port));
            Diagnostic::error(
                owner.map_or_else(|| ObjectRef::new("Source", "", "ebpf"), |s| s.service.clone()),
                "spec.healthCheckNodePort",
                format!("cannot listen on health-check node port {port}: {why}"),
            )
        }));
        out
    }

    fn sync_maps(&self, snapshot: &Snapshot) -> Option<Diagnostic> {
        let mut lb = self.lb.lock().unwrap_or_else(|e| e.into_inner());
        match lb.sync(&snapshot.services) {
            Ok(diff) => {
                if !diff.is_empty() {
                    tracing::info!(
                        services = diff.upsert_services.len(),
                        removed = diff.remove_services.len(),
                        slots = diff.upsert_backends.len(),
                        "kernel service maps synced"
                    );
                }
                SERVICES.set(lb.applied().services.len() as i64);
                None
            }
            Err(e) => Some(Diagnostic::error(
                ObjectRef::new("Source", "", "ebpf"),
                "",
                format!("the kernel maps could not be synced ({e}); they keep their last contents"),
            )),
        }
    }

    /// Copies the kernel's counters into the metrics every `every`, on `runtime`.
    pub fn export_counters(&self, runtime: &tokio::runtime::Handle, every: Duration) {
        let lb = self.lb.clone();
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let counters = lb.lock().unwrap_or_else(|e| e.into_inner()).counters();
                if let Ok(c) = counters {
                    TRANSLATED.set(c.translated as i64);
                    NO_BACKEND.set(c.no_backend as i64);
                    NODEPORT_FLOWS.set(c.nodeport_flows as i64);
                    NODEPORT_DROPS.with_label_values(&["no_backend"]).set(c.nodeport_no_backend as i64);
                    NODEPORT_DROPS.with_label_values(&["no_snat_port"]).set(c.nodeport_no_port as i64);
                }
            }
        });
    }
}

impl Consumer for Kernel {
    fn name(&self) -> &'static str {
        "kernel"
    }

    fn apply(&self, published: &Arc<Published>) -> Vec<Diagnostic> {
        self.sync(&published.snapshot)
    }
}

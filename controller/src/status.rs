//! Reporting back to the API server, from one replica at a time (a Lease;
//! every replica serves traffic): the addresses Sluice serves on go into
//! `Ingress.status.loadBalancer.ingress` and the BCS Ingress's
//! `status.loadbalancers` of every object the live Snapshot serves (and are
//! taken out of objects no longer served), the Gateway API objects of its
//! GatewayClasses get the status translation found (`gateway_status_patch`),
//! and each error or warning diagnostic becomes a Kubernetes Event on the
//! object it names.

use crate::bcs::BcsIngress;
use crate::gateway_status_patch;
use crate::object::BCS_INGRESS_KIND;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client};
use kube_lease_manager::LeaseManagerBuilder;
use serde_json::{Value, json};
use sluice_config::{Consumer, Diagnostic, ObjectRef, ObjectStatus, Published, Severity};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct StatusOptions {
    /// What goes into the status: IP addresses or host names.
    pub addresses: Vec<String>,
    /// `--lb-name`: the BCS load balancer name reported.
    pub lb_name: String,
    /// Where the Lease lives, and its name.
    pub lease_namespace: String,
    pub lease_name: String,
    /// This replica (the Pod name in a cluster).
    pub identity: String,
    /// How long a leader's Lease lasts without renewal.
    pub lease_seconds: u64,
    /// `--gateway-controller-name`: the `controllerName` of the route
    /// parents Sluice writes.
    pub gateway_controller_name: String,
}

/// A running status writer; dropping it stops it.
pub struct StatusWriter {
    /// Whether this replica holds the Lease now.
    pub leader: watch::Receiver<bool>,
    task: JoinHandle<()>,
}

impl Drop for StatusWriter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The objects a Snapshot serves that carry a status: Kubernetes Ingresses
/// and BCS Ingresses.
fn served(p: &Published) -> BTreeSet<ObjectRef> {
    let s = &p.snapshot;
    let routes = s.route_configs.iter().flat_map(|rc| &rc.virtual_hosts).flat_map(|vh| &vh.routes);
    let sources = routes
        .flat_map(|r| std::iter::once(&r.source).chain(r.canaries.iter().map(|c| &c.source)))
        .cloned()
        .chain(s.listeners.iter().filter_map(|l| l.source.clone()));
    sources.filter(|r| r.kind == "Ingress" || r.kind == BCS_INGRESS_KIND).collect()
}

/// The API group/version and kind of a diagnostic's object, for an Event.
fn api_kind(r: &ObjectRef) -> Option<(&'static str, &'static str)> {
    Some(match r.kind.as_str() {
        "Ingress" => ("networking.k8s.io/v1", "Ingress"),
        BCS_INGRESS_KIND => ("networkextension.bkbcs.tencent.com/v1", "Ingress"),
        "Service" => ("v1", "Service"),
        "Secret" => ("v1", "Secret"),
        "ConfigMap" => ("v1", "ConfigMap"),
        "Pod" => ("v1", "Pod"),
        "EndpointSlice" => ("discovery.k8s.io/v1", "EndpointSlice"),
        _ => return None,
    })
}

fn ingress_status(addresses: &[String]) -> Value {
    let entries: Vec<Value> = addresses
        .iter()
        .map(|a| if a.parse::<IpAddr>().is_ok() { json!({"ip": a}) } else { json!({"hostname": a}) })
        .collect();
    json!({"status": {"loadBalancer": {"ingress": entries}}})
}

fn bcs_status(addresses: &[String], lb_name: &str) -> Value {
    if addresses.is_empty() {
        return json!({"status": {"loadbalancers": []}});
    }
    json!({"status": {"loadbalancers": [{"loadbalancerName": lb_name, "loadbalancerID": lb_name, "ips": addresses}]}})
}

struct Writer {
    client: Client,
    options: StatusOptions,
    recorder: Recorder,
    /// Objects whose status holds our addresses.
    written: BTreeSet<ObjectRef>,
    /// Diagnostics already sent as Events: (object, field, message).
    reported: HashSet<(ObjectRef, String, String)>,
    /// The Gateway API status last written, by object.
    gateway_written: HashMap<ObjectRef, ObjectStatus>,
}

impl Writer {
    async fn patch(&self, r: &ObjectRef, serving: bool) -> Result<(), kube::Error> {
        let params = PatchParams::default();
        let addresses: &[String] = if serving { &self.options.addresses } else { &[] };
        if r.kind == "Ingress" {
            let api: Api<Ingress> = Api::namespaced(self.client.clone(), &r.namespace);
            api.patch_status(&r.name, &params, &Patch::Merge(ingress_status(addresses))).await?;
        } else {
            let api: Api<BcsIngress> = Api::namespaced(self.client.clone(), &r.namespace);
            api.patch_status(&r.name, &params, &Patch::Merge(bcs_status(addresses, &self.options.lb_name))).await?;
        }
        Ok(())
    }

    /// Writes `s` over the object's status as it is now.
    async fn patch_gateway(&self, s: &ObjectStatus) -> Result<(), kube::Error> {
        let Some(resource) = gateway_status_patch::resource(&s.object.kind) else { return Ok(()) };
        let api: Api<DynamicObject> = if s.object.namespace.is_empty() {
            Api::all_with(self.client.clone(), &resource)
        } else {
            Api::namespaced_with(self.client.clone(), &s.object.namespace, &resource)
        };
        let current = api.get_status(&s.object.name).await?;
        let now = k8s_openapi::jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let controller = &self.options.gateway_controller_name;
        let status = gateway_status_patch::status(s, controller, &current.data["status"], &now);
        api.patch_status(&s.object.name, &PatchParams::default(), &Patch::Merge(json!({ "status": status }))).await?;
        Ok(())
    }

    /// Writes each Gateway API status that changed; a route no longer
    /// attached loses the parents Sluice wrote (tried once: a deleted route
    /// needs nothing).
    async fn write_gateway(&mut self, p: &Published) {
        let now: HashMap<&ObjectRef, &ObjectStatus> =
            p.snapshot.gateway_status.iter().map(|s| (&s.object, s)).collect();
        let gone: Vec<ObjectRef> = self.gateway_written.keys().filter(|r| !now.contains_key(r)).cloned().collect();
        for r in gone {
            let Some(last) = self.gateway_written.remove(&r) else { continue };
            if last.object.kind.ends_with("Route")
                && let Err(e) = self.patch_gateway(&ObjectStatus { parents: Vec::new(), ..last }).await
            {
                tracing::debug!(object = %r, error = %e, "cannot clear Gateway API status");
            }
        }
        for s in &p.snapshot.gateway_status {
            if self.gateway_written.get(&s.object) == Some(s) {
                continue;
            }
            match self.patch_gateway(s).await {
                Ok(()) => {
                    self.gateway_written.insert(s.object.clone(), s.clone());
                }
                Err(e) => tracing::warn!(object = %s.object, error = %e, "cannot write Gateway API status"),
            }
        }
    }

    async fn write(&mut self, p: &Published) {
        self.write_gateway(p).await;
        let now = served(p);
        for r in now.difference(&self.written.clone()) {
            match self.patch(r, true).await {
                Ok(()) => {
                    self.written.insert(r.clone());
                }
                Err(e) => tracing::warn!(object = %r, error = %e, "cannot write status"),
            }
        }
        for r in self.written.clone().difference(&now) {
            // Gone objects need nothing; others lose our addresses.
            if let Err(e) = self.patch(r, false).await {
                tracing::debug!(object = %r, error = %e, "cannot clear status");
            }
            self.written.remove(r);
        }
        let current: HashSet<_> =
            p.diagnostics.iter().map(|d| (d.object.clone(), d.field.clone(), d.message.clone())).collect();
        self.reported.retain(|k| current.contains(k));
        for d in p.diagnostics.iter().filter(|d| d.severity != Severity::Info) {
            let key = (d.object.clone(), d.field.clone(), d.message.clone());
            let Some((api_version, kind)) = api_kind(&d.object) else { continue };
            if self.reported.contains(&key) {
                continue;
            }
            let reference = ObjectReference {
                api_version: Some(api_version.into()),
                kind: Some(kind.into()),
                name: Some(d.object.name.clone()),
                namespace: Some(d.object.namespace.clone()).filter(|n| !n.is_empty()),
                ..ObjectReference::default()
            };
            let note = if d.field.is_empty() { d.message.clone() } else { format!("{}: {}", d.field, d.message) };
            let event = Event {
                type_: if d.severity == Severity::Error { EventType::Warning } else { EventType::Normal },
                reason: if d.severity == Severity::Error { "InvalidConfiguration" } else { "Configuration" }.into(),
                note: Some(note.chars().take(1000).collect()),
                action: "Translate".into(),
                secondary: None,
            };
            match self.recorder.publish(&event, &reference).await {
                Ok(()) => {
                    self.reported.insert(key);
                }
                Err(e) => tracing::debug!(object = %d.object, error = %e, "cannot send an Event"),
            }
        }
    }
}

/// The status writer's side of the publish seam: it is handed each
/// Snapshot after the data plane, with what the data plane could not apply
/// (a port it cannot bind, a certificate rustls refuses), so those become
/// Events on the objects that asked, like input errors.
pub struct StatusFeed(watch::Sender<Arc<Published>>);

impl StatusFeed {
    /// The feed and the receiver [`spawn_status_writer`] reads from.
    pub fn new() -> (StatusFeed, watch::Receiver<Arc<Published>>) {
        let (tx, rx) = watch::channel(Arc::new(Published::default()));
        (StatusFeed(tx), rx)
    }
}

impl Consumer for StatusFeed {
    fn name(&self) -> &'static str {
        "status"
    }

    fn apply(&self, published: &Arc<Published>) -> Vec<Diagnostic> {
        self.0.send_replace(published.clone());
        Vec::new()
    }
}

/// Starts the writer: it takes part in the Lease election and, while it
/// leads, writes each published Snapshot's status and Events.
pub fn spawn_status_writer(
    client: Client,
    mut published: watch::Receiver<Arc<Published>>,
    options: StatusOptions,
) -> StatusWriter {
    let (leader_tx, leader) = watch::channel(false);
    let task = tokio::spawn(async move {
        let manager = LeaseManagerBuilder::new(client.clone(), &options.lease_name)
            .with_namespace(&options.lease_namespace)
            .with_identity(&options.identity)
            .with_duration(options.lease_seconds)
            .with_grace(2.min(options.lease_seconds))
            .build()
            .await;
        let manager = match manager {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, "cannot take part in the status Lease; no status is written");
                return;
            }
        };
        let (mut leading, _lease_task) = manager.watch().await;
        let reporter = Reporter { controller: "sluice".into(), instance: Some(options.identity.clone()) };
        let mut writer = Writer {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            options,
            written: BTreeSet::new(),
            reported: HashSet::new(),
            gateway_written: HashMap::new(),
        };
        loop {
            let is_leader = *leading.borrow_and_update();
            let _ = leader_tx.send(is_leader);
            if is_leader {
                let p = published.borrow_and_update().clone();
                if p.snapshot.generation > 0 {
                    writer.write(&p).await;
                }
            } else {
                // A new leader starts from what the objects hold.
                writer.written.clear();
                writer.reported.clear();
                writer.gateway_written.clear();
            }
            tokio::select! {
                changed = leading.changed() => if changed.is_err() { break },
                changed = published.changed() => if changed.is_err() { break },
                // Retry writes that failed, now and then.
                _ = tokio::time::sleep(Duration::from_secs(30)) => {}
            }
        }
    });
    StatusWriter { leader, task }
}

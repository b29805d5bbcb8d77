//! The Kubernetes API as a source (`sluice run --kube`): one kube-rs watcher
//! per kind (and per namespace asked), each keeping its part of the store as
//! a reflector would (a re-list replaces the kind's objects at once). Events
//! are debounced: an event after a quiet spell is published at once; events
//! within `quiet` of the last Snapshot are a burst, published `quiet` after
//! its last event and at most `max_delay` after its first. The first Snapshot waits
//! until every watcher has listed once, so a cold start never serves a
//! partial view; while the API server is unreachable the watchers back off
//! and re-list, and the last Snapshot keeps serving.

use crate::bcs::BcsIngress;
use crate::object::{Kind, Object, Stored};
use crate::reconcile::Reconciler;
use crate::store::{Key, Store};
use futures_util::StreamExt;
use gateway_api::apis::experimental::{tcproutes::TcpRoute, udproutes::UdpRoute};
use gateway_api::apis::standard::backendtlspolicies::BackendTlsPolicy;
use gateway_api::apis::standard::gatewayclasses::GatewayClass;
use gateway_api::apis::standard::gateways::Gateway;
use gateway_api::apis::standard::grpcroutes::GrpcRoute;
use gateway_api::apis::standard::httproutes::HttpRoute;
use gateway_api::apis::standard::listenersets::ListenerSet;
use gateway_api::apis::standard::referencegrants::ReferenceGrant;
use gateway_api::apis::standard::tlsroutes::TlsRoute;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use sluice_config::Published;
use sluice_config::{Diagnostic, ObjectRef, Options};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// What the cluster source watches, beyond the translation options.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Namespaces to watch; empty: all.
    pub namespaces: Vec<String>,
    /// Only Secrets with these labels (`a=b,c`); `None`: all Secrets.
    pub secret_selector: Option<String>,
    /// A Snapshot follows the last event of a burst by this much (an event
    /// this long after the last Snapshot goes at once)...
    pub quiet: Duration,
    /// ...and the first event by at most this much.
    pub max_delay: Duration,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            namespaces: Vec::new(),
            secret_selector: None,
            quiet: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        }
    }
}

/// One watcher's place: the kind and the namespace it lists (empty: all).
type Scope = (Kind, String);

#[derive(Default)]
struct Inputs {
    store: Store,
    /// Objects listed since a watcher's `Init`, until its `InitDone`.
    listing: BTreeMap<Scope, Vec<Object>>,
    /// Watchers that have listed at least once.
    listed: BTreeSet<Scope>,
    /// The last error of each watcher, while it lasts.
    errors: BTreeMap<Scope, String>,
}

impl Inputs {
    fn in_scope(kind: Kind, namespace: &str, key: &Key) -> bool {
        !kind.namespaced() || namespace.is_empty() || key.0 == namespace
    }

    /// Replaces what `scope` holds in the store with `objects`.
    fn replace(&mut self, (kind, namespace): &Scope, objects: Vec<Object>) {
        let stale: Vec<Key> =
            self.store.keys(*kind).into_iter().filter(|k| Self::in_scope(*kind, namespace, k)).collect();
        for k in stale {
            self.store.remove(*kind, &k);
        }
        for o in objects {
            self.store.insert(o);
        }
    }

    fn diagnostics(&self) -> Vec<Diagnostic> {
        self.errors
            .iter()
            .map(|((kind, ns), e)| {
                let at = if ns.is_empty() { "all namespaces".to_owned() } else { format!("namespace {ns}") };
                Diagnostic::warning(
                    ObjectRef::new("Source", "", "kubernetes"),
                    kind.as_str(),
                    format!("cannot watch {kind} in {at} ({e}); retrying, its last known objects are kept"),
                )
            })
            .collect()
    }
}

/// A running cluster source; dropping it stops the watchers.
pub struct ClusterPipeline {
    pub published: watch::Receiver<Arc<Published>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for ClusterPipeline {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Strips what translation never reads, so a large cluster's Pods and
/// Secrets cost less memory.
fn slim<K: Stored>(object: &mut K) {
    object.meta_mut().managed_fields = None;
    let pod = (object as &mut dyn std::any::Any).downcast_mut::<Pod>();
    if let Some(spec) = pod.and_then(|p| p.spec.as_mut()) {
        spec.volumes = None;
        spec.init_containers = None;
        for c in &mut spec.containers {
            c.env = None;
            c.volume_mounts = None;
            c.args = None;
            c.command = None;
        }
    }
}

/// Starts the watchers on the current tokio runtime. The first Snapshot is
/// published once every watcher has listed; until then `published` holds
/// an empty generation-0 value.
pub fn spawn_cluster_pipeline(client: Client, options: Options, cluster: ClusterOptions) -> ClusterPipeline {
    let inputs = Arc::new(Mutex::new(Inputs::default()));
    let changed = Arc::new(Notify::new());
    let empty = Arc::new(Published { snapshot: Arc::default(), diagnostics: Vec::new() });
    let (tx, rx) = watch::channel(empty);
    let namespaces: Vec<String> =
        if cluster.namespaces.is_empty() { vec![String::new()] } else { cluster.namespaces.clone() };
    let mut tasks = Vec::new();
    let mut scopes = Vec::new();
    let w = Watchers { client: &client, inputs: &inputs, changed: &changed };
    for ns in &namespaces {
        let any = watcher::Config::default();
        tasks.push(w.spawn::<Ingress>(ns, any.clone(), &mut scopes));
        tasks.push(w.spawn::<Service>(ns, any.clone(), &mut scopes));
        tasks.push(w.spawn::<EndpointSlice>(ns, any.clone(), &mut scopes));
        tasks.push(w.spawn::<Pod>(ns, any.clone(), &mut scopes));
        let secrets = match &cluster.secret_selector {
            Some(s) => any.clone().labels(s),
            None => any.clone(),
        };
        tasks.push(w.spawn::<Secret>(ns, secrets, &mut scopes));
        tasks.push(w.spawn::<BcsIngress>(ns, any.clone(), &mut scopes));
        tasks.push(w.spawn::<Gateway>(ns, any.clone(), &mut scopes));
        tasks.push(w.spawn::<HttpRoute>(ns, any.clone(), &mut scopes));
        tasks.push(w.spawn::<GrpcRoute>(ns, any.clone(), &mut scopes));
        tasks.push(w.spawn::<TlsRoute>(ns, any.clone(), &mut scopes));
        tasks.push(w.spawn::<TcpRoute>(ns, any.clone(), &mut scopes));
        tasks.push(w.spawn::<UdpRoute>(ns, any.clone(), &mut scopes));
        tasks.push(w.spawn::<ReferenceGrant>(ns, any.clone(), &mut scopes));
        tasks.push(w.spawn::<BackendTlsPolicy>(ns, any.clone(), &mut scopes));
        tasks.push(w.spawn::<ListenerSet>(ns, any.clone(), &mut scopes));
        // Any ConfigMap may be named: a BackendTLSPolicy's CA, an
        // Ingress's custom headers.
        tasks.push(w.spawn::<ConfigMap>(ns, any.clone(), &mut scopes));
    }
    let classes = Api::<IngressClass>::all(client.clone());
    tasks.push(w.spawn_on(classes, "", watcher::Config::default(), &mut scopes));
    let gateway_classes = Api::<GatewayClass>::all(client.clone());
    tasks.push(w.spawn_on(gateway_classes, "", watcher::Config::default(), &mut scopes));
    // Their labels pick the routes a Gateway listener's namespace selector lets in.
    let all_namespaces = Api::<Namespace>::all(client.clone());
    tasks.push(w.spawn_on(all_namespaces, "", watcher::Config::default(), &mut scopes));
    let maps = [&options.tcp_services_configmap, &options.udp_services_configmap, &options.configmap];
    for name in maps.into_iter().flatten() {
        let (ns, cm) = name.split_once('/').unwrap_or(("default", name.as_str()));
        // Two watchers of one namespace's ConfigMaps would each take the
        // other's objects away when it lists again.
        if namespaces.iter().any(|n| n.is_empty() || n == ns) {
            continue;
        }
        let only = watcher::Config::default().fields(&format!("metadata.name={cm}"));
        tasks.push(w.spawn::<ConfigMap>(ns, only, &mut scopes));
    }
    tasks.push(tokio::spawn(publish(inputs, changed, options, cluster, scopes, tx)));
    ClusterPipeline { published: rx, tasks }
}

struct Watchers<'a> {
    client: &'a Client,
    inputs: &'a Arc<Mutex<Inputs>>,
    changed: &'a Arc<Notify>,
}

impl Watchers<'_> {
    /// The API of a namespaced kind in `namespace` (empty: all namespaces).
    fn api<K>(&self, namespace: &str) -> Api<K>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>,
    {
        if namespace.is_empty() {
            Api::all(self.client.clone())
        } else {
            Api::namespaced(self.client.clone(), namespace)
        }
    }

    fn spawn<K>(&self, namespace: &str, config: watcher::Config, scopes: &mut Vec<Scope>) -> JoinHandle<()>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + Stored
            + Clone
            + DeserializeOwned
            + Debug
            + Send
            + Sync
            + 'static,
    {
        let api = self.api::<K>(namespace);
        self.spawn_on(api, namespace, config, scopes)
    }

    fn spawn_on<K>(
        &self,
        api: Api<K>,
        namespace: &str,
        config: watcher::Config,
        scopes: &mut Vec<Scope>,
    ) -> JoinHandle<()>
    where
        K: Resource<DynamicType = ()> + Stored + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    {
        let kind = K::KIND;
        let wrap = |mut o: K| {
            slim(&mut o);
            Object::new(o)
        };
        let scope: Scope = (kind, if kind.namespaced() { namespace.to_owned() } else { String::new() });
        scopes.push(scope.clone());
        let (inputs, changed) = (self.inputs.clone(), self.changed.clone());
        tokio::spawn(async move {
            let mut events = watcher::watcher(api, config).default_backoff().boxed();
            while let Some(event) = events.next().await {
                let mut guard = inputs.lock().unwrap_or_else(|e| e.into_inner());
                let i = &mut *guard;
                match event {
                    Ok(Event::Apply(o)) => {
                        i.store.insert(wrap(o));
                    }
                    Ok(Event::Delete(o)) => {
                        let meta = Resource::meta(&o);
                        let key = (meta.namespace.clone().unwrap_or_default(), meta.name.clone().unwrap_or_default());
                        i.store.remove(kind, &key);
                    }
                    Ok(Event::Init) => {
                        i.listing.insert(scope.clone(), Vec::new());
                        continue;
                    }
                    Ok(Event::InitApply(o)) => {
                        i.listing.entry(scope.clone()).or_default().push(wrap(o));
                        continue;
                    }
                    Ok(Event::InitDone) => {
                        let listed = i.listing.remove(&scope).unwrap_or_default();
                        i.replace(&scope, listed);
                        i.listed.insert(scope.clone());
                        i.errors.remove(&scope);
                    }
                    Err(e) => {
                        tracing::warn!(kind = %kind, namespace = %scope.1, error = %e, "watch failed; backing off");
                        let not_served = matches!(&e, watcher::Error::InitialListFailed(kube::Error::Api(s)) if s.code == 404 || s.code == 403);
                        // A kind the cluster does not serve (a CRD not installed) or
                        // forbids counts as listed, empty, so the rest is served.
                        if not_served {
                            i.listed.insert(scope.clone());
                        }
                        i.errors.insert(scope.clone(), e.to_string());
                    }
                }
                drop(guard);
                changed.notify_one();
            }
        })
    }
}

/// Publishes a Snapshot after each burst of events, once all have listed.
async fn publish(
    inputs: Arc<Mutex<Inputs>>,
    changed: Arc<Notify>,
    options: Options,
    cluster: ClusterOptions,
    scopes: Vec<Scope>,
    tx: watch::Sender<Arc<Published>>,
) {
    let reconciler = Arc::new(Mutex::new(Reconciler::new(options)));
    let mut last = tokio::time::Instant::now().checked_sub(cluster.quiet).unwrap_or_else(tokio::time::Instant::now);
    loop {
        changed.notified().await;
        let first = tokio::time::Instant::now();
        // An event after a quiet spell goes at once; one within `quiet` of
        // the last Snapshot starts a burst, gathered into the next one.
        let deadline = first + cluster.max_delay;
        let mut burst = first.duration_since(last) < cluster.quiet;
        while burst {
            let quiet = (tokio::time::Instant::now() + cluster.quiet).min(deadline);
            burst = tokio::select! {
                _ = changed.notified() => tokio::time::Instant::now() < deadline,
                _ = tokio::time::sleep_until(quiet) => false,
            };
        }
        let (store, diagnostics) = {
            let i = inputs.lock().unwrap_or_else(|e| e.into_inner());
            if !scopes.iter().all(|s| i.listed.contains(s)) {
                continue;
            }
            (i.store.clone(), i.diagnostics())
        };
        let reconciler = reconciler.clone();
        let next = tokio::task::spawn_blocking(move || {
            reconciler.lock().unwrap_or_else(|e| e.into_inner()).reconcile(store, diagnostics)
        })
        .await;
        last = tokio::time::Instant::now();
        let Ok(next) = next else { continue };
        tx.send_if_modified(|current| {
            let changed =
                current.snapshot.generation != next.snapshot.generation || current.diagnostics != next.diagnostics;
            if changed {
                *current = next;
            }
            changed
        });
    }
}

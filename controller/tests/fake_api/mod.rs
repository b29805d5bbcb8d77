//! An in-process Kubernetes API server for driving the real kube-rs
//! watchers: list and watch JSON as the API server speaks it (list with a
//! resourceVersion, watch events ADDED / MODIFIED / DELETED / BOOKMARK /
//! ERROR 410, a watch resumed from a resourceVersion), and 404 for
//! resources it does not serve. Handed to `kube::Client::new` as a
//! `tower::service_fn`, so no socket is involved.
#![allow(dead_code)]

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

type Body = BoxBody<Bytes, Infallible>;

/// One resource collection, e.g. `/api/v1/services`.
#[derive(Default)]
struct Collection {
    /// (namespace, name) -> object.
    objects: BTreeMap<(String, String), Value>,
    /// Every event so far: (resourceVersion, type, object).
    history: Vec<(u64, &'static str, Value)>,
    /// Watches older than this get 410 Gone.
    compacted: u64,
    watchers: Vec<mpsc::UnboundedSender<Bytes>>,
    lists: usize,
    watches: usize,
}

#[derive(Default)]
struct State {
    version: u64,
    collections: HashMap<String, Collection>,
    /// Writes received: (method, path, body).
    writes: Vec<(String, String, Value)>,
    /// Answer every request 503 (an API server down).
    down: bool,
}

#[derive(Clone, Default)]
pub struct FakeApi {
    state: Arc<Mutex<State>>,
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut text = json!({"type": kind, "object": object}).to_string();
    text.push('\n');
    Bytes::from(text)
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

fn respond(code: StatusCode, body: Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())).boxed())
        .unwrap()
}

/// A request path taken apart: `/api/v1/namespaces/ns/services/web/status`
/// -> (`/api/v1/services`, Some(ns), Some(web), Some(status)).
struct Target {
    collection: String,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

fn target_of(path: &str) -> Target {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    // `api/v1` or `apis/group/version`.
    let base = if parts.first() == Some(&"api") { 2 } else { 3 };
    let (namespace, rest) = if parts.get(base) == Some(&"namespaces") && parts.len() > base + 2 {
        (Some(parts[base + 1].to_owned()), &parts[base + 2..])
    } else {
        (None, &parts[base.min(parts.len())..])
    };
    let head = parts[..base.min(parts.len())].join("/");
    Target {
        collection: format!("/{head}/{}", rest.first().copied().unwrap_or("")),
        namespace,
        name: rest.get(1).map(|s| (*s).to_owned()),
        subresource: rest.get(2).map(|s| (*s).to_owned()),
    }
}

/// RFC 7386 merge of `patch` into `target` (null removes a key).
fn merge(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

fn query(uri: &http::Uri, key: &str) -> Option<String> {
    uri.query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == key).then(|| v.to_owned())
    })
}

impl FakeApi {
    /// Starts serving `collection` (so it answers lists instead of 404).
    pub fn serve(&self, collection: &str) {
        self.state.lock().unwrap().collections.entry(collection.to_owned()).or_default();
    }

    fn event(&self, collection: &str, kind: &'static str, mut object: Value, store: bool) {
        let mut s = self.state.lock().unwrap();
        s.version += 1;
        let version = s.version;
        let c = s.collections.entry(collection.to_owned()).or_default();
        object["metadata"]["resourceVersion"] = json!(version.to_string());
        let ns = object["metadata"]["namespace"].as_str().unwrap_or("").to_owned();
        let name = object["metadata"]["name"].as_str().unwrap_or("").to_owned();
        let kind = match kind {
            "APPLY" if c.objects.contains_key(&(ns.clone(), name.clone())) => "MODIFIED",
            "APPLY" => "ADDED",
            k => k,
        };
        if store {
            match kind {
                "DELETED" => {
                    c.objects.remove(&(ns, name));
                }
                _ => {
                    c.objects.insert((ns, name), object.clone());
                }
            }
        }
        c.history.push((version, kind, object.clone()));
        let bytes = line(kind, &object);
        c.watchers.retain(|w| w.send(bytes.clone()).is_ok());
    }

    /// Adds or replaces an object (ADDED or MODIFIED to watchers).
    pub fn apply(&self, collection: &str, object: Value) {
        self.event(collection, "APPLY", object, true);
    }

    pub fn delete(&self, collection: &str, namespace: &str, name: &str) {
        let object = self
            .state
            .lock()
            .unwrap()
            .collections
            .get(collection)
            .and_then(|c| c.objects.get(&(namespace.to_owned(), name.to_owned())).cloned());
        if let Some(o) = object {
            self.event(collection, "DELETED", o, true);
        }
    }

    /// Removes an object without telling watchers (as if the event fell in
    /// a compacted gap): only a re-list shows it.
    pub fn delete_silently(&self, collection: &str, namespace: &str, name: &str) {
        let mut s = self.state.lock().unwrap();
        if let Some(c) = s.collections.get_mut(collection) {
            c.objects.remove(&(namespace.to_owned(), name.to_owned()));
        }
    }

    pub fn bookmark(&self, collection: &str, kind: &str, api_version: &str) {
        let mut s = self.state.lock().unwrap();
        let version = s.version;
        let c = s.collections.entry(collection.to_owned()).or_default();
        let object =
            json!({"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": version.to_string()}});
        let bytes = line("BOOKMARK", &object);
        c.watchers.retain(|w| w.send(bytes.clone()).is_ok());
    }

    /// History is compacted: watches get ERROR 410 and must re-list.
    pub fn expire(&self, collection: &str) {
        let mut s = self.state.lock().unwrap();
        let version = s.version;
        let c = s.collections.entry(collection.to_owned()).or_default();
        c.compacted = version;
        let bytes = line("ERROR", &status(410, "Expired", "too old resource version"));
        for w in c.watchers.drain(..) {
            let _ = w.send(bytes.clone());
        }
    }

    /// Ends every watch stream of `collection` (a dropped connection).
    pub fn drop_watches(&self, collection: &str) {
        if let Some(c) = self.state.lock().unwrap().collections.get_mut(collection) {
            c.watchers.clear();
        }
    }

    /// (lists, watches) served for `collection`.
    pub fn requests(&self, collection: &str) -> (usize, usize) {
        self.state.lock().unwrap().collections.get(collection).map(|c| (c.lists, c.watches)).unwrap_or((0, 0))
    }

    /// Takes the API server down (every request 503, watches cut) or back up.
    pub fn set_down(&self, down: bool) {
        let mut s = self.state.lock().unwrap();
        s.down = down;
        if down {
            for c in s.collections.values_mut() {
                c.watchers.clear();
            }
        }
    }

    /// Every write so far: (method, path, body).
    pub fn writes(&self) -> Vec<(String, String, Value)> {
        self.state.lock().unwrap().writes.clone()
    }

    /// The stored form of an object.
    pub fn get(&self, collection: &str, namespace: &str, name: &str) -> Option<Value> {
        let s = self.state.lock().unwrap();
        s.collections.get(collection)?.objects.get(&(namespace.to_owned(), name.to_owned())).cloned()
    }

    /// Creates, patches (any patch type is merged as JSON) and reads single
    /// objects; `None` for lists and watches.
    fn single(&self, method: &http::Method, t: &Target, body: &[u8], path: &str) -> Option<Response<Body>> {
        let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        if *method != http::Method::GET {
            self.state.lock().unwrap().writes.push((method.to_string(), path.to_owned(), body.clone()));
        }
        let not_found = || respond(StatusCode::NOT_FOUND, status(404, "NotFound", "not found"));
        let ns = t.namespace.clone().unwrap_or_default();
        match (method.as_str(), &t.name) {
            ("GET", Some(name)) => {
                Some(self.get(&t.collection, &ns, name).map_or_else(not_found, |o| respond(StatusCode::OK, o)))
            }
            ("POST", None) => {
                let mut object = body;
                object["metadata"]["namespace"] = json!(ns);
                if object["metadata"]["name"].is_null() {
                    let prefix = object["metadata"]["generateName"].as_str().unwrap_or("x-").to_owned();
                    let n = self.state.lock().unwrap().version;
                    object["metadata"]["name"] = json!(format!("{prefix}{n}"));
                }
                self.serve(&t.collection);
                self.apply(&t.collection, object.clone());
                Some(respond(StatusCode::CREATED, object))
            }
            ("PATCH", Some(name)) => {
                let Some(mut object) = self.get(&t.collection, &ns, name) else { return Some(not_found()) };
                merge(&mut object, &body);
                self.apply(&t.collection, object.clone());
                Some(respond(StatusCode::OK, object))
            }
            ("GET", None) => None,
            _ => Some(not_found()),
        }
    }

    pub async fn handle<B>(&self, req: Request<B>) -> Response<Body>
    where
        B: http_body::Body + Send + 'static,
    {
        if self.state.lock().unwrap().down {
            return respond(StatusCode::SERVICE_UNAVAILABLE, status(503, "ServiceUnavailable", "down"));
        }
        let path = req.uri().path().to_owned();
        let t = target_of(&path);
        let (parts, body) = req.into_parts();
        let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        if let Some(r) = self.single(&parts.method, &t, &body, &path) {
            return r;
        }
        let (collection, namespace) = (t.collection, t.namespace);
        let req = Request::from_parts(parts, ());
        let mut s = self.state.lock().unwrap();
        let version = s.version;
        let Some(c) = s.collections.get_mut(&collection) else {
            return respond(
                StatusCode::NOT_FOUND,
                status(404, "NotFound", "the server could not find the requested resource"),
            );
        };
        let in_ns = |o: &Value| namespace.as_deref().is_none_or(|ns| o["metadata"]["namespace"] == ns);
        let watch = query(req.uri(), "watch").is_some_and(|w| w == "true" || w == "1");
        if !watch {
            c.lists += 1;
            let items: Vec<Value> = c.objects.values().filter(|o| in_ns(o)).cloned().collect();
            return respond(
                StatusCode::OK,
                json!({"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": version.to_string()}, "items": items}),
            );
        }
        c.watches += 1;
        let from: u64 = query(req.uri(), "resourceVersion").and_then(|v| v.parse().ok()).unwrap_or(0);
        let (tx, rx) = mpsc::unbounded_channel::<Bytes>();
        if from < c.compacted {
            let _ = tx.send(line("ERROR", &status(410, "Expired", "too old resource version")));
        } else {
            for (v, kind, object) in &c.history {
                if *v > from && in_ns(object) {
                    let _ = tx.send(line(kind, object));
                }
            }
            c.watchers.push(tx);
        }
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            let bytes = rx.recv().await?;
            Some((Ok::<_, Infallible>(http_body::Frame::data(bytes)), rx))
        });
        Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .body(StreamBody::new(stream).boxed())
            .unwrap()
    }

    /// A kube client whose every request this fake answers.
    pub fn client(&self) -> kube::Client {
        let api = self.clone();
        let service = tower::service_fn(move |req: Request<kube::client::Body>| {
            let api = api.clone();
            async move { Ok::<_, Infallible>(api.handle(req).await) }
        });
        kube::Client::new(service, "default")
    }
}

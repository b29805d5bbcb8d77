//! Trace context and spans end to end: W3C `traceparent` as the upstream
//! sees it, and the spans Sluice exports, decoded by an in-process OTLP/HTTP
//! receiver as a collector would.

mod common;
use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PARENT_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const PARENT_SPAN: &str = "b7ad6b7169203331";

/// An OTLP/HTTP receiver: every span of every export request it is sent.
async fn otlp_receiver() -> (SocketAddr, Arc<Mutex<Vec<Span>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let spans = Arc::new(Mutex::new(Vec::new()));
    let received = spans.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let received = received.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let received = received.clone();
                    async move {
                        let body = req.into_body().collect().await?.to_bytes();
                        let export = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf export");
                        let mut spans = received.lock().unwrap();
                        for resource in export.resource_spans {
                            for scope in resource.scope_spans {
                                spans.extend(scope.spans);
                            }
                        }
                        Ok::<_, hyper::Error>(http::Response::new(Full::new(Bytes::new())))
                    }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
            });
        }
    });
    (addr, spans)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute(span: &Span, key: &str) -> Option<Value> {
    span.attributes.iter().find(|a| a.key == key).and_then(|a| a.value.clone()).and_then(|v| v.value)
}

/// The spans once `n` have arrived.
async fn wait_spans(spans: &Mutex<Vec<Span>>, n: usize) -> Vec<Span> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got = spans.lock().unwrap().clone();
        if got.len() >= n || Instant::now() > deadline {
            assert!(got.len() >= n, "{} of {n} spans arrived", got.len());
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `traceparent` the upstream got, split into its fields.
fn upstream_traceparent(reply: &Reply) -> Option<Vec<String>> {
    reply.json()["headers"]["traceparent"][0].as_str().map(|t| t.split('-').map(str::to_owned).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_spans_under_the_clients_trace_and_their_context_goes_upstream() {
    let (collector, spans) = otlp_receiver().await;
    let port = free_port(&["127.0.0.2"]);
    let (_e, manifests) = shop(port);
    let manifests =
        manifests + &ingress("quiet", "quiet.example.com", "/", "shop", &[("enable-opentelemetry", "false")]);
    let endpoint = format!("http://{collector}/v1/traces");
    let args = ["--otlp-endpoint", &endpoint, "--trace-sample-ratio", "1", "--access-log", "off"];
    let s = Sluice::start(&[("all.yaml", &manifests)], &args);
    let c = client();

    let traceparent = format!("00-{PARENT_TRACE}-{PARENT_SPAN}-01");
    let headers = [("traceparent", traceparent.as_str()), ("tracestate", "congo=t61rcWkgMzE")];
    let child = send(&c, s.http, "GET", "shop.example.com", "/cart", &headers, vec![]).await.unwrap();
    let sent = upstream_traceparent(&child).expect("a traceparent upstream");
    assert_eq!((sent[0].as_str(), sent[1].as_str(), sent[3].as_str()), ("00", PARENT_TRACE, "01"), "{sent:?}");
    assert_ne!(sent[2], PARENT_SPAN, "the upstream's parent is Sluice's span, not the client's");
    assert_eq!(child.json()["headers"]["tracestate"][0], "congo=t61rcWkgMzE");

    let bad = [("traceparent", "00-not-a-trace-01")];
    let fresh = send(&c, s.http, "GET", "shop.example.com", "/new", &bad, vec![]).await.unwrap();
    let started = upstream_traceparent(&fresh).expect("a new traceparent upstream");
    assert_eq!(started[1].len(), 32);
    assert_ne!(started[1], PARENT_TRACE);
    assert_eq!(started[3], "01", "sampled at ratio 1");

    let quiet = send(&c, s.http, "GET", "quiet.example.com", "/", &headers, vec![]).await.unwrap();
    assert_eq!(upstream_traceparent(&quiet).unwrap().join("-"), traceparent, "an untraced route passes the client's");

    let got = wait_spans(&spans, 2).await;
    // The quiet route's request came last: had it been exported, it would
    // have been batched with these.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got_all = spans.lock().unwrap().clone();
    assert_eq!(got_all.len(), 2, "enable-opentelemetry: false makes no span");
    let span = got.iter().find(|s| hex(&s.trace_id) == PARENT_TRACE).expect("the span under the client's trace");
    assert_eq!(hex(&span.parent_span_id), PARENT_SPAN);
    assert_eq!(hex(&span.span_id), sent[2]);
    assert_eq!(span.kind, 2, "SPAN_KIND_SERVER");
    assert_eq!(attribute(span, "http.response.status_code"), Some(Value::IntValue(200)));
    assert_eq!(attribute(span, "url.path"), Some(Value::StringValue("/cart".into())));
    assert_eq!(attribute(span, "sluice.upstream.name"), Some(Value::StringValue("default-shop-80".into())));
    assert_eq!(attribute(span, "network.peer.address"), Some(Value::StringValue(format!("127.0.0.2:{port}"))));
    assert!(span.end_time_unix_nano > span.start_time_unix_nano);
    let root = got.iter().find(|s| hex(&s.trace_id) == started[1]).expect("the span of the new trace");
    assert!(root.parent_span_id.is_empty(), "a malformed traceparent is no parent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_spans_a_valid_trace_context_passes_and_a_malformed_one_is_dropped() {
    let port = free_port(&["127.0.0.2"]);
    let (_e, manifests) = shop(port);
    let s = Sluice::start(&[("all.yaml", &manifests)], &["--access-log", "off"]);
    let c = client();
    let traceparent = format!("00-{PARENT_TRACE}-{PARENT_SPAN}-00");
    let headers = [("traceparent", traceparent.as_str()), ("tracestate", "a=b")];
    let passed = send(&c, s.http, "GET", "shop.example.com", "/", &headers, vec![]).await.unwrap();
    assert_eq!(passed.json()["headers"]["traceparent"][0], traceparent.as_str());
    assert_eq!(passed.json()["headers"]["tracestate"][0], "a=b");
    let long = format!("{traceparent}{}", "0".repeat(300));
    for bad in ["garbage", long.as_str()] {
        let headers = [("traceparent", bad), ("tracestate", "a=b")];
        let dropped = send(&c, s.http, "GET", "shop.example.com", "/", &headers, vec![]).await.unwrap();
        assert!(dropped.json()["headers"]["traceparent"].is_null(), "{bad} went upstream");
        assert!(dropped.json()["headers"]["tracestate"].is_null());
    }
}

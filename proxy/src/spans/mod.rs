//! OpenTelemetry spans of proxied requests, exported over OTLP/HTTP, and
//! W3C trace context (`traceparent`, `tracestate`) passed upstream.

mod propagation;

pub use propagation::{Propagated, TRACEPARENT, TRACESTATE, incoming, traceparent, tracestate};

use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider, Span};
use std::time::Duration;

/// The tracer requests' spans come from; `None` in the engine when
/// `--otlp-endpoint` is not given.
pub struct Spans {
    /// Kept: dropping it would stop the export.
    _provider: SdkTracerProvider,
    tracer: SdkTracer,
}

impl Spans {
    /// Exports to `endpoint` (`http://collector:4318/v1/traces`), sampling
    /// `ratio` of the traces that do not arrive with a decision (a client's
    /// sampled flag is followed, as ingress-nginx's parent-based sampler does).
    pub fn start(endpoint: &str, ratio: f64) -> Result<Spans, String> {
        if !endpoint.starts_with("http://") {
            return Err(format!("{endpoint}: only http:// OTLP endpoints are served (a local collector)"));
        }
        if !(0.0..=1.0).contains(&ratio) {
            return Err(format!("the sample ratio {ratio} is not between 0 and 1"));
        }
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(endpoint)
            .build()
            .map_err(|e| format!("{endpoint}: {e}"))?;
        // Sent a second after they end at the latest, so a shutdown's grace
        // period (5 s by default) lets the last ones out.
        let batch = BatchConfigBuilder::default().with_scheduled_delay(Duration::from_secs(1)).build();
        let processor = BatchSpanProcessor::builder(exporter).with_batch_config(batch).build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio))))
            .with_resource(Resource::builder().with_service_name("sluice").build())
            .build();
        let tracer = provider.tracer("sluice");
        Ok(Spans { _provider: provider, tracer })
    }

    /// A server span for a request, child of the client's context when it
    /// sent one.
    pub fn begin(&self, method: &str, parent: &Context) -> Span {
        self.tracer.span_builder(method.to_owned()).with_kind(SpanKind::Server).start_with_context(&self.tracer, parent)
    }
}

/// What a request's span says when it ends.
pub struct Outcome<'a> {
    pub host: &'a str,
    pub target: &'a str,
    pub status: u16,
    pub route: Option<&'a str>,
    pub upstream_name: Option<&'a str>,
    pub upstream_addr: Option<String>,
    pub attempts: usize,
    pub request_id: &'a str,
}

/// Ends `span` with the request's attributes (OpenTelemetry's HTTP
/// semantic conventions, and Sluice's route and upstream).
pub fn end(mut span: Span, o: &Outcome<'_>) {
    if span.is_recording() {
        let mut attributes = vec![
            KeyValue::new("server.address", o.host.to_owned()),
            KeyValue::new("url.path", o.target.to_owned()),
            KeyValue::new("http.response.status_code", i64::from(o.status)),
            KeyValue::new("sluice.request_id", o.request_id.to_owned()),
            KeyValue::new("sluice.upstream.attempts", o.attempts as i64),
        ];
        if let Some(route) = o.route {
            attributes.push(KeyValue::new("http.route", route.to_owned()));
        }
        if let Some(name) = o.upstream_name {
            attributes.push(KeyValue::new("sluice.upstream.name", name.to_owned()));
        }
        if let Some(addr) = &o.upstream_addr {
            attributes.push(KeyValue::new("network.peer.address", addr.clone()));
        }
        span.set_attributes(attributes);
        if o.status >= 500 {
            span.set_status(Status::error(""));
        }
    }
    span.end();
}

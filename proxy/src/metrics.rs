//! Proxy metrics, in the process's default Prometheus registry.

use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts};
use std::sync::LazyLock;

pub struct ProxyMetrics {
    /// TLS handshakes by `listener` and `result` (ok, failed).
    pub tls_handshakes: IntCounterVec,
    /// Seconds until each certificate expires (negative: expired), by `certificate`.
    pub certificate_expiry: IntGaugeVec,
    /// `host`, `route`, `cluster`, `code`.
    pub requests: IntCounterVec,
    /// Time to the upstream's response header, by `cluster`.
    pub upstream_latency: HistogramVec,
    /// Requests being served now.
    pub active_requests: IntGauge,
    /// Ready endpoints, by `cluster`.
    pub endpoints: IntGaugeVec,
    /// Attempts on another endpoint, by `cluster` and `reason`.
    pub retries: IntCounterVec,
    /// Passive ejections, by `cluster`.
    pub ejections: IntCounterVec,
    /// Picks made with every endpoint unhealthy (all used), by `cluster`.
    pub panic: IntCounterVec,
    /// Active-probe verdict changes, by `cluster` and `to` (up, down).
    pub health_changes: IntCounterVec,
    /// L4 connections by `listener` and `result` (accepted, refused, failed);
    /// for UDP a flow, and each datagram from a new source past the flow cap is refused.
    pub l4_connections: IntCounterVec,
    /// L4 connections open now, by `listener`.
    pub l4_active: IntGaugeVec,
    /// L4 bytes by `listener`, `cluster` and `direction` (in: from clients, out: to clients).
    pub l4_bytes: IntCounterVec,
    /// Listeners that could not bind, by `listener`.
    pub l4_bind_errors: IntCounterVec,
    /// Failed accepts (each followed by a pause), by `listener` and `reason`
    /// (emfile, enfile, nomem, aborted, other).
    pub accept_errors: IntCounterVec,
    /// L7 connections open, by listener.
    pub http_connections: IntGaugeVec,
    /// Times an L7 listener held its connection cap and paused accepting.
    pub http_listener_full: IntCounterVec,
    /// Upstream connections the L7 proxy opened (against requests, how well
    /// keep-alive to upstreams works).
    pub upstream_connections: IntCounter,
    /// L7 connections closed for a missing, broken or late PROXY header
    /// (`use-proxy-protocol`), by `listener`.
    pub http_proxy_protocol_errors: IntCounterVec,
    /// Access-log lines dropped because the writer was behind.
    pub access_log_dropped: IntCounter,
    /// Access-log writes that failed (the file became unwritable).
    pub access_log_write_errors: IntCounter,
}

/// Registers a metric in the default registry and returns it.
pub fn register<C: prometheus::core::Collector + Clone + 'static>(c: C) -> C {
    // A second registration of the same name can only be a programming error;
    // the metric still works, it is just not exported twice.
    let _ = prometheus::default_registry().register(Box::new(c.clone()));
    c
}

pub static METRICS: LazyLock<ProxyMetrics> = LazyLock::new(|| ProxyMetrics {
    tls_handshakes: register(
        IntCounterVec::new(
            Opts::new("sluice_tls_handshakes_total", "TLS handshakes by listener and result"),
            &["listener", "result"],
        )
        .expect("valid metric"),
    ),
    certificate_expiry: register(
        IntGaugeVec::new(
            Opts::new("sluice_certificate_expiry_seconds", "Seconds until a certificate expires, by certificate"),
            &["certificate"],
        )
        .expect("valid metric"),
    ),
    requests: register(
        IntCounterVec::new(
            Opts::new("sluice_http_requests_total", "HTTP requests by host, route, cluster and status code"),
            &["host", "route", "cluster", "code"],
        )
        .expect("valid metric"),
    ),
    upstream_latency: register(
        HistogramVec::new(
            HistogramOpts::new("sluice_upstream_response_seconds", "Time from request to upstream response header")
                .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["cluster"],
        )
        .expect("valid metric"),
    ),
    active_requests: register(
        IntGauge::new("sluice_http_active_requests", "HTTP requests in flight").expect("valid metric"),
    ),
    endpoints: register(
        IntGaugeVec::new(Opts::new("sluice_cluster_endpoints", "Ready endpoints by cluster"), &["cluster"])
            .expect("valid metric"),
    ),
    retries: register(
        IntCounterVec::new(
            Opts::new("sluice_upstream_retries_total", "Requests tried again on another endpoint"),
            &["cluster", "reason"],
        )
        .expect("valid metric"),
    ),
    ejections: register(
        IntCounterVec::new(
            Opts::new("sluice_endpoint_ejections_total", "Endpoints ejected after consecutive failures"),
            &["cluster"],
        )
        .expect("valid metric"),
    ),
    panic: register(
        IntCounterVec::new(
            Opts::new("sluice_cluster_panic_total", "Picks made with no healthy endpoint (all endpoints used)"),
            &["cluster"],
        )
        .expect("valid metric"),
    ),
    health_changes: register(
        IntCounterVec::new(
            Opts::new("sluice_endpoint_health_changes_total", "Active health check verdict changes"),
            &["cluster", "to"],
        )
        .expect("valid metric"),
    ),
    l4_connections: register(
        IntCounterVec::new(
            Opts::new("sluice_l4_connections_total", "L4 connections by listener and result"),
            &["listener", "result"],
        )
        .expect("valid metric"),
    ),
    l4_active: register(
        IntGaugeVec::new(Opts::new("sluice_l4_active_connections", "L4 connections open"), &["listener"])
            .expect("valid metric"),
    ),
    l4_bytes: register(
        IntCounterVec::new(
            Opts::new("sluice_l4_bytes_total", "L4 bytes by listener, cluster and direction"),
            &["listener", "cluster", "direction"],
        )
        .expect("valid metric"),
    ),
    http_connections: register(
        IntGaugeVec::new(Opts::new("sluice_http_connections", "L7 connections open"), &["listener"])
            .expect("valid metric"),
    ),
    http_listener_full: register(
        IntCounterVec::new(
            Opts::new(
                "sluice_http_listener_full_total",
                "Times an L7 listener held --max-connections and paused accepting",
            ),
            &["listener"],
        )
        .expect("valid metric"),
    ),
    upstream_connections: register(
        IntCounter::new("sluice_upstream_connections_opened_total", "Upstream connections the L7 proxy opened")
            .expect("valid metric"),
    ),
    access_log_dropped: register(
        IntCounter::new("sluice_access_log_dropped_total", "Access-log lines dropped because the writer was behind")
            .expect("valid metric"),
    ),
    access_log_write_errors: register(
        IntCounter::new("sluice_access_log_write_errors_total", "Access-log writes that failed").expect("valid metric"),
    ),
    http_proxy_protocol_errors: register(
        IntCounterVec::new(
            Opts::new(
                "sluice_http_proxy_protocol_errors_total",
                "L7 connections closed for a missing, broken or late PROXY header",
            ),
            &["listener"],
        )
        .expect("valid metric"),
    ),
    l4_bind_errors: register(
        IntCounterVec::new(Opts::new("sluice_l4_bind_errors_total", "L4 listeners that could not bind"), &["listener"])
            .expect("valid metric"),
    ),
    accept_errors: register(
        IntCounterVec::new(
            Opts::new("sluice_accept_errors_total", "Failed accepts, each followed by a pause, by listener and reason"),
            &["listener", "reason"],
        )
        .expect("valid metric"),
    ),
});

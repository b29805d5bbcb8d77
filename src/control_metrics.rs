//! Control-plane metrics: what the configuration pipeline did.

use prometheus::{Histogram, HistogramOpts, IntGauge, IntGaugeVec, Opts};
use sluice_config::{Diagnostic, Severity};
use sluice_proxy::metrics::register;
use std::sync::LazyLock;

pub struct ControlMetrics {
    pub generation: IntGauge,
    pub swap_seconds: Histogram,
    pub diagnostics: IntGaugeVec,
}

pub static CONTROL: LazyLock<ControlMetrics> = LazyLock::new(|| ControlMetrics {
    generation: register(
        IntGauge::new("sluice_config_generation", "Generation of the Snapshot being served").expect("valid metric"),
    ),
    swap_seconds: register(
        Histogram::with_opts(
            HistogramOpts::new("sluice_config_swap_seconds", "Time to compile and swap in a new Snapshot")
                .buckets(vec![0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]),
        )
        .expect("valid metric"),
    ),
    diagnostics: register(
        IntGaugeVec::new(
            Opts::new("sluice_config_diagnostics", "Diagnostics of the inputs being served, by severity"),
            &["severity"],
        )
        .expect("valid metric"),
    ),
});

pub fn record_diagnostics(diagnostics: &[Diagnostic]) {
    for severity in [Severity::Info, Severity::Warning, Severity::Error] {
        let n = diagnostics.iter().filter(|d| d.severity == severity).count();
        CONTROL.diagnostics.with_label_values(&[&severity.to_string()]).set(n as i64);
    }
}

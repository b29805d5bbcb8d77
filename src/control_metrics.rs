//! Control-plane metrics: what the configuration pipeline did.

use prometheus::{IntGauge, IntGaugeVec, Opts};
use sluice_config::{Diagnostic, Severity};
use sluice_proxy::metrics::register;
use std::sync::LazyLock;

pub struct ControlMetrics {
    pub generation: IntGauge,
    pub diagnostics: IntGaugeVec,
}

pub static CONTROL: LazyLock<ControlMetrics> = LazyLock::new(|| ControlMetrics {
    generation: register(
        IntGauge::new("sluice_config_generation", "Generation of the Snapshot being served").expect("valid metric"),
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

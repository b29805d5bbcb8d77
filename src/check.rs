//! `sluice check DIR`: one load and translation, printed as JSON.

use crate::cli::CheckArgs;
use serde::Serialize;
use sluice_config::{Diagnostic, Severity, Snapshot};
use sluice_controller::Reconciler;
use sluice_controller::sources::ManifestDir;
use std::process::ExitCode;

#[derive(Serialize)]
struct Report<'a> {
    snapshot: &'a Snapshot,
    diagnostics: &'a [Diagnostic],
}

pub fn run(args: &CheckArgs) -> ExitCode {
    let options = args.translate.options();
    let loaded = match ManifestDir::new(&args.dir).load() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("sluice check: cannot read {}: {e}", args.dir.display());
            return ExitCode::from(2);
        }
    };
    let files = loaded.files;
    let published = Reconciler::new(options).reconcile(loaded.store, loaded.diagnostics);
    let report = Report { snapshot: &published.snapshot, diagnostics: &published.diagnostics };
    match serde_json::to_string_pretty(&report) {
        Ok(json) => println!("{json}"),
        Err(e) => {
            eprintln!("sluice check: cannot print the Snapshot: {e}");
            return ExitCode::from(2);
        }
    }
    for d in &published.diagnostics {
        eprintln!("{d}");
    }
    let count = |s| published.diagnostics.iter().filter(|d| d.severity == s).count();
    let errors = count(Severity::Error);
    eprintln!(
        "sluice check: {files} file(s), {} route(s), {} cluster(s), {} service VIP(s); {errors} error(s), {} warning(s)",
        published.snapshot.route_configs.iter().flat_map(|r| &r.virtual_hosts).map(|v| v.routes.len()).sum::<usize>(),
        published.snapshot.clusters.len(),
        published.snapshot.services.len(),
        count(Severity::Warning),
    );
    if errors > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

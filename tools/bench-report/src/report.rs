//! BENCHMARKS.md: the machine, a summary of ratios against the peers
//! measured in the same run, then each scenario's table (as its script
//! wrote it) with its plots.

use crate::plots::{Series, bars, lines};
use crate::results::{Rows, Stat, millis, number};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub struct Report {
    results: PathBuf,
    /// Where the plots go, and how BENCHMARKS.md links them.
    plots: PathBuf,
    link: String,
    summary: Vec<[String; 4]>,
    sections: String,
}

/// The peers measured besides nginx and HAProxy, as the scripts name their
/// targets and as the summary names them.
const OTHER_PEERS: [(&str, &str); 2] = [("envoy", "Envoy"), ("traefik", "Traefik")];

/// Of `OTHER_PEERS`, those among `targets`.
fn other_peers(targets: &[String]) -> Vec<(&'static str, &'static str)> {
    OTHER_PEERS.iter().copied().filter(|(t, _)| targets.iter().any(|x| x == t)).collect()
}

/// The targets of a results file whose first column is `TARGET-LOAD`
/// (compare-tls), in first-seen order.
fn targets_before_load(rows: &Rows, loads: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in rows.distinct(0) {
        let t = loads.iter().find_map(|l| v.strip_suffix(&format!("-{l}"))).unwrap_or(&v).to_owned();
        if !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

fn ratio(a: Option<Stat>, b: Option<Stat>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b.median > 0.0 => format!("{:.2}×", a.median / b.median),
        _ => "—".into(),
    }
}

impl Report {
    pub fn new(results: &Path, link: &str) -> Report {
        Report {
            results: results.to_path_buf(),
            plots: results.join("plots"),
            link: link.trim_end_matches('/').to_owned(),
            summary: Vec::new(),
            sections: String::new(),
        }
    }

    fn rows(&self, name: &str) -> Option<Rows> {
        Rows::read(&self.results.join(format!("{name}.tsv")))
    }

    /// The scenario's own Markdown, its title one level down, and plots.
    fn section(&mut self, name: &str, plots: &[&str]) {
        let text = std::fs::read_to_string(self.results.join(format!("{name}.md"))).unwrap_or_default();
        let text = text.strip_prefix("# ").map_or(text.clone(), |t| format!("## {t}"));
        let _ = writeln!(self.sections, "{}\n", text.trim_end());
        for p in plots {
            let _ = writeln!(self.sections, "![{p}]({}/{p}.svg)\n", self.link);
        }
    }

    fn plot_path(&self, name: &str) -> PathBuf {
        self.plots.join(format!("{name}.svg"))
    }

    fn note(&mut self, scenario: &str, measure: &str, value: String, against: &str) {
        self.summary.push([scenario.into(), measure.into(), value, against.into()]);
    }

    /// Scenario 1: L7 keep-alive (compare-l7).
    pub fn l7(&mut self) -> Result<(), Box<dyn std::error::Error>> {
        let Some(rows) = self.rows("l7") else { return Ok(()) };
        let targets = rows.distinct(0);
        let stat = |t: &str, col: usize, parse: fn(&str) -> Option<f64>| Stat::of(&rows.values(&[(0, t)], col, parse));
        let rps: Vec<Option<Stat>> = targets.iter().map(|t| stat(t, 2, number)).collect();
        bars(
            &self.plot_path("l7-throughput"),
            "L7 HTTP/1.1 keep-alive: requests/s",
            "req/s",
            &targets,
            &[Series { name: "req/s".into(), values: rps }],
        )?;
        let mut percentiles = vec![("p50".to_owned(), 3), ("p99".to_owned(), 4)];
        if rows.values(&[], 7, millis).iter().any(|v| *v > 0.0) {
            percentiles.push(("p99.9".to_owned(), 7));
        }
        let names: Vec<String> = percentiles.iter().map(|p| p.0.clone()).collect();
        let series: Vec<Series<Option<Stat>>> = targets
            .iter()
            .map(|t| Series { name: t.clone(), values: percentiles.iter().map(|(_, c)| stat(t, *c, millis)).collect() })
            .collect();
        bars(&self.plot_path("l7-latency"), "L7 latency percentiles", "ms", &names, &series)?;
        let (s, n, h) = (stat("sluice", 2, number), stat("nginx", 2, number), stat("haproxy", 2, number));
        self.note("L7 keep-alive", "requests/s", ratio(s, n), "nginx");
        self.note("L7 keep-alive", "requests/s", ratio(s, h), "HAProxy");
        self.note(
            "L7 keep-alive",
            "p99 latency (lower is better)",
            ratio(stat("sluice", 4, millis), stat("nginx", 4, millis)),
            "nginx",
        );
        for (t, name) in other_peers(&targets) {
            self.note("L7 keep-alive", "requests/s", ratio(s, stat(t, 2, number)), name);
        }
        self.section("l7", &["l7-throughput", "l7-latency"]);
        Ok(())
    }

    /// Scenario 2: HTTP/2 (compare-h2) and HTTPS (compare-tls).
    pub fn tls(&mut self) -> Result<(), Box<dyn std::error::Error>> {
        if let Some(rows) = self.rows("h2") {
            let targets = rows.distinct(0);
            let stat = |t: &str| Stat::of(&rows.values(&[(0, t)], 2, number));
            let values: Vec<Option<Stat>> = targets.iter().map(|t| stat(t)).collect();
            bars(
                &self.plot_path("h2-throughput"),
                "HTTP/2 (h2load): requests/s",
                "req/s",
                &targets,
                &[Series { name: "req/s".into(), values }],
            )?;
            self.note("HTTP/2 (h2c)", "requests/s", ratio(stat("sluice"), stat("nginx")), "nginx");
            for (t, name) in other_peers(&targets) {
                self.note("HTTP/2 (h2c)", "requests/s", ratio(stat("sluice"), stat(t)), name);
            }
            self.section("h2", &["h2-throughput"]);
        }
        let Some(rows) = self.rows("tls") else { return Ok(()) };
        let loads = ["keepalive".to_owned(), "handshake".to_owned()];
        let stat = |t: &str, load: &str| Stat::of(&rows.values(&[(0, &format!("{t}-{load}"))], 2, number));
        let targets = targets_before_load(&rows, &loads);
        let series: Vec<Series<Option<Stat>>> = targets
            .iter()
            .map(|t| Series { name: t.clone(), values: loads.iter().map(|l| stat(t, l)).collect() })
            .collect();
        bars(&self.plot_path("tls"), "HTTPS: keep-alive requests/s and handshakes/s", "per second", &loads, &series)?;
        self.note(
            "HTTPS keep-alive",
            "requests/s",
            ratio(stat("sluice", "keepalive"), stat("nginx", "keepalive")),
            "nginx",
        );
        self.note(
            "HTTPS new connections",
            "handshakes/s",
            ratio(stat("sluice", "handshake"), stat("nginx", "handshake")),
            "nginx",
        );
        self.note(
            "HTTPS new connections",
            "handshakes/s",
            ratio(stat("sluice", "handshake"), stat("haproxy", "handshake")),
            "HAProxy",
        );
        for (t, name) in other_peers(&targets) {
            self.note("HTTPS keep-alive", "requests/s", ratio(stat("sluice", "keepalive"), stat(t, "keepalive")), name);
            self.note(
                "HTTPS new connections",
                "handshakes/s",
                ratio(stat("sluice", "handshake"), stat(t, "handshake")),
                name,
            );
        }
        self.section("tls", &["tls"]);
        Ok(())
    }

    /// Scenario 3: L4 (compare-l4), relative to HAProxy `mode tcp`.
    pub fn l4(&mut self) -> Result<(), Box<dyn std::error::Error>> {
        let Some(rows) = self.rows("l4") else { return Ok(()) };
        let loads = [("keep-alive req/s", 2), ("new connections/s", 3), ("bulk Gbit/s", 4)];
        let stat = |t: &str, c: usize| Stat::of(&rows.values(&[(0, t)], c, number));
        let relative = |t: &str| {
            loads
                .iter()
                .map(|(_, c)| {
                    let base = stat("haproxy", *c)?.median;
                    stat(t, *c).map(|s| Stat { median: s.median / base, min: s.min / base, max: s.max / base })
                })
                .collect::<Vec<_>>()
        };
        let names: Vec<String> = loads.iter().map(|l| l.0.to_owned()).collect();
        let series = vec![
            Series { name: "haproxy".into(), values: relative("haproxy") },
            Series { name: "sluice".into(), values: relative("sluice") },
        ];
        bars(
            &self.plot_path("l4"),
            "L4 TCP relative to HAProxy mode tcp (1.0 = HAProxy)",
            "× HAProxy",
            &names,
            &series,
        )?;
        for (name, c) in loads {
            self.note("L4 TCP", name, ratio(stat("sluice", c), stat("haproxy", c)), "HAProxy");
        }
        self.section("l4", &["l4"]);
        Ok(())
    }

    /// Scenario 4: route scale (compare-scale).
    pub fn scale(&mut self) -> Result<(), Box<dyn std::error::Error>> {
        let Some(rows) = self.rows("scale") else { return Ok(()) };
        let hosts: Vec<String> = rows.distinct(1);
        let curve = |t: &str, c: usize| -> Vec<(f64, f64)> {
            hosts
                .iter()
                .filter_map(|h| Some((h.parse().ok()?, Stat::of(&rows.values(&[(0, t), (1, h)], c, number))?.median)))
                .collect()
        };
        let targets = rows.distinct(0);
        let series = |c: usize, scale: f64| -> Vec<Series<(f64, f64)>> {
            targets
                .iter()
                .map(|t| Series {
                    name: t.clone(),
                    values: curve(t, c).into_iter().map(|(x, y)| (x, y / scale)).collect(),
                })
                .collect()
        };
        lines(
            &self.plot_path("scale-throughput"),
            "Requests/s against route scale",
            "hosts (× 5 paths)",
            "req/s",
            &series(3, 1.0),
        )?;
        lines(
            &self.plot_path("scale-memory"),
            "Resident memory against route scale",
            "hosts (× 5 paths)",
            "MiB",
            &series(4, 1024.0),
        )?;
        if let Some(largest) = hosts.last() {
            let stat = |t: &str, c: usize| Stat::of(&rows.values(&[(0, t), (1, largest)], c, number));
            let what = format!("requests/s at {largest} hosts");
            self.note("Route scale", &what, ratio(stat("sluice", 3), stat("nginx", 3)), "nginx");
            let what = format!("memory at {largest} hosts (lower is better)");
            self.note("Route scale", &what, ratio(stat("sluice", 4), stat("nginx", 4)), "nginx");
            for (t, name) in other_peers(&targets) {
                let what = format!("requests/s at {largest} hosts");
                self.note("Route scale", &what, ratio(stat("sluice", 3), stat(t, 3)), name);
            }
        }
        self.section("scale", &["scale-throughput", "scale-memory"]);
        Ok(())
    }

    /// Scenario 5: churn (compare-churn): propagation percentiles per proxy
    /// and the requests that failed meanwhile.
    pub fn churn(&mut self) -> Result<(), Box<dyn std::error::Error>> {
        let Some(rows) = self.rows("churn") else { return Ok(()) };
        let proxies: Vec<String> = rows.distinct(0).into_iter().filter(|k| !k.starts_with("load-")).collect();
        let percentile = |kind: &str, q: f64| -> Option<Stat> {
            let mut v = rows.values(&[(0, kind)], 2, number);
            v.sort_by(f64::total_cmp);
            let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len().max(1)) - 1;
            v.get(i).map(|x| Stat { median: *x, min: *x, max: *x })
        };
        let quantiles = [("p50", 0.5), ("p99", 0.99)];
        let series: Vec<Series<Option<Stat>>> = proxies
            .iter()
            .map(|k| Series { name: k.clone(), values: quantiles.iter().map(|(_, q)| percentile(k, *q)).collect() })
            .collect();
        let names: Vec<String> = quantiles.iter().map(|q| q.0.to_owned()).collect();
        bars(&self.plot_path("churn"), "Churn: change to first request served", "ms", &names, &series)?;
        let failed = |k: &str| {
            let probes: f64 = rows.values(&[(0, k)], 3, number).iter().sum();
            let load: f64 = [2, 3].iter().flat_map(|c| rows.values(&[(0, &format!("load-{k}"))], *c, number)).sum();
            probes + load
        };
        let mut peers = vec![("nginx", "nginx reload"), ("haproxy", "HAProxy reload")];
        for (t, _) in other_peers(&proxies) {
            peers.push((t, if t == "envoy" { "Envoy file RDS" } else { "Traefik file provider" }));
        }
        for (peer, name) in peers {
            self.note(
                "Churn",
                "propagation p50 (lower is better)",
                ratio(percentile("sluice", 0.5), percentile(peer, 0.5)),
                name,
            );
            self.note("Churn", "failed requests", format!("{} against {}", failed("sluice"), failed(peer)), name);
        }
        self.section("churn", &["churn"]);
        if self.results.join("churn-20k.md").exists() {
            self.section("churn-20k", &[]);
        }
        Ok(())
    }

    /// Where resident memory goes (benches/memory, cargo bench --bench memory_stages).
    pub fn memory(&mut self) {
        for name in ["memory", "memory-stages"] {
            if self.results.join(format!("{name}.md")).exists() {
                self.section(name, &[]);
            }
        }
    }

    /// What access logs cost (compare-access-log).
    pub fn access_log(&mut self) {
        let Some(rows) = self.rows("access-log") else { return };
        let cpu = |t: &str| Stat::of(&rows.values(&[(0, t)], 4, number));
        let scenario = "Access logs";
        let measure = "proxy CPU a request (lower is better)";
        self.note(scenario, measure, ratio(cpu("sluice-log"), cpu("sluice")), "Sluice with logging off");
        self.note(scenario, measure, ratio(cpu("sluice-log"), cpu("nginx-log")), "nginx, both logging");
        self.section("access-log", &[]);
    }

    /// Scenario 6: service translation (cargo bench --bench service_translation).
    pub fn services(&mut self) -> Result<(), Box<dyn std::error::Error>> {
        let Some(rows) = self.rows("services") else { return Ok(()) };
        let tools = rows.distinct(0);
        let series = |c: usize| -> Vec<Series<(f64, f64)>> {
            tools
                .iter()
                .map(|t| Series {
                    name: t.clone(),
                    values: rows
                        .distinct(1)
                        .iter()
                        .filter_map(|n| Some((n.parse().ok()?, *rows.values(&[(0, t), (1, n)], c, number).first()?)))
                        .collect(),
                })
                .collect()
        };
        lines(
            &self.plot_path("services-connect"),
            "New-connection latency to the last service (p50)",
            "services",
            "µs",
            &series(3),
        )?;
        lines(&self.plot_path("services-sync"), "Rule / map sync time from empty", "services", "ms", &series(2))?;
        if let Some(largest) = rows.distinct(1).last() {
            let one = |t: &str, c: usize| Stat::of(&rows.values(&[(0, t), (1, largest)], c, number));
            let what = format!("connect p50 at {largest} services (lower is better)");
            self.note(
                "Service translation",
                &what,
                ratio(one("socket-LB", 3), one("iptables-nft-restore", 3)),
                "kube-proxy iptables-nft",
            );
            let what = format!("sync at {largest} services (lower is better)");
            self.note(
                "Service translation",
                &what,
                ratio(one("socket-LB", 2), one("iptables-nft-restore", 2)),
                "kube-proxy iptables-nft",
            );
        }
        self.section("services", &["services-connect", "services-sync"]);
        Ok(())
    }

    /// The criterion micro-benchmarks' mean times, from their estimates.
    pub fn micro(&mut self, criterion: &Path) {
        let mut found = Vec::new();
        collect_estimates(criterion, criterion, &mut found);
        if found.is_empty() {
            return;
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        let _ = writeln!(
            self.sections,
            "## Micro-benchmarks (criterion)\n\nMean time per iteration; `cargo bench` in the workspace.\n"
        );
        let _ = writeln!(self.sections, "| benchmark | mean |\n|---|---|");
        for (name, ns) in found {
            let shown = if ns >= 1e6 {
                format!("{:.2} ms", ns / 1e6)
            } else if ns >= 1e3 {
                format!("{:.2} µs", ns / 1e3)
            } else {
                format!("{ns:.1} ns")
            };
            let _ = writeln!(self.sections, "| {name} | {shown} |");
        }
        let _ = writeln!(self.sections);
    }

    /// The whole document.
    pub fn finish(self, header: &str, analysis: Option<String>) -> String {
        let mut out = String::from(header);
        let _ = writeln!(
            out,
            "## Summary\n\nSluice's figure divided by the peer's, both medians measured in the same run (above 1.00× is better for Sluice unless the measure says lower is better).\n"
        );
        let _ = writeln!(out, "| scenario | measure | Sluice ÷ peer | peer |\n|---|---|---|---|");
        for [s, m, v, p] in &self.summary {
            let _ = writeln!(out, "| {s} | {m} | {v} | {p} |");
        }
        let _ = writeln!(out);
        if let Some(a) = analysis {
            let _ = writeln!(out, "{}\n", a.trim_end());
        }
        out + &self.sections
    }
}

/// `group/id/new/estimates.json` under `dir`: (group/id, mean ns).
fn collect_estimates(root: &Path, dir: &Path, out: &mut Vec<(String, f64)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let path = e.path();
        if path.file_name().is_some_and(|n| n == "report") {
            continue;
        }
        if path.ends_with("new") {
            let Ok(text) = std::fs::read_to_string(path.join("estimates.json")) else { continue };
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
            if let (Some(mean), Ok(name)) = (v["mean"]["point_estimate"].as_f64(), dir.strip_prefix(root)) {
                out.push((name.display().to_string(), mean));
            }
        } else if path.is_dir() {
            collect_estimates(root, &path, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A results directory holding the given files.
    fn results(files: &[(&str, &str)]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("bench-report-test-{}-{}", std::process::id(), files[0].0));
        std::fs::create_dir_all(dir.join("plots")).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        dir
    }

    fn summary_rows(report: &Report) -> Vec<String> {
        report.summary.iter().map(|r| r.join(" | ")).collect()
    }

    #[test]
    fn tls_targets_are_read_from_the_results() {
        let rows = "nginx-keepalive\t1\t100\nenvoy-keepalive\t1\t50\nsluice-keepalive\t1\t80\n\
                    nginx-handshake\t1\t10\nenvoy-handshake\t1\t20\nsluice-handshake\t1\t10\n";
        let dir = results(&[("tls.tsv", rows)]);
        let loads = ["keepalive".to_owned(), "handshake".to_owned()];
        assert_eq!(
            targets_before_load(&Rows::read(&dir.join("tls.tsv")).unwrap(), &loads),
            ["nginx", "envoy", "sluice"]
        );
        let mut report = Report::new(&dir, "plots");
        report.tls().unwrap();
        let notes = summary_rows(&report);
        assert!(notes.contains(&"HTTPS keep-alive | requests/s | 1.60× | Envoy".to_owned()), "{notes:?}");
        assert!(notes.contains(&"HTTPS new connections | handshakes/s | 0.50× | Envoy".to_owned()), "{notes:?}");
        assert!(!notes.iter().any(|n| n.ends_with("Traefik")), "no Traefik rows, no Traefik notes: {notes:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn envoy_and_traefik_join_the_l7_scale_and_churn_summaries() {
        let l7 = "nginx\t1\t100\t1ms\t2ms\t20\t\t3ms\nenvoy\t1\t50\t1ms\t2ms\t40\t\t3ms\n\
                  traefik\t1\t25\t1ms\t2ms\t80\t\t3ms\nsluice\t1\t50\t1ms\t2ms\t40\t\t3ms\n";
        let scale = "nginx\t10\t1\t100\t1024\t20\t0\ntraefik\t10\t1\t20\t2048\t90\t0\nsluice\t10\t1\t40\t1024\t50\t0\n";
        let churn = "sluice\t0\t100\t0\nenvoy\t0\t50\t0\ntraefik\t0\t2000\t0\nnginx\t0\t400\t0\nhaproxy\t0\t100\t0\n\
                     load-sluice\t10\t0\t0\nload-envoy\t10\t0\t0\nload-traefik\t10\t1\t2\n";
        let dir = results(&[("l7.tsv", l7), ("scale.tsv", scale), ("churn.tsv", churn)]);
        let mut report = Report::new(&dir, "plots");
        report.l7().unwrap();
        report.scale().unwrap();
        report.churn().unwrap();
        let notes = summary_rows(&report);
        for want in [
            "L7 keep-alive | requests/s | 1.00× | Envoy",
            "L7 keep-alive | requests/s | 2.00× | Traefik",
            "Route scale | requests/s at 10 hosts | 2.00× | Traefik",
            "Churn | propagation p50 (lower is better) | 2.00× | Envoy file RDS",
            "Churn | propagation p50 (lower is better) | 0.05× | Traefik file provider",
            "Churn | failed requests | 0 against 3 | Traefik file provider",
        ] {
            assert!(notes.contains(&want.to_owned()), "missing {want:?} in {notes:?}");
        }
        assert!(!notes.iter().any(|n| n.starts_with("Route scale") && n.ends_with("Envoy")), "{notes:?}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}

//! The scenario scripts' results: tab-separated rows, one per target and
//! run, and the medians and spreads the report gives of them.

use std::path::Path;

/// Rows of one results file, split on tabs.
pub struct Rows(Vec<Vec<String>>);

impl Rows {
    /// `None` when the scenario has not been run.
    pub fn read(path: &Path) -> Option<Rows> {
        let text = std::fs::read_to_string(path).ok()?;
        let rows: Vec<Vec<String>> =
            text.lines().filter(|l| !l.trim().is_empty()).map(|l| l.split('\t').map(str::to_owned).collect()).collect();
        (!rows.is_empty()).then_some(Rows(rows))
    }

    /// Column `value` of the rows whose columns `keys` hold the given values.
    pub fn values(&self, keys: &[(usize, &str)], value: usize, parse: fn(&str) -> Option<f64>) -> Vec<f64> {
        self.0
            .iter()
            .filter(|r| keys.iter().all(|(c, v)| r.get(*c).is_some_and(|x| x == v)))
            .filter_map(|r| parse(r.get(value)?))
            .collect()
    }

    /// The distinct values of column `c`, in first-seen order.
    pub fn distinct(&self, c: usize) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in &self.0 {
            if let Some(v) = r.get(c)
                && !out.contains(v)
            {
                out.push(v.clone());
            }
        }
        out
    }
}

/// A plain number.
pub fn number(s: &str) -> Option<f64> {
    s.trim().parse().ok()
}

/// A duration as wrk prints it (`561.00us`, `1.59ms`, `1.2s`) or a plain
/// number of milliseconds, in milliseconds.
pub fn millis(s: &str) -> Option<f64> {
    let s = s.trim();
    if let Some(v) = s.strip_suffix("us") {
        return Some(v.parse::<f64>().ok()? / 1000.0);
    }
    if let Some(v) = s.strip_suffix("ms") {
        return v.parse().ok();
    }
    if let Some(v) = s.strip_suffix('s') {
        return Some(v.parse::<f64>().ok()? * 1000.0);
    }
    s.parse().ok()
}

/// Median and range of a set of runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Stat {
    pub fn of(values: &[f64]) -> Option<Stat> {
        if values.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
        Some(Stat { median, min: v[0], max: v[n - 1] })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_durations_become_milliseconds() {
        assert_eq!(millis("561.00us"), Some(0.561));
        assert_eq!(millis("1.59ms"), Some(1.59));
        assert_eq!(millis("1.20s"), Some(1200.0));
        assert_eq!(millis("2.750"), Some(2.75));
        assert_eq!(millis("n/a"), None);
    }

    #[test]
    fn medians_and_spreads() {
        assert_eq!(Stat::of(&[3.0, 1.0, 2.0]), Some(Stat { median: 2.0, min: 1.0, max: 3.0 }));
        assert_eq!(Stat::of(&[4.0, 1.0]).map(|s| s.median), Some(2.5));
        assert_eq!(Stat::of(&[]), None);
    }
}

//! Values as ingress-nginx writes them in annotations and its controller
//! ConfigMap, parsed once for both; each `Err` says what was expected.

use ipnet::IpNet;
use sluice_config::RetryOn;
use std::net::IpAddr;

/// Seconds as milliseconds: `"10"` (`"10s"` too), 1-86400.
pub(super) fn seconds(v: &str) -> Result<u64, String> {
    match v.strip_suffix('s').unwrap_or(v).parse::<u64>() {
        Ok(n) if n > 0 && n <= 86_400 => Ok(n * 1000),
        _ => Err(format!("'{v}' is not a number of seconds in 1-86400")),
    }
}

/// Like [`seconds`], with `0` for "no limit" (`None`).
pub(super) fn seconds_or_zero(v: &str) -> Result<Option<u64>, String> {
    if v.strip_suffix('s').unwrap_or(v) == "0" { Ok(None) } else { seconds(v).map(Some) }
}

/// `"true"` / `"false"` (nginx's `on` / `off` too).
pub(super) fn flag(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "on" => Ok(true),
        "false" | "off" => Ok(false),
        _ => Err(format!("'{v}' is not true or false")),
    }
}

/// An integer in `min..=max`.
pub(super) fn int(v: &str, min: u32, max: u32) -> Result<u32, String> {
    match v.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("'{v}' is not an integer in {min}-{max}")),
    }
}

/// nginx size syntax: `0` (no limit: `None`), `1024`, `512k`, `8m`, `1g`.
pub(super) fn size(v: &str) -> Result<Option<u64>, String> {
    let bad = || format!("'{v}' is not a size like 8m, 512k or 0");
    let lower = v.to_ascii_lowercase();
    let (digits, unit) = lower.split_at(lower.find(|c: char| !c.is_ascii_digit()).unwrap_or(lower.len()));
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let factor = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => return Err(bad()),
    };
    if n == 0 { Ok(None) } else { n.checked_mul(factor).map(Some).ok_or_else(bad) }
}

/// A comma-separated list of statuses in 400-599 (`custom-http-errors`).
pub(super) fn statuses(v: &str) -> Result<Vec<u16>, String> {
    v.split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| match c.parse::<u16>() {
            Ok(code) if (400..=599).contains(&code) => Ok(code),
            _ => Err(format!("'{c}' is not a status in 400-599")),
        })
        .collect()
}

/// nginx's `NUMBER SIZE` buffers (`large-client-header-buffers: 4 8k`).
pub(super) fn buffers(v: &str) -> Result<(u32, u64), String> {
    let bad = || format!("'{v}' is not a count and a size like 4 8k");
    let (count, size) = v.split_once(char::is_whitespace).ok_or_else(bad)?;
    let count = int(count.trim(), 1, 1024).map_err(|_| bad())?;
    let size = self::size(size.trim()).map_err(|_| bad())?.ok_or_else(bad)?;
    Ok((count, size))
}

/// A comma-separated list of networks (`10.0.0.0/8, 192.0.2.7`).
pub(super) fn networks(v: &str) -> Result<Vec<IpNet>, String> {
    v.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| {
            entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map(|n| n.trunc())
                .map_err(|_| format!("'{entry}' is not an address or CIDR network"))
        })
        .collect()
}

/// `proxy-next-upstream`: its conditions; `off` is none.
pub(super) fn retry_on(v: &str) -> Result<Vec<RetryOn>, String> {
    let words: Vec<&str> = v.split_whitespace().collect();
    if words == ["off"] {
        return Ok(Vec::new());
    }
    let on = words.iter().map(|w| RetryOn::parse(w).ok_or(*w)).collect::<Result<Vec<_>, _>>().map_err(|w| {
        format!(
            "'{w}' is not one of error, timeout, invalid_header, http_500, http_502, http_503, http_504, http_403, \
             http_404, http_429, non_idempotent, off"
        )
    })?;
    if on.is_empty() { Err("empty".into()) } else { Ok(on) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(size("8m"), Ok(Some(8 << 20)));
        assert_eq!(size("512K"), Ok(Some(512 << 10)));
        assert_eq!(size("100"), Ok(Some(100)));
        assert_eq!(size("0"), Ok(None));
        assert_eq!(size("1g"), Ok(Some(1 << 30)));
        assert!(size("8mb").is_err());
        assert!(size("m").is_err());
    }

    #[test]
    fn flags_seconds_and_lists() {
        assert_eq!(flag("On"), Ok(true));
        assert!(flag("yes").is_err());
        assert_eq!(seconds("10s"), Ok(10_000));
        assert!(seconds("0").is_err());
        assert_eq!(retry_on("off"), Ok(vec![]));
        assert!(retry_on("error sometimes").is_err());
        assert_eq!(networks("10.1.2.3/8, 192.0.2.7").unwrap().len(), 2);
        assert!(networks("10.0.0.0/33").is_err());
    }
}

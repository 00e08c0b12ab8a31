//! Parsing of human sizes (`1MiB`, `4k`, `2GB`) and durations (`30s`, `5m`, `250ms`).

use std::time::Duration;

use anyhow::{bail, Context, Result};

/// Bytes from `N`, `NKiB|NK|Nk` (×1024), `NMiB|NM`, `NGiB|NG`, `NKB|NMB|NGB` (×1000), `NB`.
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().with_context(|| format!("{s:?} is not a size; write e.g. 4KiB, 1MiB, 64MiB or 1048576"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "ki" => 1 << 10,
        "m" | "mib" | "mi" => 1 << 20,
        "g" | "gib" | "gi" => 1 << 30,
        "t" | "tib" | "ti" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        other => bail!("unknown size unit {other:?} in {s:?}; use B, KiB, MiB, GiB (or KB, MB, GB)"),
    };
    if !n.is_finite() || n < 0.0 {
        bail!("{s:?} is not a size");
    }
    Ok((n * mult as f64).round() as u64)
}

/// A duration from `N` (seconds), `Nms`, `Ns`, `Nm`, `Nh`.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().with_context(|| format!("{s:?} is not a duration; write e.g. 500ms, 30s, 10m, 1h"))?;
    let secs = match unit.trim() {
        "" | "s" | "sec" | "secs" => n,
        "ms" => n / 1000.0,
        "m" | "min" | "mins" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86_400.0,
        other => bail!("unknown duration unit {other:?} in {s:?}; use ms, s, m, h or d"),
    };
    if !secs.is_finite() || secs < 0.0 {
        bail!("{s:?} is not a duration");
    }
    Duration::try_from_secs_f64(secs).map_err(|_| anyhow::anyhow!("{s:?} is longer than any duration this program can hold"))
}

/// `1.5 MiB`-style rendering.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4KiB").expect("size"), 4096);
        assert_eq!(parse_size("1MiB").expect("size"), 1 << 20);
        assert_eq!(parse_size("64M").expect("size"), 64 << 20);
        assert_eq!(parse_size("1.5k").expect("size"), 1536);
        assert_eq!(parse_size("2GB").expect("size"), 2_000_000_000);
        assert_eq!(parse_size("123").expect("size"), 123);
        assert!(parse_size("x").is_err());
        assert!(parse_size("5 parsecs").is_err());
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(12), "12 B");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").expect("d"), Duration::from_secs(30));
        assert_eq!(parse_duration("250ms").expect("d"), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").expect("d"), Duration::from_secs(120));
        assert_eq!(parse_duration("5").expect("d"), Duration::from_secs(5));
        assert!(parse_duration("5 fortnights").is_err());
    }
}

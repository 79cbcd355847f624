//! Percentiles, and the two outputs: an aligned table and a JSON document.

use serde::Serialize;
use serde_json::{Map, Value};

/// Latency percentiles, in milliseconds.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Summary {
    /// Samples.
    pub count: usize,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

impl Summary {
    /// Nearest-rank percentiles of samples in microseconds (negative: early).
    pub fn of_micros(samples: &mut [i64]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let rank = |p: f64| {
            let index = ((p * samples.len() as f64).ceil() as usize).max(1) - 1;
            samples[index.min(samples.len() - 1)] as f64 / 1000.0
        };
        Some(Summary {
            count: samples.len(),
            p50_ms: rank(0.50),
            p99_ms: rank(0.99),
            max_ms: samples[samples.len() - 1] as f64 / 1000.0,
        })
    }

    /// The same for unsigned samples.
    pub fn of_unsigned(samples: &[u64]) -> Option<Summary> {
        let mut signed: Vec<i64> = samples.iter().map(|&s| s as i64).collect();
        Self::of_micros(&mut signed)
    }
}

/// One workload's figures.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Workload name (with its size, e.g. `fanout-1000`).
    pub workload: String,
    /// Operations completed (requests, deliveries, escalations).
    pub ops: u64,
    /// Operations that failed.
    pub errors: u64,
    /// Wall time of the measured phase.
    pub seconds: f64,
    /// Operations per second, where a rate means something.
    pub throughput: Option<f64>,
    /// Latency (or lateness) percentiles.
    pub latency: Option<Summary>,
    /// The target, for the reader.
    pub target: &'static str,
    /// Workload-specific figures.
    pub extra: Map<String, Value>,
}

impl Report {
    /// A one-line note from `extra` for the table.
    fn note(&self) -> String {
        self.extra
            .iter()
            .filter(|(k, _)| !k.starts_with('_'))
            .map(|(k, v)| match v {
                Value::Number(n) if n.is_f64() => format!("{k}={:.2}", n.as_f64().unwrap_or(0.0)),
                Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The aligned table.
pub fn table(reports: &[Report]) -> String {
    let header = [
        "workload", "ops", "errors", "ops/s", "p50 ms", "p99 ms", "max ms", "target", "notes",
    ];
    let rows: Vec<[String; 9]> = reports
        .iter()
        .map(|r| {
            let ms = |f: fn(&Summary) -> f64| {
                r.latency
                    .as_ref()
                    .map_or("-".to_owned(), |s| format!("{:.2}", f(s)))
            };
            [
                r.workload.clone(),
                r.ops.to_string(),
                r.errors.to_string(),
                r.throughput.map_or("-".to_owned(), |t| format!("{t:.0}")),
                ms(|s| s.p50_ms),
                ms(|s| s.p99_ms),
                ms(|s| s.max_ms),
                r.target.to_owned(),
                r.note(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (c, w))| {
                // Text left, numbers right.
                if i == 0 || i >= 7 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    out.push('\n');
    out.push_str(&line(widths.iter().map(|w| "-".repeat(*w)).collect()));
    for row in rows {
        out.push('\n');
        out.push_str(&line(row.to_vec()));
    }
    out.push('\n');
    out
}

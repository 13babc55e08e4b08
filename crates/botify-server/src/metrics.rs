//! Prometheus metrics with lock-free counters: requests by endpoint and status class, latency
//! histograms by endpoint and by treatment, recommender fallbacks, store errors, log lines.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Root,
    Track,
    Next,
    Last,
    Health,
    Metrics,
    Admin,
    Other,
}

const ENDPOINTS: [(Endpoint, &str); 8] = [
    (Endpoint::Root, "root"),
    (Endpoint::Track, "track"),
    (Endpoint::Next, "next"),
    (Endpoint::Last, "last"),
    (Endpoint::Health, "health"),
    (Endpoint::Metrics, "metrics"),
    (Endpoint::Admin, "admin"),
    (Endpoint::Other, "other"),
];
const CLASSES: [&str; 3] = ["2xx", "4xx", "5xx"];
/// Octaves of the latency histograms, from 1 µs up to 2²⁰ µs (about a second).
const OCTAVES: usize = 20;
/// Buckets per octave: linear inside it (HDR-style), so every bucket is at most 25% wide and a
/// 3 µs handler reads as 3 µs, not as "under 50 µs".
const STEPS: usize = 4;
/// Buckets: below 1 µs, `OCTAVES × STEPS` inside, and above the last bound.
const BUCKETS: usize = OCTAVES * STEPS + 2;

/// The upper bound of bucket `i` in seconds (`i < BUCKETS − 1`): 1 µs, then
/// `2^e · (1 + (s + 1) / STEPS)` µs for `i = 1 + e·STEPS + s`.
fn bound(i: usize) -> f64 {
    if i == 0 {
        return 1e-6;
    }
    let (e, s) = ((i - 1) / STEPS, (i - 1) % STEPS);
    // One division of exact integers: the bound is the double nearest its true value (its
    // label reads 0.00000125, not 0.0000012499999999999999).
    ((1u64 << e) * (STEPS + s + 1) as u64) as f64 / (STEPS as f64 * 1e6)
}

/// The bucket of an observation of `ns` nanoseconds: from the octave and the next two bits of
/// its value in quarter microseconds, without a search (it runs twice per request). Rounding up
/// makes a value on a bound belong to the bucket below it (bounds are upper and inclusive, as
/// Prometheus' `le`).
fn bucket(ns: u64) -> usize {
    let quarters = ns.saturating_mul(STEPS as u64).div_ceil(1000);
    if quarters <= STEPS as u64 {
        return 0;
    }
    // Bucket `1 + e·STEPS + s` holds `quarters − 1` in [2^e·(STEPS + s), 2^e·(STEPS + s + 1)).
    let w = quarters - 1;
    let e = 63 - w.leading_zeros() as usize - 2;
    if e >= OCTAVES {
        return BUCKETS - 1;
    }
    1 + e * STEPS + ((w >> e) as usize & (STEPS - 1))
}

pub const MAX_TREATMENTS: usize = 10;

/// Bucket counts (not cumulative; the last is above every bound) and the sum of seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramCounts {
    pub buckets: [u64; BUCKETS],
    pub sum_seconds: f64,
}

impl Default for HistogramCounts {
    fn default() -> Self {
        HistogramCounts {
            buckets: [0; BUCKETS],
            sum_seconds: 0.0,
        }
    }
}

impl HistogramCounts {
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// What was observed since `earlier`.
    pub fn since(&self, earlier: &HistogramCounts) -> HistogramCounts {
        let mut d = self.clone();
        for (b, e) in d.buckets.iter_mut().zip(&earlier.buckets) {
            *b = b.saturating_sub(*e);
        }
        d.sum_seconds = (self.sum_seconds - earlier.sum_seconds).max(0.0);
        d
    }

    /// The `q` quantile in seconds, interpolated linearly inside its bucket as Prometheus'
    /// `histogram_quantile` does; above the last bound it is the last bound. None when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * total as f64;
        let mut below = 0u64;
        let last = bound(BUCKETS - 2);
        for (i, &n) in self.buckets.iter().enumerate() {
            if n > 0 && (below + n) as f64 >= rank {
                if i == BUCKETS - 1 {
                    return Some(last);
                }
                let upper = bound(i);
                let lower = if i == 0 { 0.0 } else { bound(i - 1) };
                let inside = ((rank - below as f64) / n as f64).clamp(0.0, 1.0);
                return Some(lower + (upper - lower) * inside);
            }
            below += n;
        }
        Some(last)
    }
}

/// Every counter at one moment, for rates and windows (the dashboard samples it each second).
#[derive(Debug, Clone, Default)]
pub struct MetricsSnapshot {
    /// (endpoint, [2xx, 4xx, 5xx]).
    pub requests: Vec<(&'static str, [u64; 3])>,
    pub latency: Vec<(&'static str, HistogramCounts)>,
    /// By treatment bucket of the routing experiment.
    pub treatment_latency: Vec<HistogramCounts>,
    pub store_errors: u64,
    pub store_skipped: u64,
    pub reloads: u64,
    pub reload_failures: u64,
    pub log_lines: u64,
    pub connections_refused: u64,
}

pub struct Histogram {
    buckets: [AtomicU64; BUCKETS],
    sum_ns: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_ns: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.buckets[bucket(ns)].fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(ns, Relaxed);
    }

    /// Back to empty: the series it counted is gone (a reload routed another experiment).
    fn reset(&self) {
        for b in &self.buckets {
            b.store(0, Relaxed);
        }
        self.sum_ns.store(0, Relaxed);
    }

    pub fn counts(&self) -> HistogramCounts {
        HistogramCounts {
            buckets: std::array::from_fn(|i| self.buckets[i].load(Relaxed)),
            sum_seconds: self.sum_ns.load(Relaxed) as f64 / 1e9,
        }
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        // Exported at each octave's bound (1, 2, 4 … µs): 22 series, not 82; the fine buckets
        // serve the quantiles of the dashboard.
        let mut cum = 0;
        for i in 0..BUCKETS - 1 {
            cum += self.buckets[i].load(Relaxed);
            if i % STEPS == 0 {
                let b = bound(i);
                let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{b}\"}} {cum}");
            }
        }
        cum += self.buckets[BUCKETS - 1].load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {cum}");
        let _ = writeln!(
            out,
            "{name}_sum{{{labels}}} {}",
            self.sum_ns.load(Relaxed) as f64 / 1e9
        );
        let _ = writeln!(out, "{name}_count{{{labels}}} {cum}");
    }
}

#[derive(Default)]
pub struct Metrics {
    requests: [[AtomicU64; 3]; 8],
    latency: [Histogram; 8],
    treatment_latency: [Histogram; MAX_TREATMENTS],
    pub store_errors: AtomicU64,
    pub log_lines: AtomicU64,
    pub reloads: AtomicU64,
    pub reload_failures: AtomicU64,
    /// Data files read from local files because Redis could not be reached.
    pub data_local_fallbacks: std::sync::Arc<AtomicU64>,
    /// Users the embedded store forgot (least recently used) to stay under `--max-users`.
    pub evictions: std::sync::Arc<AtomicU64>,
    /// Store operations skipped while the Redis circuit breaker was open.
    pub store_skipped: std::sync::Arc<AtomicU64>,
    /// Connections refused because the connection cap was reached.
    pub connections_refused: AtomicU64,
    /// `next`/`last` answered 503 because the event log could not take their line.
    pub log_refused: AtomicU64,
    /// Connections open now.
    pub connections_open: std::sync::Arc<AtomicU64>,
    /// Requests being handled now.
    pub in_flight: AtomicU64,
}

/// Gauges of the service's state that live outside [`Metrics`].
#[derive(Debug, Clone, Copy, Default)]
pub struct StateGauges {
    /// Users whose history the embedded store holds, and its bytes (None with Redis: Redis's
    /// own metrics count its keys).
    pub history: Option<(usize, usize)>,
}

fn idx(e: Endpoint) -> usize {
    ENDPOINTS.iter().position(|(x, _)| *x == e).unwrap_or(7)
}

impl Metrics {
    pub fn record(&self, e: Endpoint, status: u16, d: Duration) {
        let class = match status {
            200..=399 => 0,
            400..=499 => 1,
            _ => 2,
        };
        self.requests[idx(e)][class].fetch_add(1, Relaxed);
        self.latency[idx(e)].observe(d);
    }

    pub fn record_treatment(&self, bucket: usize, d: Duration) {
        if let Some(h) = self.treatment_latency.get(bucket) {
            h.observe(d);
        }
    }

    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            requests: ENDPOINTS
                .iter()
                .enumerate()
                .map(|(i, (_, name))| {
                    (
                        *name,
                        std::array::from_fn(|c| self.requests[i][c].load(Relaxed)),
                    )
                })
                .collect(),
            latency: ENDPOINTS
                .iter()
                .enumerate()
                .map(|(i, (_, name))| (*name, self.latency[i].counts()))
                .collect(),
            treatment_latency: self
                .treatment_latency
                .iter()
                .map(Histogram::counts)
                .collect(),
            store_errors: self.store_errors.load(Relaxed),
            store_skipped: self.store_skipped.load(Relaxed),
            reloads: self.reloads.load(Relaxed),
            reload_failures: self.reload_failures.load(Relaxed),
            log_lines: self.log_lines.load(Relaxed),
            connections_refused: self.connections_refused.load(Relaxed),
        }
    }

    /// Forgets the per-treatment latencies: after a reload routes another experiment (or other
    /// treatments), its buckets are other arms, so the old counts would be filed under new names.
    pub fn reset_treatments(&self) {
        for h in &self.treatment_latency {
            h.reset();
        }
    }

    /// Answered (2xx) requests of an endpoint.
    pub fn answered(&self, e: Endpoint) -> u64 {
        self.requests[idx(e)][0].load(Relaxed)
    }

    /// Prometheus text format. `treatments` are (name, fallbacks taken) of the routing experiment;
    /// `log` is the event-log writer's state.
    pub fn render(
        &self,
        experiment: &str,
        treatments: &[(String, u64)],
        log: &botify_core::eventlog::LogStatus,
        gauges: StateGauges,
    ) -> String {
        let mut out = String::with_capacity(8192);
        let _ = writeln!(
            out,
            "# HELP botify_build_info The running build (value 1).\n# TYPE botify_build_info gauge\nbotify_build_info{{version=\"{}\",profile=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION"),
            if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
        );
        crate::process::render(&mut out);
        let mut gauge = |name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        };
        gauge(
            "botify_connections_open",
            "HTTP connections open now.",
            self.connections_open.load(Relaxed),
        );
        gauge(
            "botify_requests_in_flight",
            "Requests being handled now.",
            self.in_flight.load(Relaxed),
        );
        if let Some((users, bytes)) = gauges.history {
            gauge(
                "botify_history_users",
                "Users whose listening history the embedded store holds.",
                users as u64,
            );
            gauge(
                "botify_history_bytes",
                "Bytes the embedded store's histories hold (what --max-history-mib bounds).",
                bytes as u64,
            );
        }
        out.push_str("# HELP botify_requests_total Requests by endpoint and status class.\n# TYPE botify_requests_total counter\n");
        for (i, (_, name)) in ENDPOINTS.iter().enumerate() {
            for (c, class) in CLASSES.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "botify_requests_total{{endpoint=\"{name}\",status=\"{class}\"}} {}",
                    self.requests[i][c].load(Relaxed)
                );
            }
        }
        out.push_str("# HELP botify_request_duration_seconds Handler latency by endpoint.\n# TYPE botify_request_duration_seconds histogram\n");
        for (i, (_, name)) in ENDPOINTS.iter().enumerate() {
            self.latency[i].render(
                &mut out,
                "botify_request_duration_seconds",
                &format!("endpoint=\"{name}\""),
            );
        }
        let exp = experiment.replace('\\', "\\\\").replace('"', "\\\"");
        out.push_str("# HELP botify_recommendation_duration_seconds next/last latency by treatment of the routing experiment.\n# TYPE botify_recommendation_duration_seconds histogram\n");
        for (b, (name, _)) in treatments.iter().enumerate().take(MAX_TREATMENTS) {
            self.treatment_latency[b].render(
                &mut out,
                "botify_recommendation_duration_seconds",
                &format!("experiment=\"{exp}\",treatment=\"{name}\""),
            );
        }
        out.push_str("# HELP botify_fallbacks_total Times a recommender had nothing to say and its fallback answered.\n# TYPE botify_fallbacks_total counter\n");
        for (name, n) in treatments {
            let _ = writeln!(
                out,
                "botify_fallbacks_total{{experiment=\"{exp}\",treatment=\"{name}\"}} {n}"
            );
        }
        for (name, help, v) in [
            (
                "botify_store_errors_total",
                "State-store operations that failed (answered without history).",
                &self.store_errors,
            ),
            (
                "botify_log_lines_total",
                "Event-log lines handed to the writer.",
                &self.log_lines,
            ),
            (
                "botify_reloads_total",
                "Successful hot reloads.",
                &self.reloads,
            ),
            (
                "botify_reload_failures_total",
                "Rejected hot reloads (the old configuration stays).",
                &self.reload_failures,
            ),
            (
                "botify_data_local_fallbacks_total",
                "Data files read from local files because Redis was unreachable.",
                &self.data_local_fallbacks,
            ),
            (
                "botify_history_evictions_total",
                "Users forgotten by the embedded store (least recently used) to stay under --max-users.",
                &self.evictions,
            ),
            (
                "botify_connections_refused_total",
                "Connections answered 503 and closed because the connection cap was reached.",
                &self.connections_refused,
            ),
            (
                "botify_store_skipped_total",
                "Store operations skipped while the Redis circuit breaker was open (answered without history).",
                &self.store_skipped,
            ),
            (
                "botify_log_refused_total",
                "next/last requests answered 503 because the event log could not be written and its queue was full.",
                &self.log_refused,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP botify_log_lines_flushed_total Event-log lines written to the file.\n# TYPE botify_log_lines_flushed_total counter\nbotify_log_lines_flushed_total {}",
            log.written
        );
        let _ = writeln!(
            out,
            "# HELP botify_log_write_errors_total Failed attempts to write, rotate or open the event log (each is retried).\n# TYPE botify_log_write_errors_total counter\nbotify_log_write_errors_total {}",
            log.write_errors
        );
        let _ = writeln!(
            out,
            "# HELP botify_log_writable 1 when the event log's last write succeeded, 0 while its writer retries.\n# TYPE botify_log_writable gauge\nbotify_log_writable {}",
            u8::from(log.writable)
        );
        let _ = writeln!(
            out,
            "# HELP botify_log_queued Event-log lines waiting for the writer (the queue holds {}).\n# TYPE botify_log_queued gauge\nbotify_log_queued {}",
            log.capacity, log.queued
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_histograms() {
        let m = Metrics::default();
        m.record(Endpoint::Next, 200, Duration::from_micros(30));
        m.record(Endpoint::Next, 200, Duration::from_millis(3));
        m.record(Endpoint::Next, 400, Duration::from_micros(10));
        m.record_treatment(1, Duration::from_micros(70));
        let log = botify_core::eventlog::LogStatus {
            writable: false,
            queued: 3,
            capacity: 8192,
            written: 7,
            write_errors: 2,
            last_error: None,
        };
        let gauges = StateGauges {
            history: Some((12, 3456)),
        };
        let text = m.render("HW", &[("C".into(), 0), ("T1".into(), 5)], &log, gauges);
        assert!(
            text.contains("botify_history_users 12\n")
                && text.contains("botify_history_bytes 3456\n")
        );
        assert!(text.contains("botify_build_info{version=\""));
        // A reload that routes other arms forgets the old arms' latencies.
        m.reset_treatments();
        let after = m.render("NEW", &[("C".into(), 0), ("T1".into(), 0)], &log, gauges);
        assert!(after.contains(
            "botify_recommendation_duration_seconds_count{experiment=\"NEW\",treatment=\"T1\"} 0"
        ));
        assert!(text.contains("botify_log_write_errors_total 2\n"));
        assert!(text.contains("botify_log_writable 0\n"));
        assert!(text.contains("botify_log_queued 3\n"));
        assert!(text.contains("botify_requests_total{endpoint=\"next\",status=\"2xx\"} 2"));
        assert!(text.contains("botify_log_lines_flushed_total 7\n"));
        assert!(text.contains("botify_requests_total{endpoint=\"next\",status=\"4xx\"} 1"));
        // 10 and 30 µs are under 32 µs; 3 ms is not.
        assert!(text.contains(
            "botify_request_duration_seconds_bucket{endpoint=\"next\",le=\"0.000032\"} 2"
        ));
        assert!(text.contains(
            "botify_request_duration_seconds_bucket{endpoint=\"next\",le=\"0.000008\"} 0"
        ));
        // One series per octave from 1 µs to about a second, and +Inf.
        assert_eq!(
            text.matches("botify_request_duration_seconds_bucket{endpoint=\"next\"")
                .count(),
            22
        );
        assert!(
            text.contains(
                "botify_request_duration_seconds_bucket{endpoint=\"next\",le=\"+Inf\"} 3"
            )
        );
        assert!(text.contains(
            "botify_recommendation_duration_seconds_count{experiment=\"HW\",treatment=\"T1\"} 1"
        ));
        assert!(text.contains("botify_fallbacks_total{experiment=\"HW\",treatment=\"T1\"} 5"));
        assert_eq!(m.answered(Endpoint::Next), 2);
    }

    #[test]
    fn buckets_are_a_quarter_octave_wide_from_one_microsecond() {
        // Every observation lands in the bucket whose bounds hold it (upper bound inclusive).
        for ns in (0..5_000u64).chain((5_000..3_000_000).step_by(997)).chain([
            1_000,
            1_250,
            2_000,
            3_000,
            24_000,
            1_048_576_000,
            1_048_577_000,
            9_000_000_000,
        ]) {
            let i = bucket(ns);
            let s = ns as f64 * 1e-9;
            if i < BUCKETS - 1 {
                assert!(s <= bound(i) * (1.0 + 1e-12), "{ns} ns above bucket {i}");
            }
            if i > 0 {
                assert!(s > bound(i - 1) * (1.0 - 1e-12), "{ns} ns below bucket {i}");
            }
        }
        assert_eq!(bucket(1_000), 0);
        assert_eq!(bucket(1_001), 1);
        assert_eq!(bound(1), 1.25e-6);
        assert_eq!(bound(4), 2e-6);
        // A handler's 3 µs reads as about 3 µs (it read 25 µs with a first bucket of 50 µs).
        let m = Metrics::default();
        for _ in 0..10 {
            m.record_treatment(0, Duration::from_nanos(3_000));
        }
        let p50 = m.snapshot().treatment_latency[0].quantile(0.5).unwrap();
        assert!((2.5e-6..=3.0e-6).contains(&p50), "{p50}");
    }

    #[test]
    fn quantiles_interpolate_inside_buckets_and_windows_subtract() {
        let m = Metrics::default();
        let before = m.snapshot();
        assert_eq!(before.latency[2].1.quantile(0.5), None);
        // 100 observations in (640 µs, 768 µs], 100 in (1792 µs, 2048 µs].
        for _ in 0..100 {
            m.record(Endpoint::Next, 200, Duration::from_micros(700));
            m.record(Endpoint::Next, 200, Duration::from_micros(2000));
        }
        let after = m.snapshot();
        let h = after.latency[2].1.since(&before.latency[2].1);
        assert_eq!(after.latency[2].0, "next");
        assert_eq!(h.count(), 200);
        assert!((h.quantile(0.5).unwrap() - 768e-6).abs() < 1e-12);
        assert!((h.quantile(0.75).unwrap() - 1920e-6).abs() < 1e-12);
        assert!((h.quantile(0.25).unwrap() - 704e-6).abs() < 1e-12);
        assert!((h.sum_seconds - 0.27).abs() < 1e-9);
        m.record(Endpoint::Next, 200, Duration::from_secs(3));
        let slow = m.snapshot().latency[2].1.since(&after.latency[2].1);
        assert_eq!(slow.quantile(0.99), Some(1.048576));
        assert_eq!(after.requests[2].1, [200, 0, 0]);
    }
}

//! Request counters and latency histograms in Prometheus' text format, kept in
//! atomics (no lock on the request path).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// The routes, as labelled in the metrics (their path templates).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `GET /healthz`
    Health,
    /// `GET /metrics`
    Metrics,
    /// `GET /v1/datasets`
    Datasets,
    /// `GET /v1/datasets/{dataset}`
    Dataset,
    /// `GET /v1/datasets/{dataset}/users/{user}/recommendations`
    UserRecommendations,
    /// `POST /v1/datasets/{dataset}/recommendations`
    FoldIn,
    /// `POST /v1/datasets/{dataset}/recommendations/batch`
    Batch,
    /// `GET /v1/datasets/{dataset}/items/{item}/similar`
    Similar,
    /// Anything else (answered 404 or 405).
    Unmatched,
}

impl Route {
    /// Every route, in label order.
    pub const ALL: [Route; 9] = [
        Route::Health,
        Route::Metrics,
        Route::Datasets,
        Route::Dataset,
        Route::UserRecommendations,
        Route::FoldIn,
        Route::Batch,
        Route::Similar,
        Route::Unmatched,
    ];

    /// The HTTP method and path template (`Unmatched` has neither).
    pub fn method_and_path(self) -> Option<(&'static str, &'static str)> {
        Some(match self {
            Route::Health => ("GET", "/healthz"),
            Route::Metrics => ("GET", "/metrics"),
            Route::Datasets => ("GET", "/v1/datasets"),
            Route::Dataset => ("GET", "/v1/datasets/{dataset}"),
            Route::UserRecommendations => {
                ("GET", "/v1/datasets/{dataset}/users/{user}/recommendations")
            }
            Route::FoldIn => ("POST", "/v1/datasets/{dataset}/recommendations"),
            Route::Batch => ("POST", "/v1/datasets/{dataset}/recommendations/batch"),
            Route::Similar => ("GET", "/v1/datasets/{dataset}/items/{item}/similar"),
            Route::Unmatched => return None,
        })
    }

    fn label(self) -> &'static str {
        self.method_and_path().map_or("unmatched", |(_, p)| p)
    }
}

/// The statuses the server answers with, each counted separately.
const STATUSES: [u16; 9] = [200, 400, 404, 405, 413, 422, 500, 503, 0];

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct RouteStats {
    by_status: [AtomicU64; STATUSES.len()],
    /// Non-cumulative counts per bucket, plus one past the last bound.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_ns: AtomicU64,
}

/// Everything `/metrics` reports besides the served models.
#[derive(Default)]
pub struct Metrics {
    routes: [RouteStats; Route::ALL.len()],
    reloads: AtomicU64,
    reload_failures: AtomicU64,
}

impl Metrics {
    /// Count one answered request.
    pub fn observe(&self, route: Route, status: u16, took: Duration) {
        let r = &self.routes[route as usize];
        let s = STATUSES
            .iter()
            .position(|&x| x == status)
            .unwrap_or(STATUSES.len() - 1);
        r.by_status[s].fetch_add(1, Relaxed);
        let secs = took.as_secs_f64();
        let b = BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(BUCKETS.len());
        r.buckets[b].fetch_add(1, Relaxed);
        r.sum_ns.fetch_add(took.as_nanos() as u64, Relaxed);
    }

    /// Count a model swapped in.
    pub fn reloaded(&self) {
        self.reloads.fetch_add(1, Relaxed);
    }

    /// Count a load that failed (the previous model stays).
    pub fn reload_failed(&self) {
        self.reload_failures.fetch_add(1, Relaxed);
    }

    /// Models swapped in since start.
    pub fn reload_count(&self) -> u64 {
        self.reloads.load(Relaxed)
    }

    /// The Prometheus text exposition; `models` are (dataset, model id, train run,
    /// users, items) of what is served now.
    pub fn render(&self, models: &[(String, String, String, usize, usize)]) -> String {
        let mut out = String::with_capacity(8192);
        let w = &mut out;
        let _ = writeln!(
            w,
            "# HELP alsflow_http_requests_total Requests answered, by route and status."
        );
        let _ = writeln!(w, "# TYPE alsflow_http_requests_total counter");
        for route in Route::ALL {
            let r = &self.routes[route as usize];
            for (i, &status) in STATUSES.iter().enumerate() {
                let n = r.by_status[i].load(Relaxed);
                if n > 0 {
                    let status = if status == 0 {
                        "other".to_string()
                    } else {
                        status.to_string()
                    };
                    let _ = writeln!(
                        w,
                        "alsflow_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                        route.label()
                    );
                }
            }
        }
        let _ = writeln!(
            w,
            "# HELP alsflow_http_request_duration_seconds Time from request to response, by route."
        );
        let _ = writeln!(w, "# TYPE alsflow_http_request_duration_seconds histogram");
        for route in Route::ALL {
            let r = &self.routes[route as usize];
            let label = route.label();
            let mut cumulative = 0;
            for (i, le) in BUCKETS.iter().enumerate() {
                cumulative += r.buckets[i].load(Relaxed);
                let _ = writeln!(
                    w,
                    "alsflow_http_request_duration_seconds_bucket{{route=\"{label}\",le=\"{le}\"}} {cumulative}"
                );
            }
            cumulative += r.buckets[BUCKETS.len()].load(Relaxed);
            let _ = writeln!(w, "alsflow_http_request_duration_seconds_bucket{{route=\"{label}\",le=\"+Inf\"}} {cumulative}");
            let sum = r.sum_ns.load(Relaxed) as f64 / 1e9;
            let _ = writeln!(
                w,
                "alsflow_http_request_duration_seconds_sum{{route=\"{label}\"}} {sum}"
            );
            let _ = writeln!(
                w,
                "alsflow_http_request_duration_seconds_count{{route=\"{label}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            w,
            "# HELP alsflow_model_info The model served per dataset (value 1)."
        );
        let _ = writeln!(w, "# TYPE alsflow_model_info gauge");
        for (dataset, model, run, _, _) in models {
            let _ = writeln!(
                w,
                "alsflow_model_info{{dataset=\"{}\",model=\"{model}\",train_run=\"{run}\"}} 1",
                escape(dataset)
            );
        }
        let _ = writeln!(w, "# HELP alsflow_model_users Users of the served model.");
        let _ = writeln!(w, "# TYPE alsflow_model_users gauge");
        for (dataset, _, _, users, _) in models {
            let _ = writeln!(
                w,
                "alsflow_model_users{{dataset=\"{}\"}} {users}",
                escape(dataset)
            );
        }
        let _ = writeln!(w, "# HELP alsflow_model_items Items of the served model.");
        let _ = writeln!(w, "# TYPE alsflow_model_items gauge");
        for (dataset, _, _, _, items) in models {
            let _ = writeln!(
                w,
                "alsflow_model_items{{dataset=\"{}\"}} {items}",
                escape(dataset)
            );
        }
        let _ = writeln!(
            w,
            "# HELP alsflow_model_reloads_total Models swapped in after start (hot reloads)."
        );
        let _ = writeln!(w, "# TYPE alsflow_model_reloads_total counter");
        let _ = writeln!(
            w,
            "alsflow_model_reloads_total {}",
            self.reloads.load(Relaxed)
        );
        let _ = writeln!(w, "# HELP alsflow_model_reload_failures_total Loads that failed (the previous model stayed).");
        let _ = writeln!(w, "# TYPE alsflow_model_reload_failures_total counter");
        let _ = writeln!(
            w,
            "alsflow_model_reload_failures_total {}",
            self.reload_failures.load(Relaxed)
        );
        out
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_cumulative_buckets() {
        let m = Metrics::default();
        m.observe(Route::FoldIn, 200, Duration::from_micros(80));
        m.observe(Route::FoldIn, 422, Duration::from_millis(3));
        m.observe(Route::Unmatched, 418, Duration::from_secs(9));
        m.reloaded();
        let text = m.render(&[("ml".into(), "abc".into(), "def".into(), 3, 4)]);
        let route = "/v1/datasets/{dataset}/recommendations";
        for line in [
            format!("alsflow_http_requests_total{{route=\"{route}\",status=\"200\"}} 1"),
            format!("alsflow_http_requests_total{{route=\"{route}\",status=\"422\"}} 1"),
            "alsflow_http_requests_total{route=\"unmatched\",status=\"other\"} 1".to_string(),
            format!(
                "alsflow_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"0.0001\"}} 1"
            ),
            format!(
                "alsflow_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"0.005\"}} 2"
            ),
            "alsflow_http_request_duration_seconds_bucket{route=\"unmatched\",le=\"5\"} 0"
                .to_string(),
            "alsflow_http_request_duration_seconds_bucket{route=\"unmatched\",le=\"+Inf\"} 1"
                .to_string(),
            "alsflow_model_info{dataset=\"ml\",model=\"abc\",train_run=\"def\"} 1".to_string(),
            "alsflow_model_reloads_total 1".to_string(),
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
    }
}

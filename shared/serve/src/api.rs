//! The HTTP routes: each handler takes a snapshot of the served models, resolves raw
//! ids, computes, and answers JSON naming the model artifact it used; every refusal
//! is an [`ApiError`] as JSON. Every answer is counted in [`crate::metrics`].

use crate::error::ApiError;
use crate::metrics::Route;
use crate::request::{parse_batch, parse_fold_in, parse_list_query, ListOptions};
use crate::served::{Filters, ServedModel};
use crate::state::{App, Entry};
use alsflow_als::FoldInError;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

/// The router over `app`: every route of [`Route::ALL`], JSON 404/405 otherwise.
pub fn router(app: Arc<App>) -> Router {
    let limit = app.body_limit;
    let path = |r: Route| r.method_and_path().map(|(_, p)| p).unwrap_or("/");
    Router::new()
        .route(path(Route::Health), get(health))
        .route(path(Route::Metrics), get(metrics))
        .route(path(Route::Datasets), get(datasets))
        .route(path(Route::Dataset), get(dataset))
        .route(path(Route::UserRecommendations), get(user_recommendations))
        .route(path(Route::FoldIn), post(fold_in))
        .route(path(Route::Batch), post(batch))
        .route(path(Route::Similar), get(similar))
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app)
}

type Answer = Result<(StatusCode, String, Vec<u8>), ApiError>;

/// Run `work`, answer its JSON (or error), and count it under `route`.
async fn timed(app: &App, route: Route, work: impl Future<Output = Answer>) -> Response {
    let t0 = Instant::now();
    let (status, content_type, body) = match work.await {
        Ok(ok) => ok,
        Err(e) => (
            StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "application/json".to_string(),
            serde_json::to_vec(&e).unwrap_or_default(),
        ),
    };
    app.metrics.observe(route, status.as_u16(), t0.elapsed());
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

fn json(value: &impl Serialize) -> Answer {
    let body = serde_json::to_vec(value)
        .map_err(|e| ApiError::new(500, "internal", format!("cannot encode the answer: {e}")))?;
    Ok((StatusCode::OK, "application/json".into(), body))
}

/// The served entry of `dataset`, or 404 naming the datasets served.
fn entry(app: &App, dataset: &str) -> Result<Arc<Entry>, ApiError> {
    let models = app.models.load();
    models.get(dataset).cloned().ok_or_else(|| {
        let served: Vec<&str> = models.keys().map(String::as_str).collect();
        ApiError::not_found(
            "unknown_dataset",
            format!(
                "no dataset '{dataset}' is served (served: {})",
                served.join(", ")
            ),
        )
    })
}

fn path_error(e: PathRejection) -> ApiError {
    ApiError::bad_request(format!("bad path: {}", e.body_text()))
}

fn body_error(e: BytesRejection, limit: usize) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::too_large(limit)
    } else {
        ApiError::bad_request(format!("cannot read the request body: {}", e.body_text()))
    }
}

fn unknown_user(m: &ServedModel, user: &str) -> ApiError {
    ApiError::not_found(
        "unknown_user",
        format!(
            "dataset '{}' has no user '{user}' in model {}",
            m.provenance.dataset,
            m.provenance.model.short()
        ),
    )
}

fn user_index(m: &ServedModel, user: &str) -> Result<u32, ApiError> {
    m.users.get(user).ok_or_else(|| unknown_user(m, user))
}

/// Item indices of raw ids; 404 naming the first unknown one and where it was.
fn item_indices(m: &ServedModel, ids: &[String], field: &str) -> Result<Vec<u32>, ApiError> {
    ids.iter()
        .map(|raw| {
            m.items.get(raw).ok_or_else(|| {
                ApiError::not_found(
                    "unknown_item",
                    format!(
                        "dataset '{}' has no item '{raw}' (in '{field}')",
                        m.provenance.dataset
                    ),
                )
            })
        })
        .collect()
}

fn filters(m: &ServedModel, o: &ListOptions) -> Result<Filters, ApiError> {
    Ok(Filters {
        exclude_seen: o.exclude_seen,
        exclude: item_indices(m, &o.exclude, "exclude")?,
        candidates: o
            .candidates
            .as_ref()
            .map(|c| item_indices(m, c, "candidates"))
            .transpose()?,
    })
}

/// One recommended or similar item.
#[derive(Serialize)]
struct ItemOut<'a> {
    item: &'a str,
    score: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
}

fn items_out<'a>(m: &'a ServedModel, list: &[(u32, f32)]) -> Vec<ItemOut<'a>> {
    list.iter()
        .map(|&(i, score)| ItemOut {
            item: m.items.raw(i),
            score,
            title: m.items.title(i),
        })
        .collect()
}

/// The answer of the recommendation routes.
#[derive(Serialize)]
struct Recommendations<'a> {
    model: String,
    dataset: &'a str,
    user: Option<&'a str>,
    items: Vec<ItemOut<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    unknown_items: Vec<&'a str>,
}

async fn health(State(app): State<Arc<App>>) -> Response {
    timed(&app, Route::Health, async {
        let models = app.models.load();
        let served: serde_json::Map<String, serde_json::Value> = models
            .iter()
            .map(|(d, e)| (d.clone(), e.model.provenance.model.to_hex().into()))
            .collect();
        json(&serde_json::json!({"status": "ok", "models": served}))
    })
    .await
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    timed(&app, Route::Metrics, async {
        let models: Vec<_> = app
            .models
            .load()
            .iter()
            .map(|(d, e)| {
                let p = &e.model.provenance;
                (
                    d.clone(),
                    p.model.to_hex(),
                    p.train_run.clone(),
                    e.model.n_users(),
                    e.model.n_items(),
                )
            })
            .collect();
        let text = app.metrics.render(&models);
        Ok((
            StatusCode::OK,
            "text/plain; version=0.0.4".into(),
            text.into_bytes(),
        ))
    })
    .await
}

fn describe(name: &str, e: &Entry) -> serde_json::Value {
    let m = &e.model;
    let p = &m.provenance;
    serde_json::json!({
        "dataset": name,
        "model": p.model.to_hex(),
        "train_run": p.train_run,
        "trained_at_ms": p.trained_ms,
        "params": m.params,
        "metrics": e.metrics.as_ref().map(|x| &x.1),
        "evaluate_run": e.metrics.as_ref().map(|x| x.0.to_hex()),
        "users": m.n_users(),
        "items": m.n_items(),
        "catalog_items": m.catalog_size(),
        "pinned": e.pinned,
    })
}

async fn datasets(State(app): State<Arc<App>>) -> Response {
    timed(&app, Route::Datasets, async {
        let all: Vec<_> = app
            .models
            .load()
            .iter()
            .map(|(d, e)| describe(d, e))
            .collect();
        json(&serde_json::json!({"datasets": all, "reloads": app.metrics.reload_count()}))
    })
    .await
}

async fn dataset(
    State(app): State<Arc<App>>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    timed(&app, Route::Dataset, async {
        let Path(name) = path.map_err(path_error)?;
        let e = entry(&app, &name)?;
        json(&describe(&name, &e))
    })
    .await
}

async fn user_recommendations(
    State(app): State<Arc<App>>,
    path: Result<Path<(String, String)>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    timed(&app, Route::UserRecommendations, async {
        let Path((name, user)) = path.map_err(path_error)?;
        let e = entry(&app, &name)?;
        let m = &e.model;
        let options = parse_list_query(query.as_deref(), true)?;
        let u = user_index(m, &user)?;
        let list = m.recommend_user(u, options.n, &filters(m, &options)?);
        json(&Recommendations {
            model: m.provenance.model.to_hex(),
            dataset: &name,
            user: Some(&user),
            items: items_out(m, &list),
            unknown_items: Vec::new(),
        })
    })
    .await
}

fn fold_in_error(e: FoldInError) -> ApiError {
    match e {
        FoldInError::EmptyHistory => ApiError::unprocessable("empty_history", e.to_string()),
        FoldInError::InvalidValue { .. } => ApiError::unprocessable("invalid_value", e.to_string()),
        FoldInError::Numerical(_) => ApiError::unprocessable("solve_failed", e.to_string()),
        other => ApiError::new(500, "internal", other.to_string()),
    }
}

async fn fold_in(
    State(app): State<Arc<App>>,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let limit = app.body_limit;
    timed(&app, Route::FoldIn, async {
        let Path(name) = path.map_err(path_error)?;
        let body = body.map_err(|e| body_error(e, limit))?;
        let e = entry(&app, &name)?;
        let m = &e.model;
        let req = parse_fold_in(&body)?;
        let user = req.user.as_deref().map(|u| user_index(m, u)).transpose()?;
        let mut history = Vec::with_capacity(req.history.len());
        let mut unknown = Vec::new();
        for (raw, value) in &req.history {
            match m.items.get(raw) {
                Some(i) => history.push((i, *value)),
                None => unknown.push(raw.as_str()),
            }
        }
        if history.is_empty() && user.is_none() {
            let shown: Vec<String> = unknown.iter().take(10).map(|u| format!("'{u}'")).collect();
            return Err(ApiError::unprocessable(
                "no_known_items",
                format!(
                    "none of the history's {} items is known to dataset '{name}' (model {}): {}{}",
                    unknown.len(),
                    m.provenance.model.short(),
                    shown.join(", "),
                    if unknown.len() > 10 { ", …" } else { "" }
                ),
            ));
        }
        let list = m
            .recommend_history(&history, user, req.options.n, &filters(m, &req.options)?)
            .map_err(fold_in_error)?;
        json(&Recommendations {
            model: m.provenance.model.to_hex(),
            dataset: &name,
            user: req.user.as_deref(),
            items: items_out(m, &list),
            unknown_items: unknown,
        })
    })
    .await
}

/// One user's list in a batch answer.
#[derive(Serialize)]
struct BatchItem<'a> {
    user: &'a str,
    items: Vec<ItemOut<'a>>,
}

async fn batch(
    State(app): State<Arc<App>>,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let limit = app.body_limit;
    timed(&app, Route::Batch, async {
        let Path(name) = path.map_err(path_error)?;
        let body = body.map_err(|e| body_error(e, limit))?;
        let e = entry(&app, &name)?;
        let req = parse_batch(&body)?;
        let users = req
            .users
            .iter()
            .map(|u| user_index(&e.model, u))
            .collect::<Result<Vec<u32>, _>>()?;
        let f = filters(&e.model, &req.options)?;
        // Up to a thousand lists: off the async workers, which keep answering the
        // single requests meanwhile.
        let task = tokio::task::spawn_blocking(move || {
            let m = &e.model;
            let lists: Vec<Vec<(u32, f32)>> = users
                .iter()
                .map(|&u| m.recommend_user(u, req.options.n, &f))
                .collect();
            let results: Vec<BatchItem> = req
                .users
                .iter()
                .zip(&lists)
                .map(|(u, l)| BatchItem {
                    user: u,
                    items: items_out(m, l),
                })
                .collect();
            json(&serde_json::json!({
                "model": m.provenance.model.to_hex(),
                "dataset": name,
                "results": results,
            }))
        });
        task.await
            .map_err(|e| ApiError::new(500, "internal", format!("the batch task failed: {e}")))?
    })
    .await
}

async fn similar(
    State(app): State<Arc<App>>,
    path: Result<Path<(String, String)>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    timed(&app, Route::Similar, async {
        let Path((name, item)) = path.map_err(path_error)?;
        let e = entry(&app, &name)?;
        let m = &e.model;
        let options = parse_list_query(query.as_deref(), false)?;
        let i = item_indices(m, std::slice::from_ref(&item), "path")?[0];
        if !m.in_catalog(i) {
            return Err(ApiError::unprocessable(
                "no_factors",
                format!("item '{item}' has no training interactions in dataset '{name}', so no factors to compare"),
            ));
        }
        let list = m.similar(i, options.n, &filters(m, &options)?);
        json(&serde_json::json!({
            "model": m.provenance.model.to_hex(),
            "dataset": name,
            "item": item,
            "title": m.items.title(i),
            "items": items_out(m, &list),
        }))
    })
    .await
}

async fn no_route(State(app): State<Arc<App>>, method: Method, uri: Uri) -> Response {
    timed(&app, Route::Unmatched, async move {
        Err(ApiError::not_found(
            "no_route",
            format!("no route {method} {}; see GET /v1/datasets", uri.path()),
        ))
    })
    .await
}

async fn wrong_method(State(app): State<Arc<App>>, method: Method, uri: Uri) -> Response {
    timed(&app, Route::Unmatched, async move {
        Err(ApiError::new(
            405,
            "method_not_allowed",
            format!("{} does not answer {method}", uri.path()),
        ))
    })
    .await
}

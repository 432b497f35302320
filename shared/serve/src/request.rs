//! Parsing and checking requests, separate from HTTP so it can be fuzzed: query
//! strings of the GET routes and JSON bodies of the POST routes become typed
//! requests, or an [`ApiError`] that names the parameter or field.
//!
//! Ids are raw ids as in the source data; in JSON they may be strings or integers
//! (MovieLens ids are numbers), and are compared as text.

use crate::error::ApiError;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// The longest list a request may ask for.
pub const MAX_N: usize = 1000;
/// The list length when `n` is not given.
pub const DEFAULT_N: usize = 10;
/// The most users one batch request may name.
pub const MAX_BATCH_USERS: usize = 1000;
/// The most entries a fold-in history may have.
pub const MAX_HISTORY: usize = 100_000;

/// Options of a list: length and filters, as raw ids.
#[derive(Clone, Debug, PartialEq)]
pub struct ListOptions {
    /// Length of the list (1..=[`MAX_N`]).
    pub n: usize,
    /// Leave out items the user has seen (default true).
    pub exclude_seen: bool,
    /// Items to leave out.
    pub exclude: Vec<String>,
    /// When given, rank only these items.
    pub candidates: Option<Vec<String>>,
}

impl Default for ListOptions {
    fn default() -> Self {
        ListOptions {
            n: DEFAULT_N,
            exclude_seen: true,
            exclude: Vec::new(),
            candidates: None,
        }
    }
}

/// Parse the query string of a list route: `n`, `exclude_seen` (only where
/// `exclude_seen_allowed`), `exclude` and `candidates` (comma-separated ids, or the
/// parameter repeated). Unknown, repeated scalar and malformed parameters are errors.
pub fn parse_list_query(
    query: Option<&str>,
    exclude_seen_allowed: bool,
) -> Result<ListOptions, ApiError> {
    let mut out = ListOptions::default();
    let (mut saw_n, mut saw_exclude_seen) = (false, false);
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "n" => {
                if std::mem::replace(&mut saw_n, true) {
                    return Err(ApiError::bad_request("query parameter 'n' is given twice"));
                }
                out.n = parse_n(&value)?;
            }
            "exclude_seen" if exclude_seen_allowed => {
                if std::mem::replace(&mut saw_exclude_seen, true) {
                    return Err(ApiError::bad_request(
                        "query parameter 'exclude_seen' is given twice",
                    ));
                }
                out.exclude_seen = match value.as_ref() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    other => {
                        return Err(ApiError::bad_request(format!(
                            "query parameter 'exclude_seen' must be true or false, not '{other}'"
                        )))
                    }
                };
            }
            "exclude" => out.exclude.extend(split_ids(&value)),
            "candidates" => out
                .candidates
                .get_or_insert_with(Vec::new)
                .extend(split_ids(&value)),
            other => {
                let expected = if exclude_seen_allowed {
                    "n, exclude_seen, exclude, candidates"
                } else {
                    "n, exclude, candidates"
                };
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter '{other}' (expected {expected})"
                )));
            }
        }
    }
    Ok(out)
}

/// Comma-separated ids, empty pieces dropped.
fn split_ids(value: &str) -> impl Iterator<Item = String> + '_ {
    value
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn parse_n(value: &str) -> Result<usize, ApiError> {
    let n: i64 = value.trim().parse().map_err(|_| {
        ApiError::bad_request(format!(
            "query parameter 'n' must be an integer, not '{value}'"
        ))
    })?;
    check_n(n)
}

/// `n` must be in 1..=[`MAX_N`].
pub fn check_n(n: i64) -> Result<usize, ApiError> {
    if !(1..=MAX_N as i64).contains(&n) {
        return Err(ApiError::bad_request(format!(
            "n = {n} is out of range: give 1 to {MAX_N}"
        )));
    }
    Ok(n as usize)
}

/// A raw id in JSON: a string, or an integer written as its decimal text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawId(pub String);

impl<'de> Deserialize<'de> for RawId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RawIdVisitor;
        impl Visitor<'_> for RawIdVisitor {
            type Value = RawId;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an id (a string or an integer)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawId, E> {
                Ok(RawId(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawId, E> {
                Ok(RawId(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawId, E> {
                Ok(RawId(v.to_string()))
            }
        }
        d.deserialize_any(RawIdVisitor)
    }
}

/// One history entry of a fold-in request.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HistoryEntryBody {
    /// The item's raw id.
    pub item: RawId,
    /// The interaction value (default 1: "interacted").
    #[serde(default = "one")]
    pub value: f64,
}

fn one() -> f64 {
    1.0
}

/// The body of `POST /v1/datasets/{dataset}/recommendations`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FoldInBody {
    /// The user's interactions.
    pub history: Vec<HistoryEntryBody>,
    /// Length of the list.
    pub n: Option<i64>,
    /// A known user whose training history the history adds to.
    pub user: Option<RawId>,
    /// Leave out the history's items (and the known user's), default true.
    pub exclude_seen: Option<bool>,
    /// Items to leave out.
    pub exclude: Option<Vec<RawId>>,
    /// When given, rank only these items.
    pub candidates: Option<Vec<RawId>>,
}

/// The body of `POST /v1/datasets/{dataset}/recommendations/batch`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BatchBody {
    /// Known users' raw ids.
    pub users: Vec<RawId>,
    /// Length of each list.
    pub n: Option<i64>,
    /// Leave out each user's training items, default true.
    pub exclude_seen: Option<bool>,
    /// Items to leave out of every list.
    pub exclude: Option<Vec<RawId>>,
    /// When given, rank only these items.
    pub candidates: Option<Vec<RawId>>,
}

/// A checked fold-in request: values finite and not negative, as f32.
#[derive(Clone, Debug, PartialEq)]
pub struct FoldInRequest {
    /// (raw item id, value) in the order given.
    pub history: Vec<(String, f32)>,
    /// The known user, if named.
    pub user: Option<String>,
    /// Length and filters.
    pub options: ListOptions,
}

/// A checked batch request.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchRequest {
    /// Raw user ids, in the order given.
    pub users: Vec<String>,
    /// Length and filters.
    pub options: ListOptions,
}

/// Decode a JSON body, mapping serde's message (which names the field, line and
/// column) to a 400.
fn decode<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "the request body is empty: send a JSON object",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON body: {e}")))
}

fn options(
    n: Option<i64>,
    exclude_seen: Option<bool>,
    exclude: Option<Vec<RawId>>,
    candidates: Option<Vec<RawId>>,
) -> Result<ListOptions, ApiError> {
    let ids = |v: Vec<RawId>| v.into_iter().map(|r| r.0).collect::<Vec<_>>();
    Ok(ListOptions {
        n: n.map(check_n).transpose()?.unwrap_or(DEFAULT_N),
        exclude_seen: exclude_seen.unwrap_or(true),
        exclude: exclude.map(ids).unwrap_or_default(),
        candidates: candidates.map(ids),
    })
}

/// Parse and check a fold-in body.
pub fn parse_fold_in(body: &[u8]) -> Result<FoldInRequest, ApiError> {
    let b: FoldInBody = decode(body)?;
    if b.history.is_empty() && b.user.is_none() {
        return Err(ApiError::unprocessable(
            "empty_history",
            "'history' is empty: give at least one {\"item\": …, \"value\": …}",
        ));
    }
    if b.history.len() > MAX_HISTORY {
        return Err(ApiError::bad_request(format!(
            "'history' has {} entries; the limit is {MAX_HISTORY}",
            b.history.len()
        )));
    }
    let mut history = Vec::with_capacity(b.history.len());
    for (position, e) in b.history.into_iter().enumerate() {
        let v = e.value;
        let invalid = |why: &str| {
            ApiError::unprocessable(
                "invalid_value",
                format!("history[{position}] (item '{}'): value {v} {why}", e.item.0),
            )
        };
        if !v.is_finite() {
            return Err(invalid("is not finite"));
        }
        if v < 0.0 {
            return Err(invalid(
                "is negative: values are interaction strengths (≥ 0)",
            ));
        }
        let v32 = v as f32;
        if !v32.is_finite() {
            return Err(invalid("is too large for a 32-bit float"));
        }
        history.push((e.item.0, v32));
    }
    Ok(FoldInRequest {
        history,
        user: b.user.map(|u| u.0),
        options: options(b.n, b.exclude_seen, b.exclude, b.candidates)?,
    })
}

/// Parse and check a batch body.
pub fn parse_batch(body: &[u8]) -> Result<BatchRequest, ApiError> {
    let b: BatchBody = decode(body)?;
    if b.users.is_empty() {
        return Err(ApiError::bad_request(
            "'users' is empty: name at least one user",
        ));
    }
    if b.users.len() > MAX_BATCH_USERS {
        return Err(ApiError::bad_request(format!(
            "'users' has {} entries; the limit is {MAX_BATCH_USERS} per request",
            b.users.len()
        )));
    }
    Ok(BatchRequest {
        users: b.users.into_iter().map(|u| u.0).collect(),
        options: options(b.n, b.exclude_seen, b.exclude, b.candidates)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn list_queries_parse_and_name_what_is_wrong() {
        let o = parse_list_query(
            Some("n=5&exclude=a,b&exclude=c&candidates=x&exclude_seen=false"),
            true,
        )
        .unwrap();
        assert_eq!(o.n, 5);
        assert_eq!(o.exclude, ["a", "b", "c"]);
        assert_eq!(o.candidates, Some(vec!["x".to_string()]));
        assert!(!o.exclude_seen);
        assert_eq!(
            parse_list_query(None, true).unwrap(),
            ListOptions::default()
        );
        let err = |q: &str, seen: bool| parse_list_query(Some(q), seen).unwrap_err();
        assert!(err("n=0", true).message.contains("n = 0 is out of range"));
        assert!(err("n=1001", true).message.contains("out of range"));
        assert!(err("n=ten", true)
            .message
            .contains("'n' must be an integer"));
        assert!(err("n=1&n=2", true).message.contains("given twice"));
        assert!(err("nn=1", true)
            .message
            .contains("unknown query parameter 'nn'"));
        assert!(err("exclude_seen=yes", true)
            .message
            .contains("true or false"));
        assert!(err("exclude_seen=true", false)
            .message
            .contains("unknown query parameter"));
        // Percent-encoded ids decode.
        assert_eq!(
            parse_list_query(Some("exclude=a%2Cb%20c"), true)
                .unwrap()
                .exclude,
            ["a", "b c"]
        );
    }

    #[test]
    fn bodies_are_checked_field_by_field() {
        let ok = parse_fold_in(
            br#"{"history": [{"item": 1}, {"item": "x", "value": 2.5}], "n": 3, "user": 7}"#,
        )
        .unwrap();
        assert_eq!(ok.history, [("1".to_string(), 1.0), ("x".to_string(), 2.5)]);
        assert_eq!(ok.user.as_deref(), Some("7"));
        assert_eq!(ok.options.n, 3);
        let status = |b: &[u8]| parse_fold_in(b).unwrap_err();
        assert_eq!(status(b"").status, 400);
        assert_eq!(status(b"{").status, 400);
        assert!(status(br#"{"history": [], "m": 1}"#)
            .message
            .contains("unknown field `m`"));
        assert!(status(br#"{"history": [{"item": "a", "valu": 1}]}"#)
            .message
            .contains("unknown field `valu`"));
        assert_eq!(status(br#"{"history": []}"#).code, "empty_history");
        let neg = status(br#"{"history": [{"item": "a", "value": -1}]}"#);
        assert_eq!((neg.status, neg.code), (422, "invalid_value"));
        assert!(neg.message.contains("history[0] (item 'a')"));
        assert_eq!(
            status(br#"{"history": [{"item": "a", "value": NaN}]}"#).status,
            400
        );
        assert_eq!(
            status(br#"{"history": [{"item": "a", "value": 1e300}]}"#).status,
            422
        );
        assert!(status(br#"{"history": [{"item": "a"}], "n": 0}"#)
            .message
            .contains("n = 0"));
        assert_eq!(status(br#"{"history": [{"item": 1.5}]}"#).status, 400);
        let b = parse_batch(br#"{"users": ["1", 2], "n": 2, "exclude_seen": false}"#).unwrap();
        assert_eq!(b.users, ["1", "2"]);
        assert!(!b.options.exclude_seen);
        assert!(parse_batch(br#"{"users": []}"#)
            .unwrap_err()
            .message
            .contains("empty"));
        assert!(parse_batch(br#"{"users": ["1"], "extra": 1}"#)
            .unwrap_err()
            .message
            .contains("unknown field"));
    }

    /// What any parse result must look like: a checked request, or a refusal with a
    /// client-error status and a message.
    fn well_formed_outcome<T>(r: Result<T, ApiError>) -> bool {
        match r {
            Ok(_) => true,
            Err(e) => [400, 413, 422].contains(&e.status) && !e.message.is_empty(),
        }
    }

    /// JSON-ish text built from fragments the parsers care about.
    fn jsonish() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("{".to_string()),
            Just("}".to_string()),
            Just("[".to_string()),
            Just("]".to_string()),
            Just(",".to_string()),
            Just(":".to_string()),
            Just("\"history\"".to_string()),
            Just("\"users\"".to_string()),
            Just("\"item\"".to_string()),
            Just("\"value\"".to_string()),
            Just("\"n\"".to_string()),
            Just("\"user\"".to_string()),
            Just("\"exclude\"".to_string()),
            Just("\"candidates\"".to_string()),
            Just("\"exclude_seen\"".to_string()),
            Just("true".to_string()),
            Just("null".to_string()),
            Just("-1".to_string()),
            Just("1e309".to_string()),
            Just("\"\\u0000\"".to_string()),
            any::<i64>().prop_map(|v| v.to_string()),
            any::<f64>().prop_map(|v| v.to_string()),
            "[a-z0-9\"\\\\]{0,6}",
        ];
        proptest::collection::vec(piece, 0..40).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300), query in ".{0,80}") {
            prop_assert!(well_formed_outcome(parse_fold_in(&body)));
            prop_assert!(well_formed_outcome(parse_batch(&body)));
            prop_assert!(well_formed_outcome(parse_list_query(Some(&query), true)));
        }

        #[test]
        fn json_like_bodies_parse_or_are_refused_cleanly(body in jsonish()) {
            let fold_in = parse_fold_in(body.as_bytes());
            prop_assert!(well_formed_outcome(fold_in.clone()));
            if let Ok(r) = fold_in {
                prop_assert!((1..=MAX_N).contains(&r.options.n));
                prop_assert!(r.history.iter().all(|h| h.1.is_finite() && h.1 >= 0.0));
            }
            prop_assert!(well_formed_outcome(parse_batch(body.as_bytes())));
        }

        #[test]
        fn valid_requests_round_trip(
            items in proptest::collection::vec(("[a-z0-9]{1,8}", 0f64..1e6), 1..20),
            n in 1usize..=MAX_N,
        ) {
            let history: Vec<serde_json::Value> = items.iter()
                .map(|(i, v)| serde_json::json!({"item": i, "value": v})).collect();
            let body = serde_json::json!({"history": history, "n": n}).to_string();
            let r = parse_fold_in(body.as_bytes()).unwrap();
            prop_assert_eq!(r.options.n, n);
            prop_assert_eq!(r.history.len(), items.len());
            for ((got, v), (want, w)) in r.history.iter().zip(&items) {
                prop_assert_eq!(got, want);
                prop_assert_eq!(*v, *w as f32);
            }
        }
    }
}

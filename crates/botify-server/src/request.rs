//! Request parsing and validation: each way a `next`/`last` request can be wrong gets its own
//! message, on a fast path that allocates nothing for a well-formed request.

use crate::response::ApiError;
use axum::body::Bytes;
use axum::extract::Path;
use axum::extract::rejection::PathRejection;
use axum::http::{StatusCode, header};
use botify_core::{Catalog, TrackId, UserId};
use serde_json::Value;
use std::time::Duration;

/// Request bodies are two numbers; anything bigger is refused.
pub const MAX_BODY: usize = 1024;

/// The path segment, or a JSON 400 when it is not valid UTF-8 once percent-decoded (`%ff`).
pub(crate) fn segment(
    p: std::result::Result<Path<String>, PathRejection>,
    what: &str,
) -> std::result::Result<String, ApiError> {
    p.map(|Path(s)| s).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("{what} must be a non-negative integer; the path is not valid: {e}"),
        )
    })
}

/// The request's Content-Type, without cloning the whole header map.
pub(crate) struct JsonContentType(Option<axum::http::HeaderValue>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for JsonContentType {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> std::result::Result<Self, Self::Rejection> {
        Ok(JsonContentType(
            parts.headers.get(header::CONTENT_TYPE).cloned(),
        ))
    }
}

pub(crate) fn parse_user(raw: &str) -> std::result::Result<UserId, ApiError> {
    // Digits only, without leading zeros: `+5` and `007` are not the user ids 5 and 7 (the
    // course's clients send str(int), and murmur3 assigns by that exact text).
    let canonical = !raw.is_empty()
        && raw.bytes().all(|b| b.is_ascii_digit())
        && (raw.len() == 1 || !raw.starts_with('0'));
    if !canonical {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "user must be a non-negative integer written without sign or leading zeros, got {raw:?}"
            ),
        ));
    }
    match raw.parse::<u64>() {
        Ok(u) => u32::try_from(u).map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("user {u} is out of range (0..={})", u32::MAX),
            )
        }),
        Err(_) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("user must be a non-negative integer, got {raw:?}"),
        )),
    }
}

/// The request must say its body is JSON: `application/json; charset=utf-8` yes,
/// `application/jsonx` no.
pub(crate) fn check_json(headers: &JsonContentType) -> std::result::Result<(), ApiError> {
    let ct = headers
        .0
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = ct.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case("application/json") {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!(
            "Content-Type must be application/json, got {:?}",
            if ct.is_empty() { "nothing" } else { ct }
        ),
    ))
}

/// The body, at most `MAX_BODY` bytes, received within `timeout`: a client that stalls
/// mid-body gets a 408 instead of holding its connection.
pub(crate) async fn read_body(
    body: axum::body::Body,
    timeout: Duration,
) -> std::result::Result<Bytes, ApiError> {
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, MAX_BODY)).await {
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("the request body did not arrive within {timeout:?}"),
        )),
        Ok(Err(e)) => {
            let too_big = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            Err(if too_big {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("request body is larger than {MAX_BODY} bytes"),
                )
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("cannot read the request body: {e}"),
                )
            })
        }
        Ok(Ok(b)) => Ok(b),
    }
}

/// Validates a `{"track": int, "time": float}` body: every problem gets its own message.
pub(crate) fn parse_listen(
    body: &[u8],
    catalog: &Catalog,
) -> std::result::Result<(TrackId, f32), ApiError> {
    // Fast path: a well-formed body parses without allocating; anything else is diagnosed below.
    // Only an object: serde would also read the struct from an array such as `[10, 0.3]`.
    let is_object = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let bad = |m: String| Err(ApiError::new(StatusCode::BAD_REQUEST, m));
    if is_object {
        match serde_json::from_slice::<Body>(body) {
            Ok(b) => return validate(b.track, b.time, catalog),
            // A parsed map would keep the last of `{"track": 1, "track": 2}`: refuse instead.
            Err(e) if e.to_string().starts_with("duplicate field") => {
                return bad(format!(
                    "{e}: the body has \"track\" and \"time\" once each"
                ));
            }
            Err(_) => {}
        }
    }
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return bad(format!(
                "body is not valid JSON ({e}); expected {{\"track\": int, \"time\": float}}"
            ));
        }
    };
    let Value::Object(map) = value else {
        return bad("body must be a JSON object {\"track\": int, \"time\": float}".into());
    };
    if let Some(k) = map.keys().find(|k| *k != "track" && *k != "time") {
        return bad(format!(
            "unknown field {k:?}: the body has exactly \"track\" and \"time\""
        ));
    }
    let track = match map.get("track") {
        None => return bad("missing field \"track\"".into()),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(t) => t,
            None => {
                return bad(format!(
                    "field \"track\" must be a non-negative integer, got {n}"
                ));
            }
        },
        Some(v) => return bad(format!("field \"track\" must be an integer, got {v}")),
    };
    let time = match map.get("time") {
        None => return bad("missing field \"time\"".into()),
        Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
        Some(v) => return bad(format!("field \"time\" must be a number, got {v}")),
    };
    validate(track, time, catalog)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Body {
    track: u64,
    time: f64,
}

pub(crate) fn validate(
    track: u64,
    time: f64,
    catalog: &Catalog,
) -> std::result::Result<(TrackId, f32), ApiError> {
    if !(0.0..=1.0).contains(&time) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("field \"time\" must be in [0, 1], got {time}"),
        ));
    }
    if !catalog.contains(track) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "track {track} is not in the catalogue (0..{})",
                catalog.len()
            ),
        ));
    }
    Ok((track as TrackId, time as f32))
}

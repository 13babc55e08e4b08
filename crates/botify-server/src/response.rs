//! The JSON answers every endpoint shares: `{"error", "status"}` errors and JSON bodies.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The body of every error answer: `{"error": message, "status": code}`.
pub(crate) fn error_body(status: u16, message: &str) -> String {
    json!({ "error": message, "status": status }).to_string()
}

/// A JSON error answer `{"error": message, "status": code}`.
pub fn json_error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        error_body(status.as_u16(), &message.into()),
    )
        .into_response()
}

/// A rejected request: its status and what was wrong.
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_error(self.status, self.message)
    }
}

pub(crate) fn json_response(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The JSON 405 of every router: the method used, the path, and the one to use.
pub fn wrong_method(method: &axum::http::Method, path: &str, allowed: &str) -> Response {
    json_error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {path}: use {allowed}"),
    )
}

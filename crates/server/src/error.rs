//! What the API answers when a call fails: a status and a JSON body that says why, naming the
//! parameter (`field`) or the position in a query (`position`) at fault.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use store::StoreError;

/// A failed call.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// Why, in words.
    pub message: String,
    /// The parameter or body field at fault.
    pub field: Option<String>,
    /// The position (in characters) in a query string at fault.
    pub position: Option<usize>,
}

/// The JSON body of a failure (its schema is the OpenAPI document's `Error`).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct Body<'a> {
    /// Why, in words.
    pub error: &'a str,
    /// The parameter or body field at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'a str>,
    /// The position (in characters) in a query at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            field: None,
            position: None,
        }
    }

    /// 400: a parameter or field is wrong.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ApiError {
            field: Some(field.to_string()),
            ..ApiError::new(StatusCode::BAD_REQUEST, message)
        }
    }

    /// 400: a search that does not parse, at its position in parameter or field `field`.
    pub fn search(field: &str, e: store::search::SearchError) -> Self {
        ApiError {
            field: Some(field.to_string()),
            position: Some(e.position),
            ..ApiError::new(StatusCode::BAD_REQUEST, format!("{field}: {e}"))
        }
    }

    /// 400 without a single field at fault.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401: no credentials, or ones that are not valid.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, message)
    }

    /// 403: valid credentials that may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    /// 409: contradicts what is stored.
    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::CONFLICT, message)
    }

    /// 503: the store is not reachable, or the server is too busy to serve this now.
    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }

    /// 500: our fault.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::NotFound(_) => ApiError::not_found(e.to_string()),
            StoreError::Conflict(_) | StoreError::Duplicate { .. } => {
                ApiError::conflict(e.to_string())
            }
            StoreError::Forbidden(_) => ApiError::forbidden(e.to_string()),
            StoreError::Invalid(_) => ApiError::bad_request(e.to_string()),
            _ if e.connection_lost() => ApiError::unavailable(e.to_string()),
            _ => ApiError::internal(e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: &self.message,
            field: self.field.as_deref(),
            position: self.position,
        };
        (self.status, Json(body)).into_response()
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

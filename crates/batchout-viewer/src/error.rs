//! What a request that fails answers: a status that says whose fault it is,
//! and a JSON body `{"error": "…"}` that says what went wrong. Messages come
//! from the store's and the conventions' errors, which never hold a secret.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use batchout::{NamingError, StoreError};

/// Why the viewer could not answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ViewerError {
    /// A name in the URL that the conventions refuse (an id, a kind, a path).
    #[error(transparent)]
    Naming(#[from] NamingError),
    /// The store failed, or has no such job or output.
    #[error(transparent)]
    Outputs(#[from] batchout::Error),
    /// A query parameter that cannot be used.
    #[error("{0}")]
    BadRequest(String),
    /// The request did not carry the token the viewer was started with.
    #[error("this viewer needs its token: give it as ?token=, or as Authorization: Bearer")]
    Unauthorized,
}

impl From<StoreError> for ViewerError {
    fn from(error: StoreError) -> Self {
        Self::Outputs(error.into())
    }
}

impl ViewerError {
    /// The status a client should see.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Naming(_) | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Outputs(e) if e.is_not_found() => StatusCode::NOT_FOUND,
            Self::Outputs(e) if e.is_invalid_input() => StatusCode::BAD_REQUEST,
            Self::Outputs(batchout::Error::Store(e)) => match e {
                StoreError::InvalidRange { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
                StoreError::Modified { .. } => StatusCode::PRECONDITION_FAILED,
                StoreError::Denied { .. } => StatusCode::FORBIDDEN,
                StoreError::InvalidName { .. } => StatusCode::BAD_REQUEST,
                _ => StatusCode::BAD_GATEWAY,
            },
            Self::Outputs(_) => StatusCode::BAD_GATEWAY,
        }
    }
}

impl IntoResponse for ViewerError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            Self::Outputs(e) => e.described(),
            other => other.to_string(),
        };
        if status.is_server_error() {
            tracing::warn!(%status, error = %message, "the viewer could not answer");
        }
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

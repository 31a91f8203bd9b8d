//! A request for a page that fails answers with a page: the status, and
//! what went wrong in words (the same words as the API's `{"error": …}`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::html::{Esc, page};
use crate::ViewerError;

/// A page's failure.
#[derive(Debug)]
pub(crate) struct PageError(pub(crate) ViewerError);

impl<E: Into<ViewerError>> From<E> for PageError {
    fn from(error: E) -> Self {
        Self(error.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let message = match &self.0 {
            ViewerError::Outputs(e) => e.described(),
            other => other.to_string(),
        };
        if status.is_server_error() {
            tracing::warn!(%status, error = %message, "the viewer could not show a page");
        }
        let reason = status.canonical_reason().unwrap_or("Error");
        let body = format!(
            "<h1>{} {}</h1><p class=\"error\">{}</p><p><a href=\"/\">All jobs</a></p>",
            status.as_u16(),
            Esc(reason),
            Esc(&message)
        );
        let mut response = page(reason, &[], &body).into_response();
        *response.status_mut() = status;
        if status == StatusCode::UNAUTHORIZED {
            return ViewerError::Unauthorized.into_response();
        }
        response
    }
}

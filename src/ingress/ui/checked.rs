//! A POSTed form whose CSRF token is the page's: the extractor every action that changes or
//! sends something takes, so that none can forget the check, and each refuses the same way.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Form, FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{csrf_ok, view};
use crate::ingress::AppState;

/// The form's fields, once its `csrf` field has been checked.
pub(super) struct Checked(pub BTreeMap<String, String>);

impl FromRequest<Arc<AppState>> for Checked {
    type Rejection = Response;

    async fn from_request(req: Request, app: &Arc<AppState>) -> Result<Self, Response> {
        let Form(form) = Form::<BTreeMap<String, String>>::from_request(req, app)
            .await
            .map_err(IntoResponse::into_response)?;
        match form.get("csrf").is_some_and(|t| csrf_ok(app, t)) {
            true => Ok(Checked(form)),
            false => Err(view::refused(
                StatusCode::FORBIDDEN,
                "Refused: the form's token is missing or stale. Go back, reload the page and try again.",
            )),
        }
    }
}

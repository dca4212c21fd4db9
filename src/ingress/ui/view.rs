//! The pages' templates (in `templates/`, compiled into the binary) and how a page becomes a
//! response. Handlebars escapes every value for HTML: CRM data is shown as text, never run.

use std::sync::OnceLock;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use handlebars::Handlebars;
use serde_json::{Value, json};

use crate::store::Millis;

const TEMPLATES: &[(&str, &str)] = &[
    ("layout", include_str!("templates/layout.hbs")),
    ("message", include_str!("templates/message.hbs")),
    ("login", include_str!("templates/login.hbs")),
    ("overview", include_str!("templates/overview.hbs")),
    ("events", include_str!("templates/events.hbs")),
    ("event", include_str!("templates/event.hbs")),
    ("deliveries", include_str!("templates/deliveries.hbs")),
    ("confirm", include_str!("templates/confirm.hbs")),
    ("rules", include_str!("templates/rules.hbs")),
    ("sent", include_str!("templates/sent.hbs")),
    ("try", include_str!("templates/try.hbs")),
];

fn registry() -> &'static Handlebars<'static> {
    static REGISTRY: OnceLock<Handlebars<'static>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut hb = Handlebars::new();
        hb.register_helper("url", Box::new(url_part));
        for (name, text) in TEMPLATES {
            hb.register_template_string(name, *text)
                .expect("the status page's templates compile");
        }
        hb
    })
}

/// `{{url event_id}}`: a value percent-encoded for one path segment or query value, so that an
/// EventId with `/`, `?` or `#` opens its own page.
fn url_part(
    h: &handlebars::Helper<'_>,
    _: &Handlebars<'_>,
    _: &handlebars::Context,
    _: &mut handlebars::RenderContext<'_, '_>,
    out: &mut dyn handlebars::Output,
) -> handlebars::HelperResult {
    let value = match h.param(0).map(|p| p.value()) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    out.write(&url_encoded(&value))?;
    Ok(())
}

/// A value percent-encoded for one path segment or query value.
pub(super) fn url_encoded(value: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
    encoded.replace('+', "%20")
}

/// The template `name` with `data`, as HTML.
pub(super) fn render(name: &str, data: &Value) -> Result<String, handlebars::RenderError> {
    registry().render(name, data)
}

/// A page: the template `name` with `data`, as HTML.
pub(super) fn page(name: &str, data: &Value) -> Response {
    match render(name, data) {
        Ok(html) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(page = name, error = %e, "cannot render a status page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot render this page\n",
            )
                .into_response()
        }
    }
}

/// A page that says why a request was refused, with the status.
pub(super) fn refused(status: StatusCode, message: &str) -> Response {
    let data = json!({ "title": "Not allowed", "message": message, "login": status == StatusCode::FORBIDDEN });
    let mut response = page("message", &data);
    *response.status_mut() = status;
    response
}

/// A time for people: `2026-11-29 20:53:17 UTC`.
pub(super) fn time(ms: Millis) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// A duration for people: `3h 12m`, `45s`.
pub(super) fn span(seconds: i64) -> String {
    match seconds {
        s if s >= 86_400 => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
        s if s >= 3600 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m {}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

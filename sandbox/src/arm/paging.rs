//! APIM's list answers: `{value, count, nextLink}` pages of at most [`PAGE_SIZE`] items honouring
//! `$top` and `$skip`.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::{API_VERSION, Req, json_response};

/// Items per page of list answers; small so clients must follow `nextLink`.
pub const PAGE_SIZE: usize = 10;

/// One page of `items` honouring `$top`/`$skip`, with a `nextLink` that continues it.
pub fn page(req: &Req, items: Vec<Value>, path: &str) -> Response {
    page_of(req, &items, Value::clone, path)
}

/// A page of `items`, rendering only the ones shown (an operations list is read page by page,
/// and rendering all of them for each page made reading a list quadratic).
pub fn page_of<T>(req: &Req, items: &[T], render: impl Fn(&T) -> Value, path: &str) -> Response {
    let total = items.len();
    let skip = req
        .q("$skip")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(0);
    let top = req.q("$top").and_then(|s| s.parse::<usize>().ok());
    let take = top.unwrap_or(usize::MAX).min(PAGE_SIZE);
    let value: Vec<Value> = items.iter().skip(skip).take(take).map(render).collect();
    let shown = value.len();
    let remaining_wanted = top.map(|t| t.saturating_sub(shown));
    let more = skip + shown < total && remaining_wanted != Some(0);
    let next = if more {
        let mut link = format!(
            "{}{}?api-version={API_VERSION}&$skip={}",
            req.arm_url,
            super::util::encode_path(&format!("{}{path}", req.service_id)),
            skip + shown
        );
        if let Some(t) = remaining_wanted {
            link.push_str(&format!("&$top={t}"));
        }
        link
    } else {
        // APIM spells "no further page" as an empty string.
        String::new()
    };
    json_response(
        StatusCode::OK,
        json!({"value": value, "count": total, "nextLink": next}),
        &[],
    )
}

//! `GET .../apis/{apiId}/revisions`: the ApiRevisionContract list (creating a revision is a PUT of
//! `{apiId};rev=N`, in [`super::apis`]).

use axum::response::Response;
use serde_json::{Value, json};

use super::errors::not_found;
use super::paging::page;
use super::state::ApiRef;
use super::{Ctx, Req};

pub fn list_revisions(ctx: &Ctx, req: &Req, api: &ApiRef) -> Response {
    let apim = ctx.lock();
    let Some(a) = apim.visible(&api.name) else {
        return not_found("Api");
    };
    let items = a
        .revisions
        .values()
        .filter(|r| !r.pending)
        .map(|r| {
            let path = r.props.get("path").and_then(Value::as_str).unwrap_or("");
            let mut v = json!({
                "apiId": format!("{}/apis/{};rev={}", req.service_id, a.name, r.number),
                "apiRevision": r.number.to_string(),
                "createdDateTime": r.created,
                "updatedDateTime": r.updated,
                "isOnline": true,
                "isCurrent": r.number == a.current,
            });
            if let Some(d) = r.props.get("apiRevisionDescription") {
                v["description"] = d.clone();
            }
            if r.number != a.current {
                v["privateUrl"] = json!(format!("/{path};rev={}", r.number));
            }
            v
        })
        .collect();
    page(req, items, &format!("/apis/{}/revisions", a.name))
}

//! The map of Microsoft.ApiManagement resources under `.../service/{svc}`: which handler answers
//! which path and method, and the service resource itself.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::errors::{arm_error, json_response, not_found};
use super::policies::Scope;
use super::state::ApiRef;
use super::{
    Ctx, Req, apis, backends, export, lro, named_values, operations, policies, products, releases,
    revisions, version_sets,
};

/// Entry point for everything under `.../service/{svc}`.
pub fn dispatch(ctx: &Ctx, req: &Req) -> Response {
    let rest: Vec<&str> = req.rest.iter().map(String::as_str).collect();
    let m = &req.method;
    if let ["apis", api, ..] = rest.as_slice() {
        let name = api.split(';').next().unwrap_or(api);
        lro::settle_orphans(ctx, name);
    }
    match rest.as_slice() {
        [] if m == Method::GET => service(ctx, req),
        ["apis"] if m == Method::GET => apis::list_apis(ctx, req),
        ["apis", api] => match ApiRef::parse(api) {
            Err(r) => r,
            Ok(api) => match *m {
                Method::GET | Method::HEAD => {
                    if req.q("asyncId").is_some() {
                        lro::poll_location(ctx, req, &api)
                    } else if req.q("export").is_some() {
                        export::export(ctx, req, &api)
                    } else {
                        apis::get_api(ctx, req, &api)
                    }
                }
                Method::PUT => apis::put_api(ctx, req, &api),
                Method::PATCH => apis::patch_api(ctx, req, &api),
                Method::DELETE => apis::delete_api(ctx, req, &api),
                _ => method_not_allowed(),
            },
        },
        ["apis", api, "operations"] if m == Method::GET => {
            with_api(api, |a| operations::list_operations(ctx, req, &a))
        }
        ["apis", api, "operations", op] if m == Method::GET => {
            with_api(api, |a| operations::get_operation(ctx, req, &a, op))
        }
        ["apis", api, "policies"] if m == Method::GET => with_api(api, |a| {
            policies::list(ctx, req, &Scope { api: &a, op: None })
        }),
        ["apis", api, "policies", pid] => with_api(api, |a| {
            let scope = Scope { api: &a, op: None };
            policy(ctx, req, &scope, pid)
        }),
        ["apis", api, "operations", op, "policies"] if m == Method::GET => with_api(api, |a| {
            policies::list(
                ctx,
                req,
                &Scope {
                    api: &a,
                    op: Some(op),
                },
            )
        }),
        ["apis", api, "operations", op, "policies", pid] => with_api(api, |a| {
            let scope = Scope {
                api: &a,
                op: Some(op),
            };
            policy(ctx, req, &scope, pid)
        }),
        ["namedValues"] if m == Method::GET => named_values::list(ctx, req),
        ["namedValues", id] => match *m {
            Method::GET | Method::HEAD => named_values::get(ctx, req, id),
            Method::PUT => named_values::put(ctx, req, id),
            Method::PATCH => named_values::patch(ctx, req, id),
            Method::DELETE => named_values::delete(ctx, req, id),
            _ => method_not_allowed(),
        },
        ["namedValues", id, "listValue"] if m == Method::POST => named_values::list_value(ctx, id),
        ["backends"] if m == Method::GET => backends::list(ctx, req),
        ["backends", id] => match *m {
            Method::GET | Method::HEAD => backends::get(ctx, req, id),
            Method::PUT => backends::put(ctx, req, id),
            Method::DELETE => backends::delete(ctx, req, id),
            _ => method_not_allowed(),
        },
        ["apiVersionSets"] if m == Method::GET => version_sets::list(ctx, req),
        ["apiVersionSets", id] => match *m {
            Method::GET | Method::HEAD => version_sets::get(ctx, req, id),
            Method::PUT => version_sets::put(ctx, req, id),
            Method::DELETE => version_sets::delete(ctx, req, id),
            _ => method_not_allowed(),
        },
        ["apis", api, "revisions"] if m == Method::GET => {
            with_api(api, |a| revisions::list_revisions(ctx, req, &a))
        }
        ["apis", api, "releases"] if m == Method::GET => {
            with_api(api, |a| releases::list_releases(ctx, req, &a))
        }
        ["apis", api, "releases", rid] => with_api(api, |a| match *m {
            Method::GET | Method::HEAD => releases::get_release(ctx, req, &a, rid),
            Method::PUT => releases::put_release(ctx, req, &a, rid),
            Method::DELETE => releases::delete_release(ctx, req, &a, rid),
            _ => method_not_allowed(),
        }),
        ["apis", api, "products"] if m == Method::GET => {
            with_api(api, |a| products::list_api_products(ctx, req, &a))
        }
        ["products"] if m == Method::GET => products::list_products(req),
        ["products", pid] if m == Method::GET => match products::product(pid) {
            Some(p) => json_response(StatusCode::OK, products::product_contract(req, p), &[]),
            None => not_found("Product"),
        },
        ["products", pid, "apis"] if m == Method::GET => products::list_product_apis(ctx, req, pid),
        ["products", pid, "apis", api] => with_api(api, |a| match *m {
            Method::PUT => products::link_product(ctx, req, pid, &a),
            Method::DELETE => products::unlink_product(ctx, pid, &a),
            Method::GET | Method::HEAD => products::product_link_exists(ctx, pid, &a),
            _ => method_not_allowed(),
        }),
        ["tenant", "operationResults", id] if m == Method::GET => {
            lro::poll_async_operation(ctx, req, id)
        }
        _ => arm_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            "The requested resource is not emulated by apim-sandbox.",
            Some(Value::Null),
        ),
    }
}

fn with_api(api: &str, f: impl FnOnce(ApiRef) -> Response) -> Response {
    match ApiRef::parse(api) {
        Ok(a) => f(a),
        Err(r) => r,
    }
}

fn policy(ctx: &Ctx, req: &Req, scope: &Scope, pid: &str) -> Response {
    match req.method {
        Method::GET | Method::HEAD => policies::get(ctx, req, scope, pid),
        Method::PUT => policies::put(ctx, req, scope, pid),
        Method::DELETE => policies::delete(ctx, req, scope, pid),
        _ => method_not_allowed(),
    }
}

fn method_not_allowed() -> Response {
    arm_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "The requested method is not allowed on this resource.",
        None,
    )
}

fn service(ctx: &Ctx, req: &Req) -> Response {
    let svc = &ctx.shared.identity.apim_service;
    json_response(
        StatusCode::OK,
        json!({
            "id": req.service_id,
            "name": svc,
            "type": "Microsoft.ApiManagement/service",
            "location": "West Europe",
            "sku": {"name": "Developer", "capacity": 1},
            "properties": {
                "provisioningState": "Succeeded",
                "gatewayUrl": format!("https://{svc}.azure-api.net"),
                "managementApiUrl": format!("https://{svc}.management.azure-api.net"),
                "publisherEmail": "apim@example.com",
                "publisherName": "apim-sandbox",
            }
        }),
        &[],
    )
}

//! The two products every new APIM instance has (Starter, Unlimited) and the links between
//! products and APIs.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::apis::contract;
use super::errors::not_found;
use super::paging::page;
use super::state::{ApiRef, find};
use super::{Ctx, Req, json_response};

pub const PRODUCTS: &[(&str, &str, &str)] = &[
    (
        "starter",
        "Starter",
        "Subscribers will be able to run 5 calls/minute up to a maximum of 100 calls/week.",
    ),
    (
        "unlimited",
        "Unlimited",
        "Subscribers have completely unlimited access to the API. Administrator approval is required.",
    ),
];

pub fn product(pid: &str) -> Option<&'static (&'static str, &'static str, &'static str)> {
    PRODUCTS
        .iter()
        .find(|(id, _, _)| id.eq_ignore_ascii_case(pid))
}

pub fn product_contract(req: &Req, p: &(&str, &str, &str)) -> Value {
    json!({
        "id": format!("{}/products/{}", req.service_id, p.0),
        "type": "Microsoft.ApiManagement/service/products",
        "name": p.0,
        "properties": {
            "displayName": p.1,
            "description": p.2,
            "subscriptionRequired": true,
            "approvalRequired": p.0 == "unlimited",
            "subscriptionsLimit": 1,
            "state": "published",
        }
    })
}

pub fn list_products(req: &Req) -> Response {
    let items = PRODUCTS.iter().map(|p| product_contract(req, p)).collect();
    page(req, items, "/products")
}

pub fn list_api_products(ctx: &Ctx, req: &Req, api: &ApiRef) -> Response {
    let apim = ctx.lock();
    if apim.visible(&api.name).is_none() {
        return not_found("Api");
    }
    let items = PRODUCTS
        .iter()
        .filter(|p| {
            apim.products
                .get(p.0)
                .is_some_and(|s| s.contains(&api.name))
        })
        .map(|p| product_contract(req, p))
        .collect();
    page(req, items, &format!("/apis/{}/products", api.name))
}

pub fn list_product_apis(ctx: &Ctx, req: &Req, pid: &str) -> Response {
    let Some(p) = product(pid) else {
        return not_found("Product");
    };
    let apim = ctx.lock();
    let items = apim
        .products
        .get(p.0)
        .map(|names| {
            names
                .iter()
                .filter_map(|n| apim.visible(n))
                .filter_map(|a| {
                    a.revisions
                        .get(&a.current)
                        .map(|r| contract(req, &a.name, a, r, None))
                })
                .collect()
        })
        .unwrap_or_default();
    page(req, items, &format!("/products/{}/apis", p.0))
}

pub fn link_product(ctx: &Ctx, req: &Req, pid: &str, api: &ApiRef) -> Response {
    let Some(p) = product(pid) else {
        return not_found("Product");
    };
    let mut apim = ctx.lock();
    let Some((a, r)) = find(
        &apim,
        &ApiRef {
            name: api.name.clone(),
            rev: None,
        },
    ) else {
        return not_found("Api");
    };
    let body = contract(req, &a.name, a, r, None);
    let created = apim
        .products
        .entry(p.0.to_string())
        .or_default()
        .insert(api.name.clone());
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    json_response(status, body, &[])
}

pub fn unlink_product(ctx: &Ctx, pid: &str, api: &ApiRef) -> Response {
    let Some(p) = product(pid) else {
        return not_found("Product");
    };
    let mut apim = ctx.lock();
    let removed = apim
        .products
        .get_mut(p.0)
        .is_some_and(|s| s.remove(&api.name));
    if removed {
        StatusCode::OK.into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    }
}

pub fn product_link_exists(ctx: &Ctx, pid: &str, api: &ApiRef) -> Response {
    let Some(p) = product(pid) else {
        return not_found("Product");
    };
    let apim = ctx.lock();
    if apim
        .products
        .get(p.0)
        .is_some_and(|s| s.contains(&api.name))
    {
        StatusCode::NO_CONTENT.into_response()
    } else {
        not_found("Api")
    }
}

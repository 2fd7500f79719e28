//! Swashbuckle-like pods: plain-HTTP servers on 127.0.0.1, one per declared container port, serving
//! the owning service's current document at `/swagger/v1/swagger.json` (or the pod's
//! `document_path`), its further documents at their paths (API versions), Swashbuckle's Swagger UI
//! page listing them all ([`swagger_ui`]), canned [`PodRoute`](crate::cluster::PodRoute)s, and
//! Kestrel's empty 404 elsewhere.
//!
//! They are reached only through port-forward ([`crate::kube_api`]), which maps a container port to
//! the listener started here.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use tokio::sync::watch;

use crate::cluster::Pod;
use crate::{Error, Shared};

/// Swashbuckle's exact header value (no space after the semicolon).
pub const DOCUMENT_CONTENT_TYPE: &str = "application/json;charset=utf-8";

#[derive(Clone)]
struct PodApp {
    pod: Arc<Pod>,
    /// Whose document this pod serves (the first selecting service that has one).
    service: Option<String>,
    shared: Arc<Shared>,
}

/// Starts `pod`'s listeners; returns container port → local address.
pub async fn start(
    pod: &Pod,
    service: Option<String>,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
) -> Result<HashMap<u16, SocketAddr>, Error> {
    let app = PodApp {
        pod: Arc::new(pod.clone()),
        service,
        shared: shared.clone(),
    };
    let router = crate::log::logged(
        Router::new().fallback(answer).with_state(app),
        "pod",
        shared,
    );
    let mut listeners = HashMap::new();
    for port in &pod.ports {
        if listeners.contains_key(&port.port) {
            continue;
        }
        let (listener, addr) = crate::tls::bind_loopback().await?;
        tokio::spawn(crate::tls::serve(
            listener,
            None,
            router.clone(),
            shutdown.clone(),
        ));
        listeners.insert(port.port, addr);
    }
    Ok(listeners)
}

async fn answer(State(app): State<PodApp>, request: Request) -> Response {
    if let Some(ms) = app.shared.faults.value("pod-latency") {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let path = request.uri().path();
    let head = request.method() == Method::HEAD;
    let readable = request.method() == Method::GET || head;
    if let Some(route) = app.pod.routes.iter().find(|r| r.path == path) {
        let status =
            StatusCode::from_u16(route.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = kestrel(status, if head { Vec::new() } else { route.body.clone() });
        if let Some(ct) = route
            .content_type
            .as_deref()
            .and_then(|c| HeaderValue::from_str(c).ok())
        {
            response.headers_mut().insert(header::CONTENT_TYPE, ct);
        }
        return response;
    }
    // Swashbuckle's middleware only answers GET; anything else falls through to routing's 404.
    let service = app.service.as_deref();
    let document = match service {
        Some(s) if readable && path == app.pod.document_path => app.shared.document(s),
        Some(s) if readable => app
            .shared
            .more_documents(s)
            .into_iter()
            .find(|(p, _)| p == path)
            .map(|(_, d)| d),
        _ => None,
    };
    // SwaggerUIMiddleware answers GET only (`HttpMethods.IsGet`).
    if request.method() == Method::GET
        && document.is_none()
        && let Some(s) = service
        && let Some(page) = swagger_ui::page(&app.pod.document_path, s, &app.shared, path)
    {
        return swagger_ui::respond(page);
    }
    if let Some(document) = document {
        let len = document.len();
        let mut response = kestrel(StatusCode::OK, if head { Vec::new() } else { document });
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(DOCUMENT_CONTENT_TYPE),
        );
        if head {
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        }
        return response;
    }
    kestrel(StatusCode::NOT_FOUND, Vec::new())
}

pub(crate) fn kestrel(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::SERVER, HeaderValue::from_static("Kestrel"));
    response
}

/// Swashbuckle's Swagger UI middleware (`app.UseSwaggerUI()`, route prefix `swagger`) as
/// Swashbuckle.AspNetCore serves it from v6.7.0 on, the first tag with `index.js` (6.7 to 6.9,
/// 7.x, 8.x to 10.x; before, 5.x and 6.0 to 6.6 put the same `JSON.parse` inline in
/// `index.html`), here as at tags v6.9.0 and v7.3.2 (domaindrivendev/Swashbuckle.AspNetCore,
/// `src/Swashbuckle.AspNetCore.SwaggerUI/`):
/// - `SwaggerUIMiddleware.Invoke`: GET only; `/swagger` and `/swagger/` answer `301` to the
///   relative `swagger/index.html` / `index.html`; `^/swagger/?(index.(html|js))$`, case
///   ignored, answers the template with its `%(...)` arguments replaced; anything else goes on
///   to the static files (the bundle) or the app;
/// - `index.html` (`text/html;charset=utf-8`) loads `%(ScriptBundlePath)`,
///   `%(ScriptPresetsPath)` and then `index.js`;
/// - `index.js` (`application/javascript;charset=utf-8`) holds
///   `var configObject = JSON.parse('%(ConfigObject)');`, the `ConfigObject` serialised by
///   System.Text.Json (camelCase, nulls left out, default encoder: `'`, `"`, `<`, `>`, `&`, `+`
///   inside strings as `\uXXXX`), whose `urls` is the list of `{url, name}` the app gave with
///   `SwaggerEndpoint(url, name)`;
/// - without any `SwaggerEndpoint`, `SwaggerUIBuilderExtensions.FetchAndConfigureOptions` lists
///   `{ Name = "{ApplicationName} v1", Url = "v1/swagger.json" }` (relative to index.html).
///
/// Versioned apps list one endpoint per API version, as dotnet/aspnet-api-versioning's
/// Swashbuckle examples do (`examples/AspNetCore/WebApi/OpenApiExample/Program.cs`):
/// `SwaggerEndpoint($"/swagger/{description.GroupName}/swagger.json",
/// description.GroupName.ToUpperInvariant())`.
pub mod swagger_ui {
    use axum::http::{HeaderValue, StatusCode, header};
    use axum::response::Response;
    use serde_json::json;

    use crate::Shared;

    /// What a Swagger UI path answers.
    pub enum Page {
        Redirect(&'static str),
        Html(String),
        Script(String),
    }

    /// The page at `path` for a pod whose own document is at `document_path`; `None` when the
    /// pod serves no Swagger UI there. Only a Swashbuckle app (its document under `/swagger/`)
    /// has one: Microsoft.AspNetCore.OpenApi (`/openapi/v1.json`) ships no UI.
    pub fn page(document_path: &str, service: &str, shared: &Shared, path: &str) -> Option<Page> {
        if !document_path.starts_with("/swagger/") {
            return None;
        }
        let lower = path.to_ascii_lowercase();
        match lower.as_str() {
            "/swagger" => Some(Page::Redirect("swagger/index.html")),
            "/swagger/" => Some(Page::Redirect("index.html")),
            "/swagger/index.html" => Some(Page::Html(INDEX_HTML.to_string())),
            "/swagger/index.js" => {
                let mut paths = vec![document_path.to_string()];
                paths.extend(shared.more_documents(service).into_iter().map(|(p, _)| p));
                Some(Page::Script(
                    INDEX_JS.replace("%(ConfigObject)", &config_object(service, &paths)),
                ))
            }
            _ => None,
        }
    }

    pub fn respond(page: Page) -> Response {
        let (status, content_type, body, location) = match page {
            Page::Redirect(to) => (StatusCode::MOVED_PERMANENTLY, None, String::new(), Some(to)),
            Page::Html(text) => (StatusCode::OK, Some("text/html;charset=utf-8"), text, None),
            Page::Script(text) => (
                StatusCode::OK,
                Some("application/javascript;charset=utf-8"),
                text,
                None,
            ),
        };
        let mut response = super::kestrel(status, body.into_bytes());
        let headers = response.headers_mut();
        if let Some(ct) = content_type {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            // SwaggerUIMiddleware.SetHeaders without a CacheLifetime.
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache, no-store"),
            );
        }
        if let Some(to) = location {
            headers.insert(header::LOCATION, HeaderValue::from_static(to));
        }
        response
    }

    /// The serialised `ConfigObject`: `urls`, then the defaults of `ConfigObject` in its
    /// declaration order (Swashbuckle v6.9.0 `SwaggerUIOptions.cs`).
    fn config_object(service: &str, paths: &[String]) -> String {
        let urls: Vec<_> = if paths.len() == 1 && paths[0] == crate::cluster::SWAGGER_PATH {
            vec![json!({"url": "v1/swagger.json", "name": format!("{service} v1")})]
        } else {
            paths
                .iter()
                .map(|p| {
                    let group = p.rsplit('/').nth(1).unwrap_or(p).to_ascii_uppercase();
                    json!({"url": p, "name": group})
                })
                .collect()
        };
        let config = json!({
            "urls": urls,
            "deepLinking": false,
            "persistAuthorization": false,
            "displayOperationId": false,
            "defaultModelsExpandDepth": 1,
            "defaultModelExpandDepth": 1,
            "defaultModelRendering": "example",
            "displayRequestDuration": false,
            "docExpansion": "list",
            "showExtensions": false,
            "showCommonExtensions": false,
            "supportedSubmitMethods": ["get", "put", "post", "delete", "options", "head", "patch", "trace"],
            "tryItOutEnabled": false,
        });
        // serde_json keeps the insertion order only with preserve_order; the order of members
        // does not matter to JSON.parse, the escaping does.
        stj_escape(&config.to_string())
    }

    /// System.Text.Json's default encoder escapes HTML-sensitive characters inside strings.
    fn stj_escape(json: &str) -> String {
        let mut out = String::with_capacity(json.len());
        let mut in_string = false;
        let mut escaped = false;
        for c in json.chars() {
            if in_string && !escaped && matches!(c, '\'' | '<' | '>' | '&' | '+') {
                out.push_str(&format!("\\u{:04X}", c as u32));
                continue;
            }
            if in_string && escaped && c == '"' {
                // `\"` inside a string: STJ writes `\u0022`.
                out.pop();
                out.push_str("\\u0022");
                escaped = false;
                continue;
            }
            if c == '"' && !escaped {
                in_string = !in_string;
            }
            escaped = in_string && c == '\\' && !escaped;
            out.push(c);
        }
        out
    }

    /// `index.html` of Swashbuckle.AspNetCore.SwaggerUI v6.9.0 with its arguments replaced
    /// (document title "Swagger UI", the bundle's own paths, no head content).
    const INDEX_HTML: &str = r##"<!-- HTML for static distribution bundle build -->
<!DOCTYPE html>
<html lang="en">
<head>
    <meta charset="UTF-8">
    <title>Swagger UI</title>
    <link rel="stylesheet" type="text/css" href="./swagger-ui.css">
    <link rel="stylesheet" type="text/css" href="./index.css">
    <link rel="icon" type="image/png" href="./favicon-32x32.png" sizes="32x32" />
    <link rel="icon" type="image/png" href="./favicon-16x16.png" sizes="16x16" />
    
</head>

<body>
    <div id="swagger-ui"></div>

    <script src="./swagger-ui-bundle.js" charset="utf-8"></script>
    <script src="./swagger-ui-standalone-preset.js" charset="utf-8"></script>
    <script src="index.js" charset="utf-8"></script>
</body>
</html>
"##;

    /// `index.js` (v6.9.0; v7.3.2 reads the configuration the same way) from `window.onload`
    /// on, with its arguments replaced (no interceptors); `parseFunction` above it is left out.
    const INDEX_JS: &str = r##"window.onload = function () {
    var configObject = JSON.parse('%(ConfigObject)');
    var oauthConfigObject = JSON.parse('{"scopeSeparator":" ","scopes":[],"useBasicAuthenticationWithAccessCodeGrant":false,"usePkceWithAuthorizationCodeGrant":false}');

    // Workaround for https://github.com/swagger-api/swagger-ui/issues/5945
    configObject.urls.forEach(function (item) {
        if (item.url.startsWith("http") || item.url.startsWith("/")) return;
        item.url = window.location.href.replace("index.html", item.url).split('#')[0];
    });

    // If validatorUrl is not explicitly provided, disable the feature by setting to null
    if (!configObject.hasOwnProperty("validatorUrl"))
        configObject.validatorUrl = null

    // If oauth2RedirectUrl isn't specified, use the built-in default
    if (!configObject.hasOwnProperty("oauth2RedirectUrl"))
        configObject.oauth2RedirectUrl = (new URL("oauth2-redirect.html", window.location.href)).href;

    // Apply mandatory parameters
    configObject.dom_id = "#swagger-ui";
    configObject.presets = [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset];
    configObject.layout = "StandaloneLayout";

    // Parse and add interceptor functions
    var interceptors = JSON.parse('{}');
    if (interceptors.RequestInterceptorFunction)
        configObject.requestInterceptor = parseFunction(interceptors.RequestInterceptorFunction);
    if (interceptors.ResponseInterceptorFunction)
        configObject.responseInterceptor = parseFunction(interceptors.ResponseInterceptorFunction);

    if (configObject.plugins) {
        configObject.plugins = configObject.plugins.map(eval);
    }
    
    // Begin Swagger UI call region

    const ui = SwaggerUIBundle(configObject);

    ui.initOAuth(oauthConfigObject);

    // End Swagger UI call region

    window.ui = ui
}
"##;

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_config_object_is_escaped_as_system_text_json_does() {
            assert_eq!(
                stj_escape(r#"{"name":"it's <b> & \"c\"","n":1}"#),
                r#"{"name":"it\u0027s \u003Cb\u003E \u0026 \u0022c\u0022","n":1}"#
            );
            let one: serde_json::Value = serde_json::from_str(&config_object(
                "svc-1",
                &["/swagger/v1/swagger.json".into()],
            ))
            .unwrap();
            assert_eq!(
                one["urls"],
                json!([{"url": "v1/swagger.json", "name": "svc-1 v1"}])
            );
            let two: serde_json::Value = serde_json::from_str(&config_object(
                "svc-1",
                &[
                    "/swagger/v1/swagger.json".into(),
                    "/swagger/v2/swagger.json".into(),
                ],
            ))
            .unwrap();
            assert_eq!(
                two["urls"][1],
                json!({"url": "/swagger/v2/swagger.json", "name": "V2"})
            );
        }
    }
}

//! The documents a pod lists in its Swagger UI (`api-versions: auto`): Swashbuckle's
//! `/swagger/index.html`, the `index.js` it loads, and the `configObject` there whose `urls`
//! name every document (`{url, name}`, one per `SwaggerEndpoint(url, name)`); then its
//! `documentUrls` route; then the same at the root (`RoutePrefix = ""`).
//!
//! Modelled on domaindrivendev/Swashbuckle.AspNetCore, `src/Swashbuckle.AspNetCore.SwaggerUI/`:
//! 5.x and 6.0 to 6.6 put `var configObject = JSON.parse('%(ConfigObject)');` (a JSON text inside
//! a JavaScript string) inline in `index.html`; from tag v6.7.0 on (6.7 to 6.9, 7.x, 8.x to
//! 10.x) `index.html` ends with `<script src="index.js" charset="utf-8">` and `index.js` holds the
//! same `JSON.parse('...')`. Only the main branch after v10.2.3 (unreleased) writes
//! `var configObject = %(ConfigObject);` (the object itself); both forms are read. A relative
//! `url` is relative to `index.html` (`index.js`: `window.location.href.replace("index.html",
//! item.url)`), so `v1/swagger.json` is `/swagger/v1/swagger.json`.

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use serde_json::Value;

use super::api::Kube;
use super::fetch::{Attempt, get_with_retries};
use super::{ClusterError, Connection, Observer, Target, backends, discover};

/// Where Swashbuckle's UI may be: its default route prefix `swagger`, then `RoutePrefix =
/// string.Empty` (the UI at the root, `/index.html`), a common setting
/// (`SwaggerUIMiddleware`: `^/{RoutePrefix}/?(index.(html|js))$`).
pub const UI_BASES: &[&str] = &["/swagger/", "/"];
/// The page, under a base.
pub const INDEX_HTML: &str = "index.html";
/// The script the page loads from v6.7.0 on, where the configuration is.
pub const INDEX_JS: &str = "index.js";
/// `SwaggerUIOptions.SwaggerDocumentUrlsPath`'s default: with `ExposeSwaggerDocumentUrlsRoute`
/// (Swashbuckle 7.3 and later) the middleware answers it with the JSON array of `{url, name}`
/// (`SwaggerUIMiddleware.RespondWithDocumentUrls`).
pub const DOCUMENT_URLS: &str = "documentUrls";
/// The largest page read: the configuration is a few kilobytes.
const MAX_PAGE: usize = 1024 * 1024;

/// One document the UI lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedDocument {
    /// The path in the pod (`/swagger/v2/swagger.json`).
    pub path: String,
    /// The name the UI shows (`V2`, `My API v1`).
    pub name: String,
}

/// What the UI gave: its documents, and every path read with its answer.
#[derive(Clone, Debug)]
pub struct Listed {
    pub documents: Vec<ListedDocument>,
    pub pod: String,
    pub tried: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SwaggerUiError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// No page listed any document.
    #[error(
        "api-versions is auto, but pod {namespace}/{pod} lists no OpenAPI document in a Swagger UI (tried {tried}). \
         List the versions in api-versions instead: NAME=PATH per line or comma, e.g. \
         v1=/swagger/v1/swagger.json, v2=/swagger/v2/swagger.json"
    )]
    NothingListed {
        namespace: String,
        pod: String,
        tried: String,
    },
}

impl SwaggerUiError {
    pub fn exit(&self) -> crate::exit::Exit {
        match self {
            SwaggerUiError::Cluster(e) => e.exit(),
            SwaggerUiError::NothingListed { .. } => crate::exit::Exit::Input,
        }
    }
}

/// Finds a ready pod behind the Service and reads the documents its Swagger UI lists.
pub async fn listed_documents(
    conn: &Connection,
    target: &Target,
    observer: &dyn Observer,
) -> Result<Listed, SwaggerUiError> {
    let api = Kube::new(conn);
    let service = discover::read_service(&api, target).await?;
    let port = discover::pick_port(&service, target)?;
    let (ready, _) = backends::wait_for_ready(&api, &service, &port, target, observer).await?;
    let backend = ready.first().ok_or_else(|| ClusterError::NoBackends {
        namespace: target.namespace.clone(),
        name: target.service.clone(),
    })?;
    let pods: Api<Pod> = Api::namespaced(conn.client.clone(), &target.namespace);
    let page_target = Target {
        max_body: MAX_PAGE,
        ..target.clone()
    };
    let mut tried = Vec::new();
    let mut get = async |path: &str| -> Result<Option<String>, SwaggerUiError> {
        let attempt = get_with_retries(conn, &pods, backend, path, &page_target, observer).await?;
        Ok(match attempt {
            Attempt::Body { status, bytes, .. } => {
                tried.push(format!("{path} ({status})"));
                (200..300)
                    .contains(&status)
                    .then(|| String::from_utf8_lossy(&bytes).into_owned())
            }
            Attempt::TooLarge => {
                tried.push(format!("{path} (larger than {} KB)", MAX_PAGE / 1024));
                None
            }
        })
    };
    let mut documents = Vec::new();
    for base in UI_BASES {
        let html = get(&format!("{base}{INDEX_HTML}")).await?;
        if let Some(html) = &html {
            documents = config_urls(html, base).unwrap_or_default();
        }
        if documents.is_empty() {
            // The page's own script, or Swashbuckle's `index.js` when the page names none.
            let script = html
                .as_deref()
                .and_then(|h| script_path(h, base))
                .unwrap_or_else(|| format!("{base}{INDEX_JS}"));
            if let Some(js) = get(&script).await? {
                documents = config_urls(&js, base).unwrap_or_default();
            }
        }
        if documents.is_empty()
            && let Some(json) = get(&format!("{base}{DOCUMENT_URLS}")).await?
        {
            documents = document_urls(&json, base).unwrap_or_default();
        }
        if !documents.is_empty() {
            break;
        }
    }
    if documents.is_empty() {
        return Err(SwaggerUiError::NothingListed {
            namespace: target.namespace.clone(),
            pod: backend.pod.clone(),
            tried: tried.join(", "),
        });
    }
    Ok(Listed {
        documents,
        pod: backend.pod.clone(),
        tried,
    })
}

/// The path of the page's `index.js` script (`<script src="index.js">`, relative to the page at
/// `base`).
pub fn script_path(html: &str, base: &str) -> Option<String> {
    let mut rest = html;
    while let Some(at) = rest.find("<script") {
        rest = &rest[at + "<script".len()..];
        let tag = &rest[..rest.find('>').unwrap_or(rest.len())];
        let Some(src) = attribute(tag, "src") else {
            continue;
        };
        let file = src.split(['?', '#']).next().unwrap_or("");
        if file.rsplit('/').next() == Some("index.js") {
            return Some(resolve(file, base));
        }
    }
    None
}

fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let at = tag.find(&format!("{name}="))? + name.len() + 1;
    let rest = &tag[at..];
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let rest = &rest[1..];
    Some(&rest[..rest.find(quote)?])
}

/// A URL of the UI as a path in the pod: relative to the page at `base` (`/swagger/`), or
/// absolute (its path; the pod serves it, whatever host the UI was opened with).
pub fn resolve(url: &str, base: &str) -> String {
    let url = url.trim();
    let path = if let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    {
        rest.find('/')
            .map(|i| &rest[i..])
            .unwrap_or("/")
            .to_string()
    } else if url.starts_with('/') {
        url.to_string()
    } else {
        format!("{base}{}", url.trim_start_matches("./"))
    };
    path.split(['?', '#']).next().unwrap_or("/").to_string()
}

/// The documents `configObject` lists in a page or script of the UI at `base`; `None` when it
/// has none.
pub fn config_urls(text: &str, base: &str) -> Option<Vec<ListedDocument>> {
    let at = text.find("configObject")?;
    let rest = text[at + "configObject".len()..].trim_start();
    let rest = rest.strip_prefix('=')?.trim_start();
    let config: Value = if let Some(quoted) = rest.strip_prefix("JSON.parse(") {
        let json = js_string(quoted.trim_start())?;
        serde_json::from_str(&json).ok()?
    } else {
        serde_json::Deserializer::from_str(rest)
            .into_iter::<Value>()
            .next()?
            .ok()?
    };
    listed(&config, base)
}

/// The documents a `documentUrls` answer lists: the array of `{url, name}` (or, with custom
/// JSON options, the whole `ConfigObject`).
pub fn document_urls(text: &str, base: &str) -> Option<Vec<ListedDocument>> {
    let value: Value = serde_json::from_str(text.trim_start_matches('\u{feff}')).ok()?;
    match value {
        Value::Array(urls) => listed(&serde_json::json!({ "urls": urls }), base),
        config => listed(&config, base),
    }
}

fn listed(config: &Value, base: &str) -> Option<Vec<ListedDocument>> {
    let entries: Vec<&Value> = match (config.get("urls"), config.get("url")) {
        (Some(Value::Array(urls)), _) => urls.iter().collect(),
        (_, Some(single)) => vec![config]
            .into_iter()
            .filter(|_| single.is_string())
            .collect(),
        _ => Vec::new(),
    };
    let documents: Vec<ListedDocument> = entries
        .into_iter()
        .filter_map(|e| {
            let url = e.get("url")?.as_str()?;
            let name = e.get("name").and_then(Value::as_str).unwrap_or(url);
            Some(ListedDocument {
                path: resolve(url, base),
                name: name.to_string(),
            })
        })
        .collect();
    (!documents.is_empty()).then_some(documents)
}

/// The value of the JavaScript string literal `text` starts with (`'...'` or `"..."`), its
/// escapes read as JavaScript reads them.
fn js_string(text: &str) -> Option<String> {
    let mut chars = text.chars();
    let quote = chars.next().filter(|c| *c == '\'' || *c == '"')?;
    let mut out = String::new();
    while let Some(c) = chars.next() {
        match c {
            c if c == quote => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'v' => out.push('\u{b}'),
                '0' => out.push('\0'),
                'x' => {
                    let hex: String = chars.by_ref().take(2).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let unit = u32::from_str_radix(&hex, 16).ok()?;
                    // A surrogate pair is two escapes.
                    if (0xD800..0xDC00).contains(&unit) {
                        let low: String = chars.by_ref().take(6).collect();
                        let low = u32::from_str_radix(low.strip_prefix("\\u")?, 16).ok()?;
                        let c = 0x10000 + ((unit - 0xD800) << 10) + (low.checked_sub(0xDC00)?);
                        out.push(char::from_u32(c)?);
                    } else {
                        out.push(char::from_u32(unit)?);
                    }
                }
                // A line continuation.
                '\n' => {}
                other => out.push(other),
            },
            '\n' => return None,
            c => out.push(c),
        }
    }
    None
}

/// The version name a listed document stands for: Swashbuckle's `{documentName}` in
/// `/swagger/{documentName}/swagger.json` (Asp.Versioning's group name, `v1`), .NET's
/// `/openapi/{documentName}.json`, else the name the UI shows.
pub fn version_name(doc: &ListedDocument) -> String {
    let parts: Vec<&str> = doc.path.trim_matches('/').split('/').collect();
    let from_path = match parts.as_slice() {
        [.., group, file] if file.starts_with("swagger.") => Some(*group),
        [.., file] if file.ends_with(".json") || file.ends_with(".yaml") => {
            file.rsplit_once('.').map(|(stem, _)| stem)
        }
        _ => None,
    };
    from_path
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| doc.name.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_6x_script_and_the_later_object_literal_both_read() {
        let js = r#"window.onload = function () {
    var configObject = JSON.parse('{"urls":[{"url":"/swagger/v1/swagger.json","name":"V1"},{"url":"v2/swagger.json","name":"Orders \u0027V2\u0027"}],"deepLinking":false}');
    var oauthConfigObject = JSON.parse('{}');"#;
        let docs = config_urls(js, "/swagger/").unwrap();
        assert_eq!(docs[0].path, "/swagger/v1/swagger.json");
        assert_eq!(docs[1].path, "/swagger/v2/swagger.json");
        assert_eq!(docs[1].name, "Orders 'V2'");
        assert_eq!(version_name(&docs[1]), "v2");
        let later = r#"var configObject = {"urls":[{"url":"/openapi/v1.json","name":"v1"}]};"#;
        let docs = config_urls(later, "/swagger/").unwrap();
        assert_eq!(version_name(&docs[0]), "v1");
        assert!(
            config_urls(
                "var configObject = JSON.parse('{\"deepLinking\":true}');",
                "/swagger/"
            )
            .is_none()
        );
        assert!(config_urls("<html>no configuration</html>", "/swagger/").is_none());
    }

    #[test]
    fn a_6_5_page_carries_the_configuration_inline() {
        // The shape of index.html before v6.7.0 (5.x, 6.0 to 6.6): no index.js, the
        // configuration parsed in the page's own script from `window.onload`.
        let html = r##"<div id="swagger-ui"></div>
<script>
  window.onload = function () {
    var configObject = JSON.parse('{"urls":[{"url":"v1/swagger.json","name":"V1"},{"url":"v2/swagger.json","name":"V2"}],"deepLinking":false}');
    var oauthConfigObject = JSON.parse('{"scopeSeparator":" "}');
    configObject.dom_id = "#swagger-ui";
  }
</script>"##;
        let docs = config_urls(html, "/swagger/").unwrap();
        let paths: Vec<&str> = docs.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(
            paths,
            ["/swagger/v1/swagger.json", "/swagger/v2/swagger.json"]
        );
        assert_eq!(version_name(&docs[1]), "v2");
        assert!(script_path(html, "/swagger/").is_none());
    }

    #[test]
    fn document_urls_and_a_root_ui_resolve_against_their_page() {
        // `RespondWithDocumentUrls`: the list of UrlDescriptor, camelCase.
        let json = r#"[{"url":"v1/swagger.json","name":"V1"},{"url":"/swagger/v2/swagger.json","name":"V2"}]"#;
        let docs = document_urls(json, "/").unwrap();
        assert_eq!(docs[0].path, "/v1/swagger.json");
        assert_eq!(docs[1].path, "/swagger/v2/swagger.json");
        assert!(document_urls("[]", "/swagger/").is_none());
        assert!(document_urls("<html>", "/swagger/").is_none());
        // `RoutePrefix = string.Empty`: a relative url is relative to /index.html.
        let js = r#"var configObject = JSON.parse('{"urls":[{"url":"swagger/v1/swagger.json","name":"v1"}]}');"#;
        assert_eq!(
            config_urls(js, "/").unwrap()[0].path,
            "/swagger/v1/swagger.json"
        );
    }

    #[test]
    fn the_page_names_its_script() {
        let html = r#"<script src="./swagger-ui-bundle.js" charset="utf-8"></script>
    <script src="index.js" charset="utf-8"></script>"#;
        assert_eq!(
            script_path(html, "/swagger/").as_deref(),
            Some("/swagger/index.js")
        );
        assert_eq!(script_path(html, "/").as_deref(), Some("/index.js"));
        assert_eq!(
            resolve(
                "https://api.contoso.com/swagger/v1/swagger.json?x=1",
                "/swagger/"
            ),
            "/swagger/v1/swagger.json"
        );
        assert!(script_path("<script>inline()</script>", "/swagger/").is_none());
    }
}

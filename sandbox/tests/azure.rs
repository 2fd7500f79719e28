//! The Azure and GitHub side of the sandbox, driven by real clients: azure_identity's
//! ClientSecretCredential against the Entra emulator, reqwest against ARM/APIM (imports, LRO
//! polling, revisions, releases, ETags, paging, faults, exports, control endpoints), and
//! GitHub responses deserialized into octocrab's own models.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use apim_sandbox::{Config, Sandbox};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn fixture(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures")
        .join(rel);
    let text = std::fs::read_to_string(&path).expect("fixture is readable");
    text.trim_start_matches('\u{feff}').to_string()
}

fn http(sb: &Sandbox) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(sb.ca_pem.as_bytes()).expect("CA PEM")])
        .build()
        .expect("client")
}

async fn start(lro_polls: u32) -> Sandbox {
    crypto();
    Sandbox::start(Config {
        retry_after: 0,
        lro_polls,
        ..Config::default()
    })
    .await
    .expect("sandbox starts")
}

/// A reply: status, headers, JSON body (Null when empty or not JSON).
struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    }
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

struct Arm {
    c: reqwest::Client,
    url: String,
    service: String,
    token: String,
}

impl Arm {
    fn new(sb: &Sandbox) -> Arm {
        let id = sb.identity();
        Arm {
            c: http(sb),
            url: sb.urls.arm.clone(),
            service: format!(
                "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.ApiManagement/service/{}",
                id.subscription_id, id.resource_group, id.apim_service
            ),
            token: sb.arm_token.clone(),
        }
    }

    /// `rel` is under the service; `?api-version=` is added unless the URL is absolute.
    fn url(&self, rel: &str) -> String {
        if rel.starts_with("https://") {
            return rel.to_string();
        }
        let sep = if rel.contains('?') { '&' } else { '?' };
        format!(
            "{}{}{rel}{sep}api-version=2024-05-01",
            self.url, self.service
        )
    }

    async fn send(
        &self,
        method: reqwest::Method,
        url: String,
        body: Option<Value>,
        if_match: Option<&str>,
    ) -> Reply {
        let mut rb = self.c.request(method, url).bearer_auth(&self.token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        if let Some(m) = if_match {
            rb = rb.header("If-Match", m);
        }
        let r = rb.send().await.expect("request is answered");
        let status = r.status();
        let headers = r.headers().clone();
        let bytes = r.bytes().await.expect("body");
        Reply {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    async fn get(&self, rel: &str) -> Reply {
        self.send(reqwest::Method::GET, self.url(rel), None, None)
            .await
    }
    async fn put(&self, rel: &str, body: Value) -> Reply {
        self.send(reqwest::Method::PUT, self.url(rel), Some(body), None)
            .await
    }
    async fn patch(&self, rel: &str, body: Value, if_match: Option<&str>) -> Reply {
        self.send(reqwest::Method::PATCH, self.url(rel), Some(body), if_match)
            .await
    }
    async fn delete(&self, rel: &str) -> Reply {
        self.send(reqwest::Method::DELETE, self.url(rel), None, None)
            .await
    }
    async fn control(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Reply {
        self.send(method, format!("{}{path}", self.url), body, None)
            .await
    }

    /// Polls `Location` until it stops answering 202; returns the final reply and the poll count.
    async fn poll(&self, accepted: &Reply) -> (Reply, u32) {
        let location = accepted.header("location");
        assert!(location.contains("asyncId="), "Location: {location}");
        let mut polls = 0;
        loop {
            polls += 1;
            let r = self.get(&location).await;
            if r.status != StatusCode::ACCEPTED {
                return (r, polls);
            }
            assert!(polls < 20, "the import never completes");
            let wait: u64 = r
                .header("retry-after")
                .parse()
                .expect("Retry-After while polling");
            tokio::time::sleep(Duration::from_secs(wait)).await;
        }
    }

    async fn import(&self, api: &str, format: &str, doc: &str, extra: Value) -> Reply {
        let mut props = json!({"format": format, "value": doc, "path": api});
        if let (Some(p), Some(e)) = (props.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                p.insert(k.clone(), v.clone());
            }
        }
        self.put(&format!("/apis/{api}"), json!({ "properties": props }))
            .await
    }

    /// Every item of a paged list, following `nextLink`; also returns the number of pages.
    async fn all(&self, rel: &str) -> (Vec<Value>, usize) {
        let mut items = Vec::new();
        let mut pages = 0;
        let mut next = self.url(rel);
        loop {
            pages += 1;
            let r = self
                .send(reqwest::Method::GET, next.clone(), None, None)
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            items.extend(r.body["value"].as_array().cloned().unwrap_or_default());
            match r.body["nextLink"].as_str() {
                Some(link) if !link.is_empty() => next = link.to_string(),
                _ => return (items, pages),
            }
            assert!(pages < 50);
        }
    }
}

/// Swashbuckle's Swagger 2.0 sample with the host and schemes a real deployment would add.
fn swagger_with_host() -> String {
    let mut doc: Value = serde_json::from_str(&fixture("swashbuckle/basic-swagger2.json")).unwrap();
    doc["host"] = json!("backend.internal:8443");
    doc["basePath"] = json!("/api/");
    doc["schemes"] = json!(["http", "https"]);
    doc.to_string()
}

#[tokio::test]
async fn client_secret_credential_gets_tokens_arm_accepts() {
    use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
    use azure_core::credentials::TokenCredential;
    use azure_core::http::{ClientOptions, Transport};
    use azure_identity::{ClientSecretCredential, ClientSecretCredentialOptions};

    let sb = start(1).await;
    let options = || {
        let mut custom = CustomConfiguration::default();
        custom.authority_host = sb.urls.entra.clone();
        ClientSecretCredentialOptions {
            client_options: ClientOptions {
                transport: Some(Transport::new(Arc::new(http(&sb)))),
                cloud: Some(Arc::new(CloudConfiguration::Custom(custom))),
                ..Default::default()
            },
        }
    };
    let id = sb.identity();
    let cred = ClientSecretCredential::new(
        &id.tenant_id,
        id.client_id.clone(),
        id.client_secret.clone().into(),
        Some(options()),
    )
    .unwrap();
    let token = cred
        .get_token(&["https://management.azure.com/.default"], None)
        .await
        .expect("the sandbox's secret is accepted");
    let arm = Arm {
        token: token.token.secret().to_string(),
        ..Arm::new(&sb)
    };
    assert_eq!(arm.get("/apis").await.status, StatusCode::OK);

    let wrong = ClientSecretCredential::new(
        &id.tenant_id,
        id.client_id.clone(),
        "not-the-secret".to_string().into(),
        Some(options()),
    )
    .unwrap();
    let err = wrong
        .get_token(&["https://management.azure.com/.default"], None)
        .await
        .expect_err("a wrong secret is refused");
    let text = format!("{err:?} {err}");
    assert!(text.contains("AADSTS7000215"), "{text}");
    assert!(text.contains("7000215"), "{text}");
}

async fn token_form(
    c: &reqwest::Client,
    sb: &Sandbox,
    tenant: &str,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let r = c
        .post(format!("{}/{tenant}/oauth2/v2.0/token", sb.urls.entra))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn entra_errors_and_federated_assertions() {
    let sb = start(1).await;
    let c = http(&sb);
    let id = sb.identity().clone();
    let scope = "https://management.azure.com/.default";
    let secret_form = |client: &str, secret: &str, scope: &str| {
        vec![
            ("grant_type", "client_credentials".to_string()),
            ("client_id", client.to_string()),
            ("client_secret", secret.to_string()),
            ("scope", scope.to_string()),
        ]
    };
    let as_refs = |v: &Vec<(&'static str, String)>| -> Vec<(&'static str, String)> { v.clone() };

    let f = as_refs(&secret_form(&id.client_id, &id.client_secret, scope));
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (s, ok) = token_form(&c, &sb, &id.tenant_id, &f).await;
    assert_eq!(s, StatusCode::OK, "{ok}");
    assert_eq!(ok["token_type"], "Bearer");
    assert_eq!(ok["expires_in"], 3600);

    let (s, e) = token_form(&c, &sb, "00000000-0000-0000-0000-000000000001", &f).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error_codes"][0], 90002);

    let other_client = secret_form(
        "11111111-1111-1111-1111-111111111111",
        &id.client_secret,
        scope,
    );
    let f2: Vec<(&str, &str)> = other_client.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (s, e) = token_form(&c, &sb, &id.tenant_id, &f2).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"], "unauthorized_client");
    assert_eq!(e["error_codes"][0], 700016);

    let bad_scope = secret_form(
        &id.client_id,
        &id.client_secret,
        "https://graph.microsoft.com/.default",
    );
    let f3: Vec<(&str, &str)> = bad_scope.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (s, e) = token_form(&c, &sb, &id.tenant_id, &f3).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"], "invalid_scope");
    assert!(
        e["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS70011")
    );
    for key in ["timestamp", "trace_id", "correlation_id"] {
        assert!(e[key].is_string(), "{key} in {e}");
    }

    let bad_secret = secret_form(&id.client_id, "nope", scope);
    let f4: Vec<(&str, &str)> = bad_secret.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (s, e) = token_form(&c, &sb, &id.tenant_id, &f4).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(e["error"], "invalid_client");
    assert_eq!(e["error_codes"][0], 7000215);

    let assertion = |a: &str| {
        vec![
            ("grant_type", "client_credentials".to_string()),
            ("client_id", id.client_id.clone()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string(),
            ),
            ("client_assertion", a.to_string()),
            ("scope", scope.to_string()),
        ]
    };
    let exchange = |a: Vec<(&'static str, String)>| {
        let c = c.clone();
        let tenant = id.tenant_id.clone();
        let sb_url = sb.urls.entra.clone();
        async move {
            let r = c
                .post(format!("{sb_url}/{tenant}/oauth2/v2.0/token"))
                .form(&a)
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };

    // GitHub Actions: the runner's request token fetches an ID token for Entra's audience.
    let env: std::collections::HashMap<String, String> = sb.env().into_iter().collect();
    let gh_url = format!(
        "{}&audience=api://AzureADTokenExchange",
        env["SANDBOX_GITHUB_OIDC_URL"]
    );
    let r = c.get(&gh_url).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r: Value = c
        .get(&gh_url)
        .bearer_auth(&id.github_oidc_request_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let gh_jwt = r["value"].as_str().expect("value").to_string();
    let (s, body) = exchange(assertion(&gh_jwt)).await;
    assert_eq!(s, StatusCode::OK, "{body}");

    // The same issuer with another audience matches no federated credential.
    let other_aud: Value = c
        .get(format!(
            "{}&audience=api://something-else",
            env["SANDBOX_GITHUB_OIDC_URL"]
        ))
        .bearer_auth(&id.github_oidc_request_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (s, body) = exchange(assertion(other_aud["value"].as_str().unwrap())).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(body["error_codes"][0], 700212);

    // Azure DevOps: the pipeline's access token fetches an OIDC token for the service connection.
    let ado_url = format!(
        "{}?api-version=7.1&serviceConnectionId={}",
        env["SANDBOX_ADO_OIDC_URL"], id.ado_service_connection_id
    );
    let r = c.post(&ado_url).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r: Value = c
        .post(&ado_url)
        .bearer_auth(&id.ado_access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (s, body) = exchange(assertion(r["oidcToken"].as_str().expect("oidcToken"))).await;
    assert_eq!(s, StatusCode::OK, "{body}");

    // AKS workload identity: the projected token file.
    let federated = std::fs::read_to_string(&sb.federated_token_file).unwrap();
    let (s, body) = exchange(assertion(&federated)).await;
    assert_eq!(s, StatusCode::OK, "{body}");

    // Anything not signed by the sandbox's issuers is refused.
    let forged = format!("{}.{}x", &gh_jwt[..gh_jwt.rfind('.').unwrap()], "AAAA");
    let (s, body) = exchange(assertion(&forged)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");

    // MSAL's metadata points back at this listener.
    let meta: Value = c
        .get(format!(
            "{}/{}/v2.0/.well-known/openid-configuration",
            sb.urls.entra, id.tenant_id
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        meta["token_endpoint"],
        format!("{}/{}/oauth2/v2.0/token", sb.urls.entra, id.tenant_id)
    );
}

#[tokio::test]
async fn token_ttl_fault_expires_arm_tokens() {
    let sb = start(1).await;
    let arm = Arm::new(&sb);
    let r = arm
        .control(
            reqwest::Method::POST,
            "/_sandbox/faults",
            Some(json!({"token-ttl": 1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let id = sb.identity();
    let (s, t) = token_form(
        &http(&sb),
        &sb,
        &id.tenant_id,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id.client_id),
            ("client_secret", &id.client_secret),
            ("scope", "https://management.azure.com/.default"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(t["expires_in"], 1);
    let short = Arm {
        token: t["access_token"].as_str().unwrap().to_string(),
        ..Arm::new(&sb)
    };
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = short.get("/apis").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.code(), "ExpiredAuthenticationToken");
}

#[tokio::test]
async fn arm_refuses_what_arm_refuses() {
    let sb = start(1).await;
    let arm = Arm::new(&sb);
    let anon = arm.c.get(arm.url("/apis")).send().await.unwrap();
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
    assert!(anon.headers().contains_key("www-authenticate"));
    let bogus = Arm {
        token: "eyJhbGciOiJub25lIn0.e30.".into(),
        ..Arm::new(&sb)
    };
    let r = bogus.get("/apis").await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken")
    );

    let no_version = arm
        .send(
            reqwest::Method::GET,
            format!("{}{}/apis", arm.url, arm.service),
            None,
            None,
        )
        .await;
    assert_eq!(no_version.code(), "MissingApiVersionParameter");
    let old = arm
        .send(
            reqwest::Method::GET,
            format!("{}{}/apis?api-version=2019-01-01", arm.url, arm.service),
            None,
            None,
        )
        .await;
    assert_eq!(
        (old.status, old.code()),
        (StatusCode::BAD_REQUEST, "InvalidApiVersionParameter")
    );

    let wrong_rg = arm.service.replace("rg-sandbox", "rg-other");
    let r = arm
        .send(
            reqwest::Method::GET,
            format!("{}{wrong_rg}/apis?api-version=2024-05-01", arm.url),
            None,
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "ResourceGroupNotFound")
    );
    let wrong_svc = format!("{}-x", arm.service);
    let r = arm
        .send(
            reqwest::Method::GET,
            format!("{}{wrong_svc}/apis?api-version=2024-05-01", arm.url),
            None,
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "ResourceNotFound")
    );
    let r = arm.get("/apis/nothing-here").await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "ResourceNotFound")
    );
    let r = arm
        .put("/apis/x", json!({"properties": {"displayName": "x"}}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "ValidationError")
    );
}

#[tokio::test]
async fn openapi_import_is_a_long_running_operation() {
    let sb = start(2).await;
    let arm = Arm::new(&sb);
    let doc = fixture("swashbuckle/basic-openapi30.json");
    let accepted = arm
        .import(
            "products",
            "openapi+json",
            &doc,
            json!({"serviceUrl": "https://ignored.example"}),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::CREATED, "{}", accepted.body);
    assert_eq!(
        accepted.body["properties"]["provisioningState"],
        "InProgress"
    );
    assert_eq!(accepted.body["properties"]["displayName"], "Test API V1");
    let location = accepted.header("location");
    assert!(
        location.contains("/apis/products?api-version=2024-05-01&asyncId="),
        "{location}"
    );
    assert!(location.ends_with("&asyncCode=201"), "{location}");
    assert!(
        accepted
            .header("azure-asyncoperation")
            .contains("/tenant/operationResults/")
    );
    assert_eq!(accepted.header("retry-after"), "0");

    // Until the import completes, the API does not exist for a plain GET.
    assert_eq!(
        arm.get("/apis/products").await.status,
        StatusCode::NOT_FOUND
    );
    let (done, polls) = arm.poll(&accepted).await;
    assert_eq!(polls, 2);
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let props = &done.body["properties"];
    assert_eq!(props["path"], "products");
    // No https server in the document, and a serviceUrl sent with an OpenAPI import is ignored.
    assert!(props.get("serviceUrl").is_none(), "{props}");

    let api = arm.get("/apis/products").await;
    assert_eq!(api.status, StatusCode::OK);
    assert!(api.header("etag").starts_with('"'));

    let (ops, pages) = arm.all("/apis/products/operations").await;
    assert_eq!(ops.len(), 35);
    assert_eq!(pages, 4);
    let names: std::collections::HashSet<&str> =
        ops.iter().filter_map(|o| o["name"].as_str()).collect();
    assert_eq!(names.len(), 35, "operation names are unique");
    let create = ops
        .iter()
        .find(|o| o["name"] == "createproduct")
        .expect("createproduct");
    assert_eq!(create["properties"]["displayName"], "Creates a product");
    assert_eq!(create["properties"]["method"], "POST");
    assert_eq!(create["properties"]["urlTemplate"], "/products");
    let derived = ops
        .iter()
        .find(|o| o["properties"]["urlTemplate"] == "/products/all")
        .expect("operation without operationId");
    assert_eq!(derived["name"], "get-products-all");
    let get_one = ops.iter().find(|o| o["name"] == "getproduct").unwrap();
    assert_eq!(get_one["properties"]["templateParameters"][0]["name"], "id");

    let top = arm.get("/apis/products/operations?$top=5&$skip=30").await;
    assert_eq!(top.body["value"].as_array().unwrap().len(), 5);
    assert_eq!(top.body["count"], 35);
    assert_eq!(top.body["nextLink"], "");
}

#[tokio::test]
async fn swagger_imports_need_a_scheme_and_use_host_and_base_path() {
    let sb = start(1).await;
    let arm = Arm::new(&sb);
    let accepted = arm
        .import(
            "plain",
            "swagger-json",
            &fixture("swashbuckle/basic-swagger2.json"),
            json!({}),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::CREATED);
    let (failed, _) = arm.poll(&accepted).await;
    assert_eq!(failed.status, StatusCode::BAD_REQUEST);
    assert_eq!(failed.code(), "ValidationError");
    let detail = failed.body["error"]["details"][0]["message"]
        .as_str()
        .unwrap();
    assert!(
        detail.starts_with("Parsing error(s): Cannot infer scheme"),
        "{detail}"
    );
    assert_eq!(arm.get("/apis/plain").await.status, StatusCode::NOT_FOUND);

    let accepted = arm
        .import("hosted", "swagger-json", &swagger_with_host(), json!({}))
        .await;
    let (done, _) = arm.poll(&accepted).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(
        done.body["properties"]["serviceUrl"],
        "https://backend.internal:8443/api"
    );

    let broken = arm
        .import("broken", "openapi+json", "{\"openapi\": ", json!({}))
        .await;
    let (failed, _) = arm.poll(&broken).await;
    assert_eq!(failed.status, StatusCode::BAD_REQUEST);
    assert!(
        failed.body["error"]["details"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Parsing error(s)")
    );

    let huge = "x".repeat(4 * 1024 * 1024 + 1);
    let r = arm.import("huge", "openapi+json", &huge, json!({})).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "ValidationError")
    );
}

#[tokio::test]
async fn reimport_replaces_operations_and_locks_the_api_while_running() {
    let sb = start(2).await;
    let arm = Arm::new(&sb);
    let v1 = swagger_with_host();
    let first = arm.import("shop", "swagger-json", &v1, json!({})).await;
    arm.poll(&first).await;

    let mut v2: Value = serde_json::from_str(&v1).unwrap();
    v2["paths"]["/products"]
        .as_object_mut()
        .unwrap()
        .remove("post");
    v2["paths"]["/products"]["get"]["summary"] = json!("Search products, v2");
    let second = arm
        .import("shop", "swagger-json", &v2.to_string(), json!({}))
        .await;
    assert_eq!(second.status, StatusCode::OK);
    assert!(second.header("location").ends_with("&asyncCode=200"));

    for r in [
        arm.import("shop", "swagger-json", &v1, json!({})).await,
        arm.patch(
            "/apis/shop",
            json!({"properties": {"serviceUrl": "https://x"}}),
            None,
        )
        .await,
        arm.delete("/apis/shop").await,
    ] {
        assert_eq!(r.status, StatusCode::CONFLICT);
        assert_eq!(r.code(), "PessimisticConcurrencyConflict");
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("in progress")
        );
    }
    // Meanwhile readers see the previous state.
    assert_eq!(arm.all("/apis/shop/operations").await.0.len(), 35);

    let op_url = second.header("azure-asyncoperation");
    let s1 = arm.get(&op_url).await;
    assert_eq!(s1.body["status"], "InProgress");
    let s2 = arm.get(&op_url).await;
    assert_eq!(s2.body["status"], "Succeeded");
    let (ops, _) = arm.all("/apis/shop/operations").await;
    assert_eq!(ops.len(), 34);
    assert!(!ops.iter().any(|o| o["name"] == "createproduct"));
    let search = ops.iter().find(|o| o["name"] == "searchproducts").unwrap();
    assert_eq!(search["properties"]["displayName"], "Search products, v2");
}

#[tokio::test]
async fn etags_change_and_if_match_is_honoured() {
    let sb = start(1).await;
    let arm = Arm::new(&sb);
    let created = arm
        .put(
            "/apis/echo",
            json!({"properties": {"displayName": "Echo", "path": "echo", "protocols": ["https"],
                   "serviceUrl": "https://echo.internal", "subscriptionRequired": false}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let get = arm.get("/apis/echo").await;
    assert_eq!(
        get.body["properties"]["serviceUrl"],
        "https://echo.internal"
    );
    assert_eq!(get.body["properties"]["subscriptionRequired"], false);
    let etag = get.header("etag");
    assert!(!etag.is_empty());

    let stale = arm
        .patch(
            "/apis/echo",
            json!({"properties": {"serviceUrl": "https://a"}}),
            Some("\"stale\""),
        )
        .await;
    assert_eq!(
        (stale.status, stale.code()),
        (StatusCode::PRECONDITION_FAILED, "PreconditionFailed")
    );
    let ok = arm
        .patch(
            "/apis/echo",
            json!({"properties": {"serviceUrl": "https://b", "apiRevisionDescription": "moved"}}),
            Some(&etag),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.body["properties"]["serviceUrl"], "https://b");
    assert_ne!(ok.header("etag"), etag);
    let again = arm
        .patch(
            "/apis/echo",
            json!({"properties": {"serviceUrl": "https://c"}}),
            Some(&etag),
        )
        .await;
    assert_eq!(again.status, StatusCode::PRECONDITION_FAILED);
    let star = arm
        .patch(
            "/apis/echo",
            json!({"properties": {"serviceUrl": "https://d"}}),
            Some("*"),
        )
        .await;
    assert_eq!(star.status, StatusCode::OK);
    assert_eq!(
        arm.get("/apis/echo").await.body["properties"]["serviceUrl"],
        "https://d"
    );
    // Api_Update requires If-Match (IfMatchRequiredParameter).
    let bare = arm
        .patch(
            "/apis/echo",
            json!({"properties": {"serviceUrl": "https://e"}}),
            None,
        )
        .await;
    assert_eq!(bare.status, StatusCode::BAD_REQUEST, "{}", bare.body);
    assert!(bare.body.to_string().contains("If-Match"), "{}", bare.body);
    assert_eq!(
        arm.get("/apis/echo").await.body["properties"]["serviceUrl"],
        "https://d"
    );
}

#[tokio::test]
async fn staged_revision_then_release() {
    let sb = start(1).await;
    let arm = Arm::new(&sb);
    let v1 = swagger_with_host();
    arm.poll(&arm.import("orders", "swagger-json", &v1, json!({})).await)
        .await;

    let staged = arm
        .put(
            "/apis/orders;rev=2",
            json!({"properties": {"sourceApiId": format!("{}/apis/orders", arm.service), "apiRevisionDescription": "v2 staged"}}),
        )
        .await;
    assert_eq!(staged.status, StatusCode::CREATED, "{}", staged.body);
    assert_eq!(staged.body["name"], "orders;rev=2");
    let rev2 = arm.get("/apis/orders;rev=2").await;
    assert_eq!(rev2.body["properties"]["isCurrent"], false);
    assert_eq!(rev2.body["properties"]["apiRevision"], "2");
    assert_eq!(arm.all("/apis/orders;rev=2/operations").await.0.len(), 35);

    let mut v2: Value = serde_json::from_str(&v1).unwrap();
    v2["paths"].as_object_mut().unwrap().remove("/products/all");
    let import = arm
        .put(
            "/apis/orders;rev=2",
            json!({"properties": {"format": "swagger-json", "value": v2.to_string(), "path": "orders"}}),
        )
        .await;
    assert_eq!(import.status, StatusCode::OK);
    assert!(import.header("location").contains("/apis/orders;rev=2?"));
    let (done, _) = arm.poll(&import).await;
    assert_eq!(done.status, StatusCode::OK);
    assert_eq!(arm.all("/apis/orders;rev=2/operations").await.0.len(), 34);
    assert_eq!(
        arm.all("/apis/orders/operations").await.0.len(),
        35,
        "current revision untouched"
    );

    let (revs, _) = arm.all("/apis/orders/revisions").await;
    assert_eq!(revs.len(), 2);
    let r2 = revs.iter().find(|r| r["apiRevision"] == "2").unwrap();
    assert_eq!(r2["isCurrent"], false);
    assert_eq!(r2["description"], "v2 staged");
    assert!(
        r2["apiId"]
            .as_str()
            .unwrap()
            .ends_with("/apis/orders;rev=2")
    );

    let release = arm
        .put(
            "/apis/orders/releases/release-2",
            json!({"properties": {"apiId": format!("{}/apis/orders;rev=2", arm.service), "notes": "go"}}),
        )
        .await;
    assert_eq!(release.status, StatusCode::CREATED, "{}", release.body);
    let current = arm.get("/apis/orders").await;
    assert_eq!(current.body["properties"]["apiRevision"], "2");
    assert_eq!(current.body["properties"]["isCurrent"], true);
    assert_eq!(arm.all("/apis/orders/operations").await.0.len(), 34);
    let (revs, _) = arm.all("/apis/orders/revisions").await;
    let r1 = revs.iter().find(|r| r["apiRevision"] == "1").unwrap();
    assert_eq!(r1["isCurrent"], false);

    let refused = arm.delete("/apis/orders;rev=2").await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let removed = arm.delete("/apis/orders;rev=1").await;
    assert_eq!(removed.status, StatusCode::ACCEPTED);
    assert_eq!(arm.all("/apis/orders/revisions").await.0.len(), 1);

    // The path form the issue describes releases the revision it names.
    arm.put(
        "/apis/orders;rev=3",
        json!({"properties": {"sourceApiId": format!("{}/apis/orders", arm.service)}}),
    )
    .await;
    let r = arm
        .put(
            "/apis/orders;rev=3/releases/release-3",
            json!({"properties": {"notes": "3"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        arm.get("/apis/orders").await.body["properties"]["apiRevision"],
        "3"
    );

    let link = arm.put("/products/starter/apis/orders", json!({})).await;
    assert_eq!(link.status, StatusCode::CREATED);
    assert_eq!(
        arm.put("/products/starter/apis/orders", json!({}))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        arm.put("/products/gold/apis/orders", json!({}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let (apis, _) = arm.all("/products/starter/apis").await;
    assert_eq!(apis.len(), 1);
}

#[tokio::test]
async fn faults_conflict_by_generic_code_failed_link_export_and_lost_release() {
    let sb = start(1).await;
    let arm = Arm::new(&sb);
    let v1 = swagger_with_host();
    arm.poll(&arm.import("orders", "swagger-json", &v1, json!({})).await)
        .await;
    let r = arm
        .control(
            reqwest::Method::POST,
            "/_sandbox/faults",
            Some(json!({"arm-409-conflict": 1, "arm-export-link-500": 1, "arm-release-lost": 1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // 409 Conflict "Operation on the API is in progress" (apiops PR #787).
    let staged_url = "/apis/orders;rev=2";
    let stage = json!({"properties": {"sourceApiId": format!("{}/apis/orders", arm.service)}});
    let conflict = arm.put(staged_url, stage.clone()).await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    assert_eq!(conflict.code(), "Conflict");
    assert_eq!(
        conflict.body["error"]["message"],
        "Operation on the API is in progress"
    );
    assert_eq!(arm.put(staged_url, stage).await.status, StatusCode::CREATED);

    // The link export fails once with a 500 (apiops#223); the inline export does not.
    let link = arm
        .get("/apis/orders?format=openapi%2Bjson-link&export=true")
        .await;
    assert_eq!(
        (link.status, link.code()),
        (StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError")
    );
    let inline = arm
        .get("/apis/orders?format=openapi%2Bjson&export=true")
        .await;
    assert_eq!(inline.status, StatusCode::OK);
    assert!(
        inline.body["value"]["openapi"].is_string(),
        "{}",
        inline.body
    );
    // `swagger-json` is an import format, not an export one.
    let import_format = arm
        .get("/apis/orders?format=swagger-json&export=true")
        .await;
    assert_eq!(import_format.status, StatusCode::BAD_REQUEST);
    let link = arm
        .get("/apis/orders?format=openapi%2Bjson-link&export=true")
        .await;
    assert_eq!(link.status, StatusCode::OK);

    // The release is applied, the answer lost: revision 2 is current and cannot be deleted.
    let lost = arm
        .put(
            "/apis/orders/releases/r2",
            json!({"properties": {"apiId": format!("{}/apis/orders;rev=2", arm.service)}}),
        )
        .await;
    assert_eq!(
        (lost.status, lost.code()),
        (StatusCode::GATEWAY_TIMEOUT, "GatewayTimeout")
    );
    assert_eq!(
        arm.get("/apis/orders").await.body["properties"]["apiRevision"],
        "2"
    );
    assert_eq!(
        arm.delete("/apis/orders;rev=2").await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn faults_throttle_fail_and_conflict() {
    let sb = start(1).await;
    let arm = Arm::new(&sb);
    let r = arm
        .control(
            reqwest::Method::POST,
            "/_sandbox/faults",
            Some(json!({"arm-429": 1, "arm-5xx": 1, "arm-409": 1, "lro-fail": 1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let unknown = arm
        .control(
            reqwest::Method::POST,
            "/_sandbox/faults",
            Some(json!({"arm-430": 1})),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);

    let doc = swagger_with_host();
    let throttled = arm.import("f", "swagger-json", &doc, json!({})).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(throttled.code(), "SubscriptionRequestsThrottled");
    assert!(!throttled.header("retry-after").is_empty());
    let unavailable = arm.get("/apis").await;
    assert_eq!(unavailable.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(unavailable.code(), "ServiceUnavailable");
    let conflict = arm.import("f", "swagger-json", &doc, json!({})).await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);

    // lro-fail: accepted, then Failed on both the async operation and the asyncId poll.
    let accepted = arm.import("f", "swagger-json", &doc, json!({})).await;
    assert_eq!(accepted.status, StatusCode::CREATED);
    let status = arm.get(&accepted.header("azure-asyncoperation")).await;
    assert_eq!(status.body["status"], "Failed");
    assert_eq!(status.body["error"]["code"], "ValidationError");
    let (failed, _) = arm.poll(&accepted).await;
    assert_eq!(
        (failed.status, failed.code()),
        (StatusCode::BAD_REQUEST, "ValidationError")
    );
    assert_eq!(arm.get("/apis/f").await.status, StatusCode::NOT_FOUND);

    // A failed re-import leaves the previous state visible to a plain GET.
    arm.poll(&arm.import("f", "swagger-json", &doc, json!({})).await)
        .await;
    arm.control(
        reqwest::Method::POST,
        "/_sandbox/faults",
        Some(json!({"lro-fail": 1})),
    )
    .await;
    let mut v2: Value = serde_json::from_str(&doc).unwrap();
    v2["paths"].as_object_mut().unwrap().remove("/products");
    let again = arm
        .import("f", "swagger-json", &v2.to_string(), json!({}))
        .await;
    assert_eq!(again.status, StatusCode::OK);
    let (failed, _) = arm.poll(&again).await;
    assert_eq!(failed.status, StatusCode::BAD_REQUEST);
    assert_eq!(arm.all("/apis/f/operations").await.0.len(), 35);

    let log = arm
        .control(reqwest::Method::GET, "/_sandbox/requests", None)
        .await;
    let entries = log.body.as_array().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["status"] == 429 && e["method"] == "PUT")
    );
    assert!(entries.iter().any(|e| e["status"] == 503));
}

#[tokio::test]
async fn export_links_serve_apims_view_and_can_be_imported() {
    let sb = start(1).await;
    let arm = Arm::new(&sb);
    arm.poll(
        &arm.import("catalog", "swagger-json", &swagger_with_host(), json!({}))
            .await,
    )
    .await;
    let export = arm
        .get("/apis/catalog?format=openapi%2Bjson-link&export=true")
        .await;
    assert_eq!(export.status, StatusCode::OK, "{}", export.body);
    assert_eq!(export.body["format"], "openapi+json-link");
    let link = export.body["value"]["link"].as_str().unwrap().to_string();
    let anonymous = http(&sb).get(&link).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::OK);
    let doc: Value = anonymous.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(
        doc["servers"][0]["url"],
        "https://apim-sandbox.azure-api.net/catalog"
    );
    let ops: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(ops, 35);
    assert!(
        doc["components"]["schemas"]
            .as_object()
            .is_some_and(|s| !s.is_empty())
    );
    assert!(!doc.to_string().contains("#/definitions/"));

    let forged = link.replace("sig=", "sig=0");
    let denied = http(&sb).get(&forged).send().await.unwrap();
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);

    let swagger = arm
        .get("/apis/catalog?format=swagger-link&export=true")
        .await;
    let s: Value = http(&sb)
        .get(swagger.body["value"]["link"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["swagger"], "2.0");
    assert_eq!(s["host"], "apim-sandbox.azure-api.net");

    let copy = arm
        .put(
            "/apis/catalog-copy",
            json!({"properties": {"format": "openapi-link", "value": link, "path": "copy"}}),
        )
        .await;
    let (done, _) = arm.poll(&copy).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(
        done.body["properties"]["serviceUrl"],
        "https://apim-sandbox.azure-api.net/catalog"
    );
    assert_eq!(arm.all("/apis/catalog-copy/operations").await.0.len(), 35);
}

#[tokio::test]
async fn control_endpoints_replace_documents_and_dump_state() {
    let sb = start(1).await;
    let arm = Arm::new(&sb);
    let service = sb.services[0].clone();
    let r = arm
        .control(
            reqwest::Method::PUT,
            &format!("/_sandbox/services/{service}/spec"),
            Some(json!({"openapi": "3.0.1", "info": {"title": "v2", "version": "2"}, "paths": {}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let served: Value = serde_json::from_slice(&sb.shared.document(&service).unwrap()).unwrap();
    assert_eq!(served["info"]["title"], "v2");
    let missing = arm
        .control(
            reqwest::Method::PUT,
            "/_sandbox/services/nope/spec",
            Some(json!({})),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    arm.put(
        "/apis/a",
        json!({"properties": {"displayName": "A", "path": "a"}}),
    )
    .await;
    let dump = arm
        .control(reqwest::Method::GET, "/_sandbox/apim", None)
        .await;
    assert_eq!(dump.body["apis"][0]["name"], "a");

    let anon = http(&sb)
        .get(format!("{}/_sandbox/requests", sb.urls.arm))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
    let log = arm
        .control(reqwest::Method::GET, "/_sandbox/requests", None)
        .await;
    let entries = log.body.as_array().unwrap();
    assert!(entries.iter().any(|e| e["emulator"] == "arm"
        && e["method"] == "PUT"
        && e["path"].as_str().unwrap().contains("/apis/a?")
        && e["status"] == 201));
}

#[tokio::test]
async fn concurrent_writers_see_one_consistent_state() {
    let sb = start(1).await;
    let arm = Arc::new(Arm::new(&sb));
    let doc = Arc::new(swagger_with_host());
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (arm, doc) = (arm.clone(), doc.clone());
        tasks.push(tokio::spawn(async move {
            let same = arm
                .import("contended", "swagger-json", &doc, json!({}))
                .await;
            let own = arm
                .import(&format!("own-{i}"), "swagger-json", &doc, json!({}))
                .await;
            (same.status, own.status)
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        let (same, own) = t.await.unwrap();
        assert_eq!(own, StatusCode::CREATED);
        match same {
            StatusCode::CREATED => accepted += 1,
            StatusCode::CONFLICT => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(
        accepted, 1,
        "exactly one import of the same API is accepted"
    );
}

#[tokio::test]
async fn github_answers_in_octocrabs_shapes_and_records() {
    use octocrab::models::checks::CheckRun;
    use octocrab::models::issues::Comment;

    let sb = start(1).await;
    let c = http(&sb);
    let env: std::collections::HashMap<String, String> = sb.env().into_iter().collect();
    let gh = &sb.urls.github;
    let token = &sb.identity().github_token;
    let repo = format!("{gh}/repos/acme/shop");

    let created = c
        .post(format!("{repo}/check-runs"))
        .header("Authorization", format!("Bearer {token}"))
        .json(&json!({"name": "apim-gate", "head_sha": "abc123", "status": "in_progress"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let run: CheckRun = created.json().await.expect("octocrab's CheckRun");
    assert_eq!(run.name, "apim-gate");

    let updated = c
        .patch(format!("{repo}/check-runs/{}", run.id))
        .header("Authorization", format!("token {token}"))
        .json(&json!({"conclusion": "failure",
                       "output": {"title": "2 breaking changes", "summary": "removed GET /products"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), StatusCode::OK);
    let run: CheckRun = updated.json().await.unwrap();
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert!(run.completed_at.is_some());

    let invalid = c
        .post(format!("{repo}/check-runs"))
        .bearer_auth(token)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let status = c
        .post(format!("{repo}/statuses/abc123"))
        .bearer_auth(token)
        .json(&json!({"state": "success", "context": "apim-gate", "description": "published"}))
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), StatusCode::CREATED);
    let _: octocrab::models::Status = status.json().await.expect("octocrab's Status");

    let comment = c
        .post(format!("{repo}/issues/7/comments"))
        .bearer_auth(token)
        .json(&json!({"body": "first"}))
        .send()
        .await
        .unwrap();
    assert_eq!(comment.status(), StatusCode::CREATED);
    let comment: Comment = comment.json().await.expect("octocrab's Comment");
    let edited: Comment = c
        .patch(format!("{repo}/issues/comments/{}", comment.id))
        .bearer_auth(token)
        .json(&json!({"body": "second"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(edited.body.as_deref(), Some("second"));
    let list: Vec<Comment> = c
        .get(format!("{repo}/issues/7/comments"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 1);

    let bad = c
        .post(format!("{repo}/issues/7/comments"))
        .bearer_auth("ghs_wrong")
        .json(&json!({"body": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    let readonly = c
        .post(format!("{repo}/check-runs"))
        .bearer_auth(&env["SANDBOX_GITHUB_READONLY_TOKEN"])
        .json(&json!({"name": "apim-gate", "head_sha": "abc123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(readonly.status(), StatusCode::FORBIDDEN);
    let msg: Value = readonly.json().await.unwrap();
    assert_eq!(msg["message"], "Resource not accessible by integration");

    let recorded: Value = c
        .get(format!("{gh}/_sandbox/github"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(recorded["check_runs"].as_array().unwrap().len(), 1);
    assert_eq!(recorded["check_runs"][0]["conclusion"], "failure");
    assert_eq!(recorded["statuses"][0]["state"], "success");
    assert_eq!(recorded["comments"][0]["body"], "second");
}

/// Each token is someone: GET /user answers a personal access token's user and refuses an
/// installation token; GraphQL's viewer names both; comments carry their writer, a writer with
/// push access may edit anyone's comment, a reader only their own; check runs are for apps only.
#[tokio::test]
async fn github_tokens_have_identities() {
    let sb = start(1).await;
    let c = http(&sb);
    let env: std::collections::HashMap<String, String> = sb.env().into_iter().collect();
    let gh = &sb.urls.github;
    let repo = format!("{gh}/repos/acme/shop");
    let actions = &env["SANDBOX_GITHUB_TOKEN"];
    let maintainer = &env["SANDBOX_GITHUB_USER_TOKEN"];
    let contributor = &env["SANDBOX_GITHUB_OTHER_USER_TOKEN"];

    let user = |token: &str| c.get(format!("{gh}/user")).bearer_auth(token).send();
    let r = user(actions).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let msg: Value = r.json().await.unwrap();
    assert_eq!(msg["message"], "Resource not accessible by integration");
    let me: octocrab::models::Author = user(maintainer).await.unwrap().json().await.unwrap();
    assert_eq!(me.login, "sandbox-maintainer");

    let viewer = |token: &str| {
        c.post(format!("{gh}/graphql"))
            .bearer_auth(token)
            .json(&json!({"query": "query { viewer { login __typename } }"}))
            .send()
    };
    let v: Value = viewer(actions).await.unwrap().json().await.unwrap();
    assert_eq!(
        v["data"]["viewer"],
        json!({"login": "github-actions[bot]", "__typename": "Bot"})
    );
    let v: Value = viewer(contributor).await.unwrap().json().await.unwrap();
    assert_eq!(v["data"]["viewer"]["login"], "sandbox-contributor");
    assert_eq!(
        viewer("ghp_wrong").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );

    let post = |token: &str, body: &str| {
        c.post(format!("{repo}/issues/3/comments"))
            .bearer_auth(token)
            .json(&json!({ "body": body }))
            .send()
    };
    let theirs: Value = post(contributor, "mine")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["user"]["login"], "sandbox-contributor");
    assert_eq!(theirs["user"]["type"], "User");
    let ours: Value = post(actions, "ours").await.unwrap().json().await.unwrap();
    assert_eq!(ours["user"]["login"], "github-actions[bot]");
    assert_eq!(ours["user"]["type"], "Bot");

    let edit = |token: &str, id: &Value| {
        c.patch(format!("{repo}/issues/comments/{id}"))
            .bearer_auth(token)
            .json(&json!({"body": "edited"}))
            .send()
    };
    assert_eq!(
        edit(contributor, &ours["id"]).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        edit(contributor, &theirs["id"]).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        edit(actions, &theirs["id"]).await.unwrap().status(),
        StatusCode::OK
    );

    // GraphQL lists them with their authors as GraphQL names them, and says which the viewer
    // wrote. Comment ids are past 2^31 (as GitHub's are): `fullDatabaseId` (a BigInt string)
    // carries them; `databaseId` (a 32-bit Int) cannot and is a field error.
    let q = "query($n: Int!) { repository(owner: \"acme\", name: \"shop\") { pullRequest(number: $n) { comments(first: 10) { nodes { databaseId fullDatabaseId viewerDidAuthor author { __typename login } } } } } }";
    let page = |token: &str| {
        c.post(format!("{gh}/graphql"))
            .bearer_auth(token)
            .json(&json!({"query": q, "variables": {"n": 3}}))
            .send()
    };
    let page: Value = page(contributor).await.unwrap().json().await.unwrap();
    let nodes = &page["data"]["repository"]["pullRequest"]["comments"]["nodes"];
    assert!(ours["id"].as_u64().unwrap() > i32::MAX as u64);
    assert_eq!(nodes[1]["fullDatabaseId"], ours["id"].to_string());
    assert_eq!(nodes[1]["databaseId"], Value::Null);
    assert!(
        page["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("Integer out of bounds: {}", ours["id"]))),
        "{page}"
    );
    assert_eq!(nodes[0]["viewerDidAuthor"], true);
    assert_eq!(nodes[1]["viewerDidAuthor"], false);
    assert_eq!(
        nodes[0]["author"],
        json!({"__typename": "User", "login": "sandbox-contributor"})
    );
    assert_eq!(
        nodes[1]["author"],
        json!({"__typename": "Bot", "login": "github-actions"})
    );

    let check = c
        .post(format!("{repo}/check-runs"))
        .bearer_auth(maintainer)
        .json(&json!({"name": "apim-gate", "head_sha": "abc123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(check.status(), StatusCode::FORBIDDEN);
    let msg: Value = check.json().await.unwrap();
    assert_eq!(msg["message"], "You must authenticate via a GitHub App.");
}

/// `latency` holds every answer back at least that long (a remote service's round trip), each of
/// several requests in flight at once too. Only the lower bound is asserted: an upper one would be
/// a timed test on a shared machine.
#[tokio::test]
async fn latency_delays_every_answer() {
    crypto();
    let latency = std::time::Duration::from_millis(150);
    let sb = Sandbox::start(Config {
        latency,
        ..Config::default()
    })
    .await
    .expect("sandbox starts");
    let client = http(&sb);
    let openid = format!(
        "{}/{}/v2.0/.well-known/openid-configuration",
        sb.urls.entra, sb.shared.identity.tenant_id
    );
    let get = || {
        let (client, url) = (client.clone(), openid.clone());
        async move {
            let started = std::time::Instant::now();
            let status = client.get(url).send().await.unwrap().status();
            (status, started.elapsed())
        }
    };
    let (status, took) = get().await;
    assert_eq!(status, StatusCode::OK);
    assert!(took >= latency, "answered after {took:?}");
    let all = futures_util::future::join_all((0..10).map(|_| get())).await;
    for (status, took) in all {
        assert_eq!(status, StatusCode::OK);
        assert!(took >= latency, "answered after {took:?}");
    }
    let entra = sb
        .requests()
        .iter()
        .filter(|r| r.emulator == "entra")
        .count();
    assert_eq!(entra, 11);

    // Without it (the default), nothing waits: the tests' sandbox answers at once.
    assert!(Config::default().latency.is_zero());
}

/// Issue 12, item 3: a large import answered 422 ManagementApiRequestFailed still completes, and
/// writes meanwhile meet 409 PessimisticConcurrencyConflict with APIM's exact body.
#[tokio::test]
async fn import_answered_422_runs_on_and_conflicts_carry_apims_code() {
    let sb = start(2).await;
    let arm = Arm::new(&sb);
    let doc = swagger_with_host();
    arm.poll(&arm.import("big", "swagger-json", &doc, json!({})).await)
        .await;
    arm.control(
        reqwest::Method::POST,
        "/_sandbox/faults",
        Some(json!({"arm-import-422": 1, "arm-409": 1})),
    )
    .await;

    let conflict = arm
        .patch(
            "/apis/big",
            json!({"properties": {"description": "d"}}),
            Some("*"),
        )
        .await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    assert_eq!(
        conflict.body,
        json!({"error": {"code": "PessimisticConcurrencyConflict", "message": "Operation on the API is in progress", "details": null}})
    );

    let mut v2: Value = serde_json::from_str(&doc).unwrap();
    v2["paths"].as_object_mut().unwrap().remove("/products");
    let refused = arm
        .import("big", "swagger-json", &v2.to_string(), json!({}))
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.code(), "ManagementApiRequestFailed");
    assert!(refused.body["error"]["innerError"].is_null());
    assert!(refused.header("location").is_empty(), "no asyncId to poll");

    // The import runs on: the first request that touches the API counts as one poll of two, so a
    // write meets the real busy conflict, not an injected one.
    let busy = arm
        .patch(
            "/apis/big",
            json!({"properties": {"description": "d"}}),
            Some("*"),
        )
        .await;
    assert_eq!(busy.status, StatusCode::CONFLICT);
    assert_eq!(busy.code(), "PessimisticConcurrencyConflict");
    // The second completes it: the new document's operations are there.
    let (ops, _) = arm.all("/apis/big/operations").await;
    let full: Value = serde_json::from_str(&doc).unwrap();
    let before = full["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum::<usize>();
    assert!(ops.len() < before, "{} of {before}", ops.len());
    let done = arm
        .patch(
            "/apis/big",
            json!({"properties": {"description": "d"}}),
            Some("*"),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
}

/// Issue 12, item 2: a Swagger 2.0 import without `protocols` takes them from `schemes`, on
/// create and on re-import (spec example ApiManagementCreateApiUsingSwaggerImport).
#[tokio::test]
async fn swagger_schemes_become_protocols_unless_protocols_are_sent() {
    let sb = start(1).await;
    let arm = Arm::new(&sb);
    let mut doc: Value = serde_json::from_str(&swagger_with_host()).unwrap();
    doc["schemes"] = json!(["http"]);
    let http_only = doc.to_string();

    let (created, _) = arm
        .poll(&arm.import("p", "swagger-json", &http_only, json!({})).await)
        .await;
    assert_eq!(created.body["properties"]["protocols"], json!(["http"]));

    let (sent, _) = arm
        .poll(
            &arm.import(
                "p",
                "swagger-json",
                &http_only,
                json!({"protocols": ["https"]}),
            )
            .await,
        )
        .await;
    assert_eq!(sent.body["properties"]["protocols"], json!(["https"]));
    assert_eq!(
        sent.body["properties"]["serviceUrl"],
        "http://backend.internal:8443/api"
    );

    // An in-place re-import that sends none switches the gateway back to the document's schemes.
    arm.poll(&arm.import("p", "swagger-json", &http_only, json!({})).await)
        .await;
    let now = arm.get("/apis/p").await;
    assert_eq!(now.body["properties"]["protocols"], json!(["http"]));

    // Both schemes, in the document's order; OpenAPI 3 documents leave protocols alone.
    doc["schemes"] = json!(["https", "http"]);
    let (both, _) = arm
        .poll(
            &arm.import("q", "swagger-json", &doc.to_string(), json!({}))
                .await,
        )
        .await;
    assert_eq!(
        both.body["properties"]["protocols"],
        json!(["https", "http"])
    );
}

/// Issue 12, item 1: the API-wide properties change only on the current revision: PUT and PATCH
/// of another revision are refused at once, an import into one fails on its poll.
#[tokio::test]
async fn non_current_revisions_keep_the_apis_locked_properties() {
    let sb = start(1).await;
    let arm = Arm::new(&sb);
    let v1 = swagger_with_host();
    arm.poll(&arm.import("locked", "swagger-json", &v1, json!({})).await)
        .await;
    let current = arm.get("/apis/locked").await.body["properties"].clone();
    let source = format!("{}/apis/locked", arm.service);

    // Creating a revision that changes one: refused, with APIM's wording (and trailing space).
    let changed = arm
        .put(
            "/apis/locked;rev=2",
            json!({"properties": {"sourceApiId": source, "apiVersion": "v9"}}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::BAD_REQUEST, "{}", changed.body);
    assert_eq!(
        changed.body["error"]["message"],
        "Can't change property ApiVersion for non-current revision "
    );
    assert_eq!(changed.code(), "ValidationError");

    // Sending the current values is not a change.
    let staged = arm
        .put(
            "/apis/locked;rev=2",
            json!({"properties": {
                "sourceApiId": source,
                "displayName": current["displayName"],
                "path": current["path"],
                "protocols": current["protocols"],
                "subscriptionRequired": true,
                "serviceUrl": "https://elsewhere.example",
            }}),
        )
        .await;
    assert_eq!(staged.status, StatusCode::CREATED, "{}", staged.body);

    for (prop, value, label) in [
        ("displayName", json!("Renamed"), "Name"),
        ("description", json!("new words"), "Description"),
        ("path", json!("elsewhere"), "Path"),
        ("protocols", json!(["http"]), "Protocols"),
        ("subscriptionRequired", json!(false), "SubscriptionRequired"),
        ("apiVersionDescription", json!("v"), "ApiVersionDescription"),
        ("type", json!("soap"), "Type"),
    ] {
        let patch = arm
            .patch(
                "/apis/locked;rev=2",
                json!({ "properties": { prop: value } }),
                Some("*"),
            )
            .await;
        assert_eq!(
            patch.status,
            StatusCode::BAD_REQUEST,
            "{prop}: {}",
            patch.body
        );
        assert_eq!(
            patch.body["error"]["message"],
            format!("Can't change property {label} for non-current revision ")
        );
        let put = arm
            .put(
                "/apis/locked;rev=2",
                json!({ "properties": { prop: value } }),
            )
            .await;
        assert_eq!(put.status, StatusCode::BAD_REQUEST, "{prop}: {}", put.body);
    }
    // What is not API-wide still changes on the revision; the current one accepts anything.
    let ok = arm
        .patch(
            "/apis/locked;rev=2",
            json!({"properties": {"serviceUrl": "https://b.example", "apiRevisionDescription": "x"}}),
            Some("*"),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let cur = arm
        .patch(
            "/apis/locked;rev=1",
            json!({"properties": {"description": "fine here"}}),
            Some("*"),
        )
        .await;
    assert_eq!(cur.status, StatusCode::OK, "{}", cur.body);

    // An import into the revision takes title and description from the document: accepted, then
    // Failed on both pollers; the revision keeps its operations.
    let mut v2: Value = serde_json::from_str(&v1).unwrap();
    v2["info"]["title"] = json!("A new title");
    v2["paths"].as_object_mut().unwrap().remove("/products/all");
    let import = arm
        .put(
            "/apis/locked;rev=2",
            json!({"properties": {"format": "swagger-json", "value": v2.to_string(), "path": current["path"], "protocols": current["protocols"]}}),
        )
        .await;
    assert_eq!(import.status, StatusCode::OK, "{}", import.body);
    let status = arm.get(&import.header("azure-asyncoperation")).await;
    assert_eq!(status.body["status"], "Failed");
    let (failed, _) = arm.poll(&import).await;
    assert_eq!(failed.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        failed.body["error"]["message"],
        "Can't change property Name for non-current revision "
    );
    assert_eq!(arm.all("/apis/locked;rev=2/operations").await.0.len(), 35);

    // With the API's title, description and protocols sent along, the same import goes through.
    let import = arm
        .put(
            "/apis/locked;rev=2",
            json!({"properties": {"format": "swagger-json", "value": v2.to_string(),
                "path": current["path"], "protocols": current["protocols"],
                "displayName": current["displayName"], "description": "fine here"}}),
        )
        .await;
    let (done, _) = arm.poll(&import).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(arm.all("/apis/locked;rev=2/operations").await.0.len(), 34);
}

/// Issue 12, item 6: APIM does not import TRACE operations; the rest of the document imports.
#[tokio::test]
async fn trace_operations_are_not_imported() {
    let sb = start(1).await;
    let arm = Arm::new(&sb);
    let mut doc: Value = serde_json::from_str(&swagger_with_host()).unwrap();
    let paths = doc["paths"].as_object_mut().unwrap();
    let before: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    let first = paths.keys().next().unwrap().clone();
    paths[&first]["trace"] =
        json!({"operationId": "Trace_Me", "responses": {"200": {"description": "echo"}}});
    let (done, _) = arm
        .poll(
            &arm.import("t", "swagger-json", &doc.to_string(), json!({}))
                .await,
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let (ops, _) = arm.all("/apis/t/operations").await;
    assert_eq!(ops.len(), before);
    assert!(
        ops.iter()
            .all(|o| o["properties"]["method"] != "TRACE" && o["name"] != "trace-me")
    );
}

/// Issue 12, item 4: resource ids in bodies are compared literally. With a resource group that
/// holds a period, parentheses or non-ASCII letters, and an API whose name has non-ASCII
/// letters, the literal id works and a percent-encoded one names nothing.
#[tokio::test]
async fn resource_ids_in_bodies_are_literal() {
    crypto();
    for rg in ["rg.contoso_(prod)", "rg-Zürich-Åland"] {
        let sb = Sandbox::start(Config {
            retry_after: 0,
            lro_polls: 1,
            resource_group: rg.to_string(),
            ..Config::default()
        })
        .await
        .expect("sandbox starts");
        let arm = Arm::new(&sb);
        assert!(arm.service.contains(rg));
        let api = "bücher";
        let accepted = arm
            .import(api, "swagger-json", &swagger_with_host(), json!({}))
            .await;
        assert_eq!(
            accepted.status,
            StatusCode::CREATED,
            "{rg}: {}",
            accepted.body
        );
        let (created, _) = arm.poll(&accepted).await;
        assert_eq!(created.status, StatusCode::OK, "{rg}: {}", created.body);
        assert_eq!(
            created.body["id"],
            format!("{}/apis/{api}", arm.service),
            "ids in answers are literal too"
        );

        let encoded_service = arm
            .service
            .replace('(', "%28")
            .replace(')', "%29")
            .replace('ü', "%C3%BC")
            .replace('Å', "%C3%85");
        for source in [
            format!("{encoded_service}/apis/{api}"),
            format!("{}/apis/b%C3%BCcher", arm.service),
        ] {
            let refused = arm
                .put(
                    &format!("/apis/{api};rev=2"),
                    json!({"properties": {"sourceApiId": source}}),
                )
                .await;
            assert_eq!(
                refused.status,
                StatusCode::NOT_FOUND,
                "{source}: {}",
                refused.body
            );
        }
        let staged = arm
            .put(
                &format!("/apis/{api};rev=2"),
                json!({"properties": {"sourceApiId": format!("{}/apis/{api}", arm.service)}}),
            )
            .await;
        assert_eq!(staged.status, StatusCode::CREATED, "{rg}: {}", staged.body);

        for api_id in [
            format!("{encoded_service}/apis/{api};rev=2"),
            format!("{}/apis/{api}%3Brev%3D2", arm.service),
        ] {
            let refused = arm
                .put(
                    &format!("/apis/{api}/releases/r1"),
                    json!({"properties": {"apiId": api_id}}),
                )
                .await;
            assert_eq!(
                refused.status,
                StatusCode::BAD_REQUEST,
                "{api_id}: {}",
                refused.body
            );
            assert_eq!(refused.code(), "ValidationError");
        }
        let released = arm
            .put(
                &format!("/apis/{api}/releases/r1"),
                json!({"properties": {"apiId": format!("{}/apis/{api};rev=2", arm.service)}}),
            )
            .await;
        assert_eq!(
            released.status,
            StatusCode::CREATED,
            "{rg}: {}",
            released.body
        );
        let now = arm.get(&format!("/apis/{api}")).await;
        assert_eq!(now.body["properties"]["apiRevision"], "2");
    }
}

/// Issue 12, item 5: the export link is served from another origin than ARM and refuses a
/// request carrying a bearer token; inline exports carry the document in `value`.
#[tokio::test]
async fn export_links_live_elsewhere_and_refuse_bearer_tokens() {
    let sb = start(1).await;
    let arm = Arm::new(&sb);
    arm.poll(
        &arm.import("exp", "swagger-json", &swagger_with_host(), json!({}))
            .await,
    )
    .await;
    let export = arm
        .get("/apis/exp?format=openapi%2Bjson-link&export=true")
        .await;
    assert_eq!(export.status, StatusCode::OK, "{}", export.body);
    let link = export.body["value"]["link"].as_str().unwrap().to_string();
    let origin = |u: &str| {
        let rest = u.split_once("://").unwrap().1;
        rest.split('/').next().unwrap().to_string()
    };
    assert_ne!(origin(&link), origin(&sb.urls.arm), "{link}");
    assert!(link.starts_with(&sb.urls.blob));

    let with_token = http(&sb)
        .get(&link)
        .bearer_auth(&sb.arm_token)
        .send()
        .await
        .unwrap();
    assert_eq!(with_token.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        with_token.headers()["x-ms-error-code"],
        "AuthenticationFailed"
    );
    assert!(
        with_token
            .text()
            .await
            .unwrap()
            .contains("Authentication scheme Bearer is not supported")
    );
    let anonymous = http(&sb).get(&link).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::OK);
    let doc: Value = anonymous.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.0.1");
    // The ARM listener no longer serves blobs.
    let path = link.strip_prefix(&sb.urls.blob).unwrap();
    let on_arm = http(&sb)
        .get(format!("{}{path}", sb.urls.arm))
        .send()
        .await
        .unwrap();
    assert_ne!(on_arm.status(), StatusCode::OK);

    // Inline: the document itself in `value` (an object for JSON, text for YAML).
    let inline = arm.get("/apis/exp?format=openapi%2Bjson&export=true").await;
    assert_eq!(inline.status, StatusCode::OK, "{}", inline.body);
    assert_eq!(inline.body["format"], "openapi+json");
    assert_eq!(inline.body["value"], doc);
    let swagger = arm.get("/apis/exp?format=swagger&export=true").await;
    assert_eq!(swagger.body["value"]["swagger"], "2.0");
    let yaml = arm.get("/apis/exp?format=openapi&export=true").await;
    assert!(yaml.body["value"].as_str().unwrap().contains("\"openapi\""));
    let unknown = arm.get("/apis/exp?format=swagger-json&export=true").await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.code(), "ValidationError");
}

/// Issue 12, item 7: every answer that leaves an operation running tells the client how long to
/// wait before polling again, as ARM does, and the finished answers do not.
#[tokio::test]
async fn long_running_answers_carry_retry_after() {
    crypto();
    let sb = Sandbox::start(Config {
        retry_after: 7,
        lro_polls: 2,
        ..Config::default()
    })
    .await
    .expect("sandbox starts");
    let arm = Arm::new(&sb);
    let doc = swagger_with_host();
    let created = arm.import("ra", "swagger-json", &doc, json!({})).await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.header("retry-after"), "7");
    let running = arm.get(&created.header("location")).await;
    assert_eq!(running.status, StatusCode::ACCEPTED);
    assert_eq!(running.header("retry-after"), "7");
    let status = arm.get(&created.header("azure-asyncoperation")).await;
    assert_eq!(status.body["status"], "Succeeded");
    assert!(status.header("retry-after").is_empty());

    let updated = arm.import("ra", "swagger-json", &doc, json!({})).await;
    assert_eq!(updated.status, StatusCode::OK);
    assert_eq!(updated.header("retry-after"), "7");
    let in_progress = arm.get(&updated.header("azure-asyncoperation")).await;
    assert_eq!(in_progress.body["status"], "InProgress");
    assert_eq!(in_progress.header("retry-after"), "7");
    let done = arm.get(&updated.header("location")).await;
    assert_eq!(done.status, StatusCode::OK);
    assert!(done.header("retry-after").is_empty());

    let deleted = arm.delete("/apis/ra").await;
    assert_eq!(deleted.status, StatusCode::ACCEPTED);
    assert_eq!(deleted.header("retry-after"), "7");
}

/// The target and message of an APIM ValidationError.
fn detail(r: &Reply) -> (String, String) {
    let d = &r.body["error"]["details"][0];
    (
        d["target"].as_str().unwrap_or("").to_string(),
        d["message"].as_str().unwrap_or("").to_string(),
    )
}

#[tokio::test]
async fn policies_are_well_formed_and_name_what_exists() {
    let sb = start(1).await;
    let arm = Arm::new(&sb);
    let api = arm
        .put(
            "/apis/shop",
            json!({"properties": {"displayName": "Shop", "path": "shop"}}),
        )
        .await;
    assert_eq!(api.status, StatusCode::CREATED, "{}", api.body);
    let put = |value: &str, format: &str| json!({"properties": {"format": format, "value": value}});

    let malformed = arm
        .put(
            "/apis/shop/policies/policy",
            put(
                "<policies>\n  <inbound>\n  </outbound>\n</policies>",
                "rawxml",
            ),
        )
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.code(), "ValidationError");
    let (target, message) = detail(&malformed);
    assert_eq!(target, "representation");
    assert!(
        message.contains("'inbound' start tag on line 2 position 4")
            && message.ends_with("Line 3, position 5."),
        "{message}"
    );

    let quoted = "<policies><inbound><set-variable name=\"v\" value=\"@(context.Request.Headers.GetValueOrDefault(\"a\"))\" /></inbound></policies>";
    let as_xml = arm
        .put("/apis/shop/policies/policy", put(quoted, "xml"))
        .await;
    assert_eq!(as_xml.status, StatusCode::BAD_REQUEST);
    assert!(
        detail(&as_xml).1.contains("Expecting white space"),
        "{}",
        as_xml.body
    );

    let uses = "<policies>\n  <inbound>\n    <set-header name=\"k\" exists-action=\"override\"><value>{{api-key}}</value></set-header>\n  </inbound>\n</policies>";
    let missing = arm
        .put("/apis/shop/policies/policy", put(uses, "rawxml"))
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        detail(&missing),
        (
            "value".to_string(),
            "Error in element 'value' on line 3, column 52: Cannot find a property 'api-key'."
                .to_string()
        )
    );
    let nv = arm
        .put(
            "/namedValues/api-key",
            json!({"properties": {"displayName": "api-key", "value": "k1", "secret": true}}),
        )
        .await;
    assert_eq!(nv.status, StatusCode::CREATED, "{}", nv.body);
    assert!(nv.header("location").contains("/namedValues/api-key?"));
    assert!(
        nv.body["properties"].get("value").is_none(),
        "secret values are not returned"
    );
    let ok = arm
        .put("/apis/shop/policies/policy", put(uses, "rawxml"))
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);

    let routed =
        "<policies><inbound><set-backend-service backend-id=\"shop-nodes\" /></inbound></policies>";
    let no_backend = arm
        .put("/apis/shop/policies/policy", put(routed, "rawxml"))
        .await;
    assert_eq!(
        detail(&no_backend),
        (
            "set-backend-service".to_string(),
            "Error in element 'set-backend-service' on line 1, column 21: Backend with id 'shop-nodes' could not be found.".to_string()
        )
    );

    let link = arm
        .put(
            "/apis/shop/policies/policy",
            put("https://example.com/p.xml", "rawxml-link"),
        )
        .await;
    assert_eq!(link.status, StatusCode::BAD_REQUEST);
    assert!(detail(&link).1.contains("no network"), "{}", link.body);
    let other_id = arm
        .put("/apis/shop/policies/mine", put(uses, "rawxml"))
        .await;
    assert_eq!(other_id.status, StatusCode::BAD_REQUEST);

    // If-Match: a stale ETag is refused; DELETE requires one.
    let stale = arm
        .send(
            reqwest::Method::PUT,
            arm.url("/apis/shop/policies/policy"),
            Some(put(uses, "rawxml")),
            Some("\"stale\""),
        )
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    let head = arm
        .send(
            reqwest::Method::HEAD,
            arm.url("/apis/shop/policies/policy"),
            None,
            None,
        )
        .await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.header("etag"), ok.header("etag"));
    assert_eq!(
        arm.delete("/apis/shop/policies/policy").await.status,
        StatusCode::BAD_REQUEST
    );
    let gone = arm
        .send(
            reqwest::Method::DELETE,
            arm.url("/apis/shop/policies/policy"),
            None,
            Some(&ok.header("etag")),
        )
        .await;
    assert_eq!(gone.status, StatusCode::OK);
    assert_eq!(
        arm.get("/apis/shop/policies/policy").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_revisions_policy_goes_live_with_its_release() {
    let sb = start(1).await;
    let arm = Arm::new(&sb);
    arm.put(
        "/apis/shop",
        json!({"properties": {"displayName": "Shop", "path": "shop"}}),
    )
    .await;
    let live = "<policies><inbound><base /></inbound></policies>";
    let staged =
        "<policies><inbound><rate-limit calls=\"5\" renewal-period=\"60\" /></inbound></policies>";
    let body = |v: &str| json!({"properties": {"format": "rawxml", "value": v}});
    assert_eq!(
        arm.put("/apis/shop/policies/policy", body(live))
            .await
            .status,
        StatusCode::CREATED
    );
    let rev = arm
        .put(
            "/apis/shop;rev=2",
            json!({"properties": {"sourceApiId": format!("{}/apis/shop", arm.service)}}),
        )
        .await;
    assert_eq!(rev.status, StatusCode::CREATED, "{}", rev.body);
    // The new revision starts with a copy of the current policy, then changes alone.
    let copied = arm
        .get("/apis/shop;rev=2/policies/policy?format=rawxml")
        .await;
    assert_eq!(copied.body["properties"]["value"], live);
    assert_eq!(
        arm.put("/apis/shop;rev=2/policies/policy", body(staged))
            .await
            .status,
        StatusCode::OK
    );
    let read = |r: Reply| {
        r.body["properties"]["value"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(
        read(arm.get("/apis/shop/policies/policy?format=rawxml").await),
        live
    );
    let release = arm
        .put(
            "/apis/shop/releases/r2",
            json!({"properties": {"apiId": format!("{}/apis/shop;rev=2", arm.service)}}),
        )
        .await;
    assert_eq!(release.status, StatusCode::CREATED, "{}", release.body);
    assert_eq!(
        read(arm.get("/apis/shop/policies/policy?format=rawxml").await),
        staged
    );

    // Fault arm-policy-500: the policy PUT answers APIM's 500 and stores nothing.
    let r = arm
        .control(
            reqwest::Method::POST,
            "/_sandbox/faults",
            Some(json!({"arm-policy-500": 1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let failed = arm.put("/apis/shop/policies/policy", body(live)).await;
    assert_eq!(
        (failed.status, failed.code()),
        (StatusCode::INTERNAL_SERVER_ERROR, "InternalServerError")
    );
    assert_eq!(
        read(arm.get("/apis/shop/policies/policy?format=rawxml").await),
        staged
    );
    assert_eq!(
        arm.put("/apis/shop/policies/policy", body(live))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn backends_and_version_sets_refuse_what_apim_refuses() {
    let sb = start(1).await;
    let arm = Arm::new(&sb);
    let breaker = |rules: usize| {
        let rule = json!({"name": "r", "failureCondition": {"count": 3, "interval": "PT1M",
            "statusCodeRanges": [{"min": 500, "max": 599}]}, "tripDuration": "PT30S"});
        json!({"rules": vec![rule; rules]})
    };
    let no_url = arm
        .put("/backends/n1", json!({"properties": {"protocol": "http"}}))
        .await;
    assert_eq!(detail(&no_url).0, "url");
    let two_rules = arm
        .put(
            "/backends/n1",
            json!({"properties": {"url": "http://10.0.0.1:30080", "protocol": "http", "circuitBreaker": breaker(2)}}),
        )
        .await;
    assert!(
        detail(&two_rules).1.contains("exactly one rule"),
        "{}",
        two_rules.body
    );
    let n1 = arm
        .put(
            "/backends/n1",
            json!({"properties": {"url": "http://10.0.0.1:30080", "protocol": "http", "circuitBreaker": breaker(1)}}),
        )
        .await;
    assert_eq!(n1.status, StatusCode::CREATED, "{}", n1.body);
    let member = |n: &str| json!({"id": format!("{}/backends/{n}", arm.service), "priority": 1});
    let missing = arm
        .put(
            "/backends/nodes",
            json!({"properties": {"type": "Pool", "pool": {"services": [member("n1"), member("n2")]}}}),
        )
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(detail(&missing).0, "pool.services[1]");
    let pool = arm
        .put(
            "/backends/nodes",
            json!({"properties": {"type": "Pool", "pool": {"services": [member("n1")]}}}),
        )
        .await;
    assert_eq!(pool.status, StatusCode::CREATED, "{}", pool.body);
    assert_eq!(pool.body["properties"]["url"], Value::Null);
    let nested = arm
        .put(
            "/backends/outer",
            json!({"properties": {"type": "Pool", "pool": {"services": [member("nodes")]}}}),
        )
        .await;
    assert!(detail(&nested).1.contains("is a pool"), "{}", nested.body);

    let query = arm
        .put(
            "/apiVersionSets/orders",
            json!({"properties": {"displayName": "Orders", "versioningScheme": "Query"}}),
        )
        .await;
    assert_eq!(detail(&query).0, "versionQueryName");
    let set = arm
        .put(
            "/apiVersionSets/orders",
            json!({"properties": {"displayName": "Orders", "versioningScheme": "Header", "versionHeaderName": "api-version"}}),
        )
        .await;
    assert_eq!(set.status, StatusCode::CREATED, "{}", set.body);
    let set_id = format!("{}/apiVersionSets/orders", arm.service);
    let api = |path: &str, version: &str| json!({"properties": {"displayName": "Orders", "path": path, "apiVersion": version, "apiVersionSetId": set_id}});
    let v1 = arm.put("/apis/orders-v1", api("orders", "v1")).await;
    assert_eq!(v1.status, StatusCode::CREATED, "{}", v1.body);
    assert_eq!(
        v1.body["properties"]["apiVersionSet"]["versionHeaderName"],
        "api-version"
    );
    assert_eq!(
        detail(&arm.put("/apis/orders-v2", api("other", "v2")).await).0,
        "path"
    );
    assert_eq!(
        detail(&arm.put("/apis/orders-v2", api("orders", "v1")).await).0,
        "apiVersion"
    );
    assert_eq!(
        arm.put("/apis/orders-v2", api("orders", "v2")).await.status,
        StatusCode::CREATED
    );
    let unknown = json!({"properties": {"displayName": "X", "path": "x", "apiVersion": "v1",
        "apiVersionSetId": format!("{}/apiVersionSets/nope", arm.service)}});
    assert_eq!(
        detail(&arm.put("/apis/x-v1", unknown).await).0,
        "apiVersionSetId"
    );
}

//! The GitHub calls of the GitHub reporter, through octocrab: the check run on the head commit
//! (annotations in batches of 50) and the one pull-request comment found again by a hidden marker
//! and by its author being the token's own identity. Also where the run is: repository, head SHA,
//! pull request, API URL (GHES).
//!
//! octocrab gets its own hyper client so the `ca-certificates` roots are trusted next to the
//! system's: a GitHub Enterprise Server behind a corporate CA, and the sandbox, need them.

// octocrab's errors go through the one conversion every error takes.
use crate::redact::error_chain;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper::Uri;
use hyper::header::{ACCEPT, HeaderName, HeaderValue, USER_AGENT};
use octocrab::models::CheckRunId;
use octocrab::models::issues::Comment;
use octocrab::params::checks::{
    CheckRunConclusion, CheckRunOutput, CheckRunOutputAnnotation, CheckRunOutputAnnotationLevel,
    CheckRunStatus,
};
use octocrab::service::middleware::auth_header::AuthHeaderLayer;
use octocrab::service::middleware::base_uri::BaseUriLayer;
use octocrab::service::middleware::extra_headers::ExtraHeadersLayer;
use octocrab::{AuthState, Octocrab, OctocrabBuilder};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::gate::verdict::{Outcome, Verdict};
use crate::inputs::Env;
use crate::proxy::{NameProxy, ProxyEnv};
use crate::report::markdown;
use crate::report::text::Cleaner;
use crate::spec::Level;

/// The checks API takes at most 50 annotations per request.
pub const ANNOTATION_BATCH: usize = 50;
/// Beyond this the check run says how many more there are: each batch is a request.
pub const MAX_ANNOTATIONS: usize = 1000;
/// One slow GitHub call must not hold a release pipeline.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the run is, from the runner's variables.
#[derive(Clone, Debug)]
pub struct Context {
    pub api_url: String,
    pub owner: String,
    pub repo: String,
    /// The pull request's head on pull-request events (`GITHUB_SHA` is the merge commit there).
    pub head_sha: String,
    pub pull_request: Option<u64>,
    /// The workflow run, for the check run's "details" link.
    pub details_url: Option<String>,
}

impl Context {
    pub fn from_env(env: &Env) -> Result<Context, String> {
        let api_url = env
            .get("GITHUB_API_URL")
            .filter(|v| !v.is_empty())
            .unwrap_or("https://api.github.com")
            .trim_end_matches('/')
            .to_string();
        let repository = env
            .get("GITHUB_REPOSITORY")
            .filter(|v| !v.is_empty())
            .ok_or("GITHUB_REPOSITORY is not set")?;
        let (owner, repo) = repository
            .split_once('/')
            .ok_or_else(|| format!("GITHUB_REPOSITORY {repository:?} is not owner/name"))?;
        let event = env
            .get("GITHUB_EVENT_PATH")
            .filter(|p| !p.is_empty())
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
        let pr = event.as_ref().and_then(|e| e.get("pull_request"));
        let pull_request = pr.and_then(|p| p.get("number")).and_then(|n| n.as_u64());
        let pr_head = pr
            .and_then(|p| p.pointer("/head/sha"))
            .and_then(|s| s.as_str())
            .map(str::to_string);
        let head_sha = pr_head
            .or_else(|| env.get("GITHUB_SHA").map(str::to_string))
            .filter(|s| !s.is_empty())
            .ok_or("GITHUB_SHA is not set")?;
        let details_url = match (env.get("GITHUB_SERVER_URL"), env.get("GITHUB_RUN_ID")) {
            (Some(server), Some(run)) if !server.is_empty() && !run.is_empty() => Some(format!(
                "{}/{repository}/actions/runs/{run}",
                server.trim_end_matches('/')
            )),
            _ => None,
        };
        Ok(Context {
            api_url,
            owner: owner.to_string(),
            repo: repo.to_string(),
            head_sha,
            pull_request,
            details_url,
        })
    }
}

/// Why a GitHub call did not deliver.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 403: the workflow's token lacks the permission. A warning, never a failed gate.
    #[error(
        "GitHub refused to {what} (403: {message}): the token lacks `{permission}`. Add `permissions: {permission}` to the job, or turn {input} off"
    )]
    Permission {
        what: &'static str,
        permission: &'static str,
        input: &'static str,
        message: String,
    },
    #[error("could not {what}: {message}")]
    Other { what: &'static str, message: String },
    /// A comment id GraphQL gave that is not a decimal u64: the comment cannot be addressed.
    #[error(
        "could not read the pull request's comments: GitHub GraphQL answered fullDatabaseId '{value}' for the gate's comment, which is not a comment id (a decimal number); nothing was posted. Turn pr-comment off for this run and report it to apim-gate"
    )]
    CommentId { value: String },
}

struct Call {
    what: &'static str,
    permission: &'static str,
    input: &'static str,
}

const CHECK: Call = Call {
    what: "create the check run",
    permission: "checks: write",
    input: "check-run",
};
const COMMENT: Call = Call {
    what: "write the pull-request comment",
    permission: "pull-requests: write",
    input: "pr-comment",
};

async fn call<T>(
    c: &Call,
    fut: impl std::future::Future<Output = octocrab::Result<T>>,
) -> Result<T, ApiError> {
    match tokio::time::timeout(CALL_TIMEOUT, fut).await {
        Err(_) => Err(ApiError::Other {
            what: c.what,
            message: format!("no answer from GitHub in {}s", CALL_TIMEOUT.as_secs()),
        }),
        Ok(Ok(v)) => Ok(v),
        Ok(Err(octocrab::Error::GitHub { source, .. })) if source.status_code.as_u16() == 403 => {
            Err(ApiError::Permission {
                what: c.what,
                permission: c.permission,
                input: c.input,
                message: source.message.clone(),
            })
        }
        Ok(Err(octocrab::Error::GitHub { source, .. })) => Err(ApiError::Other {
            what: c.what,
            message: format!("GitHub answered {}: {}", source.status_code, source.message),
        }),
        Ok(Err(e)) => Err(ApiError::Other {
            what: c.what,
            message: error_chain(&e),
        }),
    }
}

/// The two endpoints the reporter talks to, with the same token and TLS roots: REST at
/// `GITHUB_API_URL`, GraphQL at its sibling (`/graphql` on github.com, `/api/graphql` on GHES).
pub struct GitHub {
    pub rest: Octocrab,
    graphql: Octocrab,
}

/// Where GraphQL answers, for a REST API URL: `https://api.github.com` → `…/graphql`,
/// `https://HOST/api/v3` (GHES) → `https://HOST/api/graphql`. octocrab appends `/graphql` to a
/// client's base, so this returns that base.
/// <https://docs.github.com/en/graphql/guides/forming-calls-with-graphql#the-graphql-endpoint>,
/// <https://docs.github.com/en/enterprise-server@3.13/graphql/guides/forming-calls-with-graphql#the-graphql-endpoint>
pub fn graphql_base(api_url: &str) -> &str {
    let api_url = api_url.trim_end_matches('/');
    match api_url.strip_suffix("/api/v3") {
        Some(host) => &api_url[..host.len() + "/api".len()],
        None => api_url,
    }
}

/// Octocrab clients for `api_url` with the token, trusting the system's roots and those in
/// `ca_file`.
pub fn client(
    api_url: &str,
    token: &str,
    ca_file: Option<&Path>,
    env: &Env,
) -> Result<GitHub, String> {
    let proxies = ProxyEnv::from_env(env).map_err(|e| e.to_string())?;
    let mut roots = rustls::RootCertStore::empty();
    // Unreadable system stores are not fatal: the extra roots may be all that is needed.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("cannot read ca-certificates {}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "ca-certificates {} holds no PEM certificate",
                path.display()
            ));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| {
                format!(
                    "a certificate in ca-certificates {} is not usable: {e}",
                    path.display()
                )
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();

    let base: Uri = api_url
        .parse()
        .map_err(|e| format!("GITHUB_API_URL {api_url:?} is not a URL: {e}"))?;
    let target = reqwest::Url::parse(api_url)
        .map_err(|e| format!("GITHUB_API_URL {api_url:?} is not a URL: {e}"))?;
    let mut auth = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| "github-token holds characters a header cannot carry".to_string())?;
    auth.set_sensitive(true);
    // REST and GraphQL live on the API URL's host, so one proxy answer holds for both clients.
    match proxies.for_url(&target) {
        None => {
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls)
                .https_or_http()
                .enable_http1()
                .build();
            clients_over(connector, api_url, auth)
        }
        Some(proxy) => {
            // hyper-util's matcher reads the user and password out of the URL (percent-decoded)
            // into the Proxy-Authorization header, as reqwest does with the same URL.
            let matcher = hyper_util::client::proxy::matcher::Matcher::builder()
                .all(proxy.expose().to_string())
                .build();
            let intercept = matcher
                .intercept(&base)
                .ok_or_else(|| format!("the proxy {proxy} cannot carry {api_url}"))?;
            let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
            http.enforce_http(false);
            if intercept.uri().scheme_str() == Some("https") {
                // An https:// proxy is spoken to over TLS, the CONNECT inside it, as reqwest and
                // Go's net/http do (the proxy module's rules); the proxy's certificate is checked
                // against the same roots.
                let to_proxy = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(tls.clone())
                    .https_only()
                    .enable_http1()
                    .wrap_connector(http);
                tunnel_clients(to_proxy, &intercept, tls, &proxies, api_url, auth)
            } else {
                tunnel_clients(http, &intercept, tls, &proxies, api_url, auth)
            }
        }
    }
}

/// The clients through a CONNECT tunnel opened over `to_proxy`, TLS to GitHub inside it.
fn tunnel_clients<C>(
    to_proxy: C,
    intercept: &hyper_util::client::proxy::matcher::Intercept,
    tls: rustls::ClientConfig,
    proxies: &ProxyEnv,
    api_url: &str,
    auth: HeaderValue,
) -> Result<GitHub, String>
where
    C: tower_service::Service<Uri> + Clone + Send + Sync + 'static,
    C::Response: hyper::rt::Read
        + hyper::rt::Write
        + hyper_util::client::legacy::connect::Connection
        + Send
        + Unpin
        + 'static,
    C::Future: Send + 'static,
    C::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut tunnel =
        hyper_util::client::legacy::connect::proxy::Tunnel::new(intercept.uri().clone(), to_proxy);
    if let Some(basic) = intercept.basic_auth() {
        tunnel = tunnel.with_auth(basic.clone());
    }
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(tunnel);
    let named = tower_layer::Layer::layer(&NameProxy::new(proxies), connector);
    clients_over(named, api_url, auth)
}

/// The REST and GraphQL clients over one hyper client with `connector`, sending the API's headers
/// and the token.
fn clients_over<C>(connector: C, api_url: &str, auth: HeaderValue) -> Result<GitHub, String>
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, octocrab::OctoBody>(connector);
    let headers: Arc<Vec<(HeaderName, HeaderValue)>> = Arc::new(vec![
        (
            USER_AGENT,
            HeaderValue::from_static(concat!("apim-gate/", env!("CARGO_PKG_VERSION"))),
        ),
        (
            ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        ),
        (
            HeaderName::from_static("x-github-api-version"),
            HeaderValue::from_static("2022-11-28"),
        ),
    ]);
    let build = |url: &str| -> Result<Octocrab, String> {
        let base: Uri = url
            .parse()
            .map_err(|e| format!("GITHUB_API_URL {api_url:?} is not a URL: {e}"))?;
        OctocrabBuilder::new_empty()
            .with_service(http.clone())
            .with_layer(&BaseUriLayer::new(base.clone()))
            .with_layer(&ExtraHeadersLayer::new(headers.clone()))
            .with_layer(&AuthHeaderLayer::new(
                Some(auth.clone()),
                base.clone(),
                base,
            ))
            .with_auth(AuthState::None)
            .build()
            .map_err(|e| match e {})
    };
    Ok(GitHub {
        rest: build(api_url)?,
        graphql: build(graphql_base(api_url))?,
    })
}

fn conclusion(verdict: &Verdict) -> CheckRunConclusion {
    match verdict.outcome {
        Outcome::Passed if verdict.publish.as_ref().is_some_and(|p| p.dry_run) => {
            CheckRunConclusion::Neutral
        }
        Outcome::Passed => CheckRunConclusion::Success,
        Outcome::Refused | Outcome::Failed => CheckRunConclusion::Failure,
    }
}

/// The check run's name: one per service, so several services in one workflow do not collide;
/// a drift check's has its own name, so it never takes the place of the release's on a commit.
pub fn check_name(verdict: &Verdict, clean: &Cleaner) -> String {
    let what = if verdict.is_check() {
        "apim-gate check"
    } else {
        "apim-gate"
    };
    format!("{what} ({})", clean.line(&verdict.service))
}

fn cut(s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn annotations(verdict: &Verdict, clean: &Cleaner, path: &str) -> Vec<CheckRunOutputAnnotation> {
    crate::report::sorted_findings(verdict)
        .into_iter()
        .take(MAX_ANNOTATIONS)
        .map(|f| {
            let level = match f.finding.level {
                Level::Error => CheckRunOutputAnnotationLevel::Failure,
                Level::Warning => CheckRunOutputAnnotationLevel::Warning,
                Level::Info => CheckRunOutputAnnotationLevel::Notice,
            };
            let title = match &f.finding.operation {
                Some(op) => format!("{} ({})", clean.line(&f.finding.id), clean.line(op)),
                None => clean.line(&f.finding.id),
            };
            CheckRunOutputAnnotation {
                path: path.to_string(),
                start_line: 1,
                end_line: 1,
                start_column: None,
                end_column: None,
                annotation_level: level,
                message: cut(clean.text(&f.finding.message), 4000),
                title: Some(cut(title, 250)),
                raw_details: Some(cut(clean.line(&f.finding.path), 4000)),
            }
        })
        .collect()
}

/// Creates the check run on the head commit: the verdict as conclusion, the summary, and the
/// findings as annotations, 50 per request. Returns its URL.
pub async fn check_run(
    octo: &Octocrab,
    ctx: &Context,
    verdict: &Verdict,
    clean: &Cleaner,
    annotation_path: &str,
) -> Result<Option<String>, ApiError> {
    let title = format!(
        "{}: {}",
        verdict.outcome.as_str(),
        clean.line(&verdict.service)
    );
    let mut summary = markdown::summary(verdict, clean, markdown::COMMENT_BUDGET, None);
    let all = annotations(verdict, clean, annotation_path);
    if verdict.findings.len() > all.len() {
        summary.push_str(&format!(
            "\n_{} findings are annotated here; the job summary and log list all {}._\n",
            all.len(),
            verdict.findings.len()
        ));
    }
    let output = |annotations: Vec<CheckRunOutputAnnotation>| CheckRunOutput {
        title: title.clone(),
        summary: summary.clone(),
        text: None,
        annotations,
        images: Vec::new(),
    };
    let mut batches: Vec<Vec<CheckRunOutputAnnotation>> = Vec::new();
    let mut rest = all.into_iter().peekable();
    while rest.peek().is_some() {
        batches.push(rest.by_ref().take(ANNOTATION_BATCH).collect());
    }
    let mut batches = batches.into_iter();
    let first = batches.next().unwrap_or_default();
    let more = batches.len();

    let checks = octo.checks(&ctx.owner, &ctx.repo);
    let mut create = checks
        .create_check_run(check_name(verdict, clean), &ctx.head_sha)
        .external_id(clean.line(&verdict.service))
        .output(output(first));
    if let Some(url) = &ctx.details_url {
        create = create.details_url(url);
    }
    create = if more == 0 {
        create
            .status(CheckRunStatus::Completed)
            .conclusion(conclusion(verdict))
    } else {
        create.status(CheckRunStatus::InProgress)
    };
    let run = call(&CHECK, create.send()).await?;
    let id: CheckRunId = run.id;
    for (i, batch) in batches.enumerate() {
        let mut update = checks.update_check_run(id).output(output(batch));
        if i + 1 == more {
            update = update
                .status(CheckRunStatus::Completed)
                .conclusion(conclusion(verdict));
        }
        call(&CHECK, update.send()).await?;
    }
    Ok(run.html_url)
}

/// The hidden marker that finds this service's comment again.
pub fn comment_marker(verdict: &Verdict) -> String {
    // `--` would end the HTML comment early.
    let service: String = verdict
        .service
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_'))
        .collect();
    format!("<!-- apim-gate:{service} -->")
}

/// The hidden marker of a run of several services: one comment for the run, found again by
/// the same set of services (another workflow gating other services keeps its own).
pub fn services_marker(verdicts: &[Verdict]) -> String {
    use sha2::{Digest, Sha256};
    let mut services: Vec<&str> = verdicts.iter().map(|v| v.service.as_str()).collect();
    services.sort_unstable();
    let digest = Sha256::digest(services.join("\n").as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("<!-- apim-gate:services:{hex} -->")
}

/// One page of the pull request's comments, with who the token is, in one GraphQL request: the
/// way marocchino/sticky-pull-request-comment finds its own comment. `viewer` works for every
/// kind of token, GitHub App installation tokens (the Actions `GITHUB_TOKEN`) included, which
/// REST `GET /user` refuses.
/// <https://docs.github.com/en/graphql/reference/queries#viewer>
///
/// The id is `fullDatabaseId`, a `BigInt` GitHub encodes as a string: `databaseId` is a 32-bit
/// `Int`, deprecated because it "does not support 64-bit signed integer identifiers", and issue
/// comment ids are past 2^31 (octokit/octokit.graphql.net#312).
/// <https://docs.github.com/en/graphql/reference/objects#issuecomment>
const COMMENTS_QUERY: &str =
    "query($owner: String!, $repo: String!, $number: Int!, $after: String) {
  viewer { login }
  repository(owner: $owner, name: $repo) {
    pullRequest(number: $number) {
      comments(first: 100, after: $after) {
        nodes { fullDatabaseId viewerDidAuthor body author { __typename login } }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
}";

#[derive(serde::Deserialize)]
struct GraphqlAnswer<T> {
    data: Option<T>,
    #[serde(default)]
    errors: Vec<GraphqlError>,
}

#[derive(serde::Deserialize)]
struct GraphqlError {
    message: String,
    /// GitHub's error class (`FORBIDDEN`, `NOT_FOUND`, …), beside the spec's fields.
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

#[derive(serde::Deserialize)]
struct CommentsData {
    viewer: Login,
    repository: Option<Repository>,
}

#[derive(serde::Deserialize)]
struct Login {
    login: String,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Repository {
    pull_request: Option<PullRequest>,
}

#[derive(serde::Deserialize)]
struct PullRequest {
    comments: CommentPage,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommentPage {
    nodes: Vec<Option<CommentNode>>,
    page_info: PageInfo,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommentNode {
    /// A `BigInt`: a decimal string.
    full_database_id: Option<String>,
    /// GitHub's own answer to "did the token's identity write this?"; required together with
    /// [`written_by`], so a comment counts as the gate's only when both agree.
    viewer_did_author: bool,
    body: String,
    /// None when the author's account was deleted ("ghost").
    author: Option<Author>,
}

#[derive(serde::Deserialize)]
struct Author {
    #[serde(rename = "__typename")]
    kind: String,
    login: String,
}

/// Whether `author` is the token's own identity (`viewer`). GraphQL names a GitHub App's bot
/// `<slug>[bot]` as the viewer but `<slug>` (type `Bot`) as a comment's author; a user is the
/// same login either way. A user named like a bot cannot exist: `[` is not allowed in logins.
pub fn written_by(viewer: &str, author_kind: &str, author_login: &str) -> bool {
    match viewer.strip_suffix("[bot]") {
        Some(slug) => author_kind == "Bot" && (author_login == slug || author_login == viewer),
        None => author_kind == "User" && author_login == viewer,
    }
}

/// A comment's `fullDatabaseId` (GraphQL `BigInt`, a decimal string) as the REST id.
pub fn comment_id(full_database_id: &str) -> Result<u64, ApiError> {
    full_database_id
        .parse::<u64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::CommentId {
            value: full_database_id.chars().take(40).collect(),
        })
}

async fn comments_page(
    gh: &GitHub,
    ctx: &Context,
    number: u64,
    after: Option<&str>,
) -> Result<(String, CommentPage), ApiError> {
    let payload = serde_json::json!({
        "query": COMMENTS_QUERY,
        "variables": {"owner": ctx.owner, "repo": ctx.repo, "number": number, "after": after},
    });
    let answer: GraphqlAnswer<CommentsData> =
        call(&COMMENT, gh.graphql.post("/graphql", Some(&payload))).await?;
    if let Some(e) = answer.errors.first() {
        // GitHub answers 200 with errors: a token without `pull-requests: read` gets FORBIDDEN.
        return Err(if e.kind.as_deref() == Some("FORBIDDEN") {
            ApiError::Permission {
                what: "read the pull request's comments",
                permission: "pull-requests: read",
                input: COMMENT.input,
                message: e.message.clone(),
            }
        } else {
            ApiError::Other {
                what: "read the pull request's comments",
                message: format!("GitHub GraphQL answered: {}", e.message),
            }
        });
    }
    let data = answer.data.ok_or_else(|| ApiError::Other {
        what: "read the pull request's comments",
        message: "GitHub GraphQL answered neither data nor errors".to_string(),
    })?;
    let page = data
        .repository
        .and_then(|r| r.pull_request)
        .ok_or_else(|| ApiError::Other {
            what: "read the pull request's comments",
            message: format!(
                "GitHub knows no pull request #{number} in {}/{}",
                ctx.owner, ctx.repo
            ),
        })?
        .comments;
    Ok((data.viewer.login, page))
}

/// Posts `body` on the pull request, or updates the comment already there: the one holding
/// `marker` that the token's own identity wrote. A comment with the marker by anyone else (a
/// user pasting it, another bot) is left alone: updating it would put the gate's verdict under
/// their name, or let them plant a comment the gate then vouches for.
pub async fn upsert_comment(
    gh: &GitHub,
    ctx: &Context,
    number: u64,
    marker: &str,
    body: &str,
) -> Result<Option<String>, ApiError> {
    let base = format!("/repos/{}/{}/issues", ctx.owner, ctx.repo);
    let mut existing = None;
    let mut after: Option<String> = None;
    // A busy pull request has many comments; ours is usually early, and 20 pages is plenty.
    for _ in 0..20 {
        let (viewer, page) = comments_page(gh, ctx, number, after.as_deref()).await?;
        existing = page
            .nodes
            .into_iter()
            .flatten()
            .find(|c| {
                c.viewer_did_author
                    && c.author
                        .as_ref()
                        .is_some_and(|a| written_by(&viewer, &a.kind, &a.login))
                    && c.body.contains(marker)
            })
            .and_then(|c| c.full_database_id)
            .map(|id| comment_id(&id))
            .transpose()?;
        match page.page_info.end_cursor {
            Some(cursor) if existing.is_none() && page.page_info.has_next_page => {
                after = Some(cursor)
            }
            _ => break,
        }
    }
    let body = serde_json::json!({ "body": body });
    let comment: Comment = match existing {
        Some(id) => {
            call(
                &COMMENT,
                gh.rest.patch(format!("{base}/comments/{id}"), Some(&body)),
            )
            .await?
        }
        None => {
            call(
                &COMMENT,
                gh.rest
                    .post(format!("{base}/{number}/comments"), Some(&body)),
            )
            .await?
        }
    };
    Ok(Some(comment.html_url.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphql_lives_beside_rest() {
        assert_eq!(
            graphql_base("https://api.github.com"),
            "https://api.github.com"
        );
        assert_eq!(
            graphql_base("https://api.github.com/"),
            "https://api.github.com"
        );
        assert_eq!(
            graphql_base("https://ghe.example.com/api/v3"),
            "https://ghe.example.com/api"
        );
        assert_eq!(
            graphql_base("https://ghe.example.com/api/v3/"),
            "https://ghe.example.com/api"
        );
        assert_eq!(
            graphql_base("https://127.0.0.1:8443"),
            "https://127.0.0.1:8443"
        );
    }

    #[test]
    fn comment_ids_are_big_int_strings() {
        assert_eq!(comment_id("2250077004").unwrap(), 2_250_077_004);
        assert_eq!(comment_id("18446744073709551615").unwrap(), u64::MAX);
        for bad in [
            "",
            "-1",
            "0",
            "1e9",
            " 42",
            "18446744073709551616",
            "IC_kwDO",
        ] {
            let e = comment_id(bad).unwrap_err();
            assert!(
                matches!(&e, ApiError::CommentId { value } if value == bad),
                "{bad}"
            );
            assert!(e.to_string().contains("pr-comment"), "{e}");
        }
    }

    #[test]
    fn only_the_viewer_itself_wrote_a_comment() {
        assert!(written_by("github-actions[bot]", "Bot", "github-actions"));
        assert!(written_by(
            "github-actions[bot]",
            "Bot",
            "github-actions[bot]"
        ));
        assert!(!written_by("github-actions[bot]", "User", "github-actions"));
        assert!(!written_by("github-actions[bot]", "Bot", "renovate"));
        assert!(written_by("octocat", "User", "octocat"));
        assert!(!written_by("octocat", "Bot", "octocat"));
        assert!(!written_by("octocat", "User", "octocat-evil"));
        assert!(!written_by("octocat", "User", "OCTOCAT2"));
    }
}

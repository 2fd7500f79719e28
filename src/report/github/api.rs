//! The GitHub REST calls of the GitHub reporter, through octocrab: the check run on the head
//! commit (annotations in batches of 50) and the one pull-request comment found again by a hidden
//! marker. Also where the run is: repository, head SHA, pull request, API URL (GHES).
//!
//! octocrab gets its own hyper client so the `ca-certificates` roots are trusted next to the
//! system's: a GitHub Enterprise Server behind a corporate CA, and the sandbox, need them.

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

/// octocrab's errors through the one conversion every error takes: causes on one line, URLs
/// without their query or user part.
fn error_chain(e: &dyn std::error::Error) -> String {
    crate::redact::error_chain(e)
}

/// An octocrab client for `api_url` with the token, trusting the system's roots and those in
/// `ca_file`.
pub fn client(api_url: &str, token: &str, ca_file: Option<&Path>) -> Result<Octocrab, String> {
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
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build();
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, octocrab::OctoBody>(connector);

    let base: Uri = api_url
        .parse()
        .map_err(|e| format!("GITHUB_API_URL {api_url:?} is not a URL: {e}"))?;
    let mut auth = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| "github-token holds characters a header cannot carry".to_string())?;
    auth.set_sensitive(true);
    let headers: Vec<(HeaderName, HeaderValue)> = vec![
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
    ];
    OctocrabBuilder::new_empty()
        .with_service(http)
        .with_layer(&BaseUriLayer::new(base.clone()))
        .with_layer(&ExtraHeadersLayer::new(Arc::new(headers)))
        .with_layer(&AuthHeaderLayer::new(Some(auth), base.clone(), base))
        .with_auth(AuthState::None)
        .build()
        .map_err(|e| match e {})
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

/// The check run's name: one per service, so several services in one workflow do not collide.
pub fn check_name(verdict: &Verdict, clean: &Cleaner) -> String {
    format!("apim-gate ({})", clean.line(&verdict.service))
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

/// Posts `body` on the pull request, or updates the comment already there: the one holding
/// `marker`, which `body` holds too.
pub async fn upsert_comment(
    octo: &Octocrab,
    ctx: &Context,
    number: u64,
    marker: &str,
    body: &str,
) -> Result<Option<String>, ApiError> {
    let base = format!("/repos/{}/{}/issues", ctx.owner, ctx.repo);
    let mut existing = None;
    // A busy pull request has many comments; ours is usually early, and 20 pages is plenty.
    for page in 1..=20u32 {
        let list: Vec<Comment> = call(
            &COMMENT,
            octo.get(
                format!("{base}/{number}/comments"),
                Some(&[("per_page", "100"), ("page", &page.to_string())]),
            ),
        )
        .await?;
        let done = list.len() < 100;
        existing = list
            .into_iter()
            .find(|c| c.body.as_deref().is_some_and(|b| b.contains(marker)));
        if existing.is_some() || done {
            break;
        }
    }
    let body = serde_json::json!({ "body": body });
    let comment: Comment = match existing {
        Some(c) => {
            call(
                &COMMENT,
                octo.patch(format!("{base}/comments/{}", c.id), Some(&body)),
            )
            .await?
        }
        None => {
            call(
                &COMMENT,
                octo.post(format!("{base}/{number}/comments"), Some(&body)),
            )
            .await?
        }
    };
    Ok(Some(comment.html_url.to_string()))
}

//! A GitHub REST API subset (check runs, commit statuses, issue comments, the authenticated user)
//! and the GraphQL queries that find a pull request's comments ([`graphql`]), with GitHub's
//! response shapes, so octocrab's models deserialize them, and a record of everything received
//! (`GET /_sandbox/github`).
//!
//! Every token is someone ([`Actor`]), and what an endpoint answers depends on who:
//! - the workflow's `GITHUB_TOKEN` (`SANDBOX_GITHUB_TOKEN`) is an installation token of the GitHub
//!   Actions app; what it writes is authored by `github-actions[bot]`;
//! - the read-only one (`SANDBOX_GITHUB_READONLY_TOKEN`, a workflow without `checks: write` /
//!   `statuses: write` / `pull-requests: write`) is the same bot and gets 403 "Resource not
//!   accessible by integration" on every write;
//! - `SANDBOX_GITHUB_USER_TOKEN` is a maintainer's personal access token (push access) and
//!   `SANDBOX_GITHUB_OTHER_USER_TOKEN` another user's (read access: may comment, and edit only
//!   their own comments).
//!
//! `Authorization: Bearer|token <token>`; a wrong token gets 401 "Bad credentials".

// Handlers bail out with a finished response; boxing it would only add noise.
#![allow(clippy::result_large_err)]

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use serde_json::{Value, json};

use crate::Shared;
use crate::arm::util::{now_millis, rfc3339_secs};

pub mod graphql;

const DOCS: &str = "https://docs.github.com/rest";
const CHECK_CONCLUSIONS: &[&str] = &[
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "stale",
    "timed_out",
];
const CHECK_STATUSES: &[&str] = &[
    "queued",
    "in_progress",
    "completed",
    "waiting",
    "requested",
    "pending",
];
const STATUS_STATES: &[&str] = &["error", "failure", "pending", "success"];

#[derive(Default)]
struct Recorded {
    next_id: u64,
    check_runs: Vec<Value>,
    statuses: Vec<Value>,
    comments: Vec<Value>,
}

struct Gh {
    shared: Arc<Shared>,
    state: Mutex<Recorded>,
}

impl Gh {
    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        // Each handler updates the record in one step; a poisoned lock still holds whole entries.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The token a workflow without write permissions has.
pub fn readonly_token(shared: &Shared) -> String {
    format!("{}_readonly", shared.identity.github_token)
}

pub fn router(shared: Arc<Shared>) -> Router {
    let gh = Arc::new(Gh {
        shared,
        state: Mutex::new(Recorded {
            next_id: 4_100_000_000,
            ..Recorded::default()
        }),
    });
    Router::new()
        .route("/repos/{owner}/{repo}/check-runs", post(create_check_run))
        .route(
            "/repos/{owner}/{repo}/check-runs/{id}",
            patch(update_check_run).get(get_check_run),
        )
        .route("/repos/{owner}/{repo}/statuses/{sha}", post(create_status))
        .route(
            "/repos/{owner}/{repo}/issues/{number}/comments",
            get(list_comments).post(create_comment),
        )
        .route(
            "/repos/{owner}/{repo}/issues/comments/{id}",
            patch(update_comment),
        )
        .route("/user", get(authenticated_user))
        .route("/graphql", post(graphql_endpoint))
        .route("/_sandbox/github", get(recorded))
        .fallback(not_found_fallback)
        .with_state(gh)
}

fn gh_error(status: StatusCode, message: &str, doc: &str) -> Response {
    (
        status,
        axum::Json(json!({
            "message": message,
            "documentation_url": format!("{DOCS}{doc}"),
            "status": status.as_u16().to_string(),
        })),
    )
        .into_response()
}

async fn not_found_fallback() -> Response {
    gh_error(StatusCode::NOT_FOUND, "Not Found", "")
}

/// Who a token is.
#[derive(Clone, Debug)]
pub struct Actor {
    /// The REST login: `github-actions[bot]` for the Actions app's bot.
    pub login: &'static str,
    pub id: u64,
    /// A GitHub App installation token (the Actions `GITHUB_TOKEN`), not a user's.
    pub installation: bool,
    /// May write to the repository (push access, or the workflow's write permissions).
    pub write: bool,
}

const ACTIONS_BOT: &str = "github-actions[bot]";
/// The users behind the sandbox's personal access tokens.
pub const MAINTAINER: &str = "sandbox-maintainer";
pub const CONTRIBUTOR: &str = "sandbox-contributor";

/// The personal access token of the maintainer (push access).
pub fn user_token(shared: &Shared) -> String {
    format!("ghp_{}", &shared.identity.github_token[4..])
}

/// The personal access token of another user (read access only).
pub fn other_user_token(shared: &Shared) -> String {
    format!("ghp_{}_other", &shared.identity.github_token[4..])
}

fn actor_of(gh: &Gh, token: &str) -> Option<Actor> {
    let shared = &gh.shared;
    let bot = |write| Actor {
        login: ACTIONS_BOT,
        id: 41898282,
        installation: true,
        write,
    };
    if token == shared.identity.github_token {
        Some(bot(true))
    } else if token == readonly_token(shared) {
        Some(bot(false))
    } else if token == user_token(shared) {
        Some(Actor {
            login: MAINTAINER,
            id: 1_000_001,
            installation: false,
            write: true,
        })
    } else if token == other_user_token(shared) {
        Some(Actor {
            login: CONTRIBUTOR,
            id: 1_000_002,
            installation: false,
            write: false,
        })
    } else {
        None
    }
}

/// Checks the token and says who it is; `write` requests also need write permission.
fn authorize(gh: &Gh, headers: &HeaderMap, write: bool, doc: &str) -> Result<Actor, Response> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
                .or_else(|| v.strip_prefix("token "))
        })
        .map(str::trim);
    let Some(token) = token else {
        return Err(gh_error(
            StatusCode::UNAUTHORIZED,
            "Requires authentication",
            doc,
        ));
    };
    let Some(actor) = actor_of(gh, token) else {
        return Err(gh_error(StatusCode::UNAUTHORIZED, "Bad credentials", ""));
    };
    if write && !actor.write {
        return Err(forbidden(&actor, doc));
    }
    Ok(actor)
}

/// GitHub's 403 for a token without the permission: "…by integration" for an app's token,
/// "…by personal access token" for a fine-grained PAT.
fn forbidden(actor: &Actor, doc: &str) -> Response {
    let by = if actor.installation {
        "integration"
    } else {
        "personal access token"
    };
    gh_error(
        StatusCode::FORBIDDEN,
        &format!("Resource not accessible by {by}"),
        doc,
    )
}

fn parse_body(body: &Bytes, doc: &str) -> Result<serde_json::Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(gh_error(
            StatusCode::BAD_REQUEST,
            "Problems parsing JSON",
            doc,
        )),
    }
}

fn invalid(message: &str, doc: &str) -> Response {
    gh_error(
        StatusCode::UNPROCESSABLE_ENTITY,
        &format!("Invalid request.\n\n{message}"),
        doc,
    )
}

fn api(gh: &Gh) -> String {
    gh.shared.urls().github
}

/// The user object GitHub renders for an actor: `github-actions[bot]` (type `Bot`) for what a
/// workflow's token writes, a `User` for a personal access token.
fn user_json(gh: &Gh, actor: &Actor) -> Value {
    let api = api(gh);
    let bot = actor.installation;
    let u = format!(
        "{api}/users/{}",
        actor.login.replace('[', "%5B").replace(']', "%5D")
    );
    json!({
        "login": actor.login,
        "id": actor.id,
        "node_id": node_id(if bot { "MDM6Qm90" } else { "MDQ6VXNlcj" }, actor.id),
        "avatar_url": if bot { "https://avatars.githubusercontent.com/in/15368?v=4".to_string() }
                      else { format!("https://avatars.githubusercontent.com/u/{}?v=4", actor.id) },
        "gravatar_id": "",
        "url": u,
        "html_url": if bot { "https://github.com/apps/github-actions".to_string() }
                    else { format!("https://github.com/{}", actor.login) },
        "followers_url": format!("{u}/followers"),
        "following_url": format!("{u}/following{{/other_user}}"),
        "gists_url": format!("{u}/gists{{/gist_id}}"),
        "starred_url": format!("{u}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{u}/subscriptions"),
        "organizations_url": format!("{u}/orgs"),
        "repos_url": format!("{u}/repos"),
        "events_url": format!("{u}/events{{/privacy}}"),
        "received_events_url": format!("{u}/received_events"),
        "type": if bot { "Bot" } else { "User" },
        "user_view_type": "public",
        "site_admin": false
    })
}

/// `GET /user`: a personal access token's user. An installation token is no user: GitHub answers
/// 403 "Resource not accessible by integration" (the reason actions that find their own comments
/// ask GraphQL's `viewer` instead: joshjohanning/bulk-github-repo-settings-sync-action#194,
/// pingdotgg/t3code#11273).
/// <https://docs.github.com/en/rest/users/users#get-the-authenticated-user>
async fn authenticated_user(State(gh): State<Arc<Gh>>, headers: HeaderMap) -> Response {
    let doc = "/users/users#get-the-authenticated-user";
    let actor = match authorize(&gh, &headers, false, doc) {
        Ok(a) => a,
        Err(r) => return r,
    };
    if actor.installation {
        return gh_error(
            StatusCode::FORBIDDEN,
            "Resource not accessible by integration",
            doc,
        );
    }
    axum::Json(user_json(&gh, &actor)).into_response()
}

/// `POST /graphql` with `{query, variables}`: the viewer and pull-request comments
/// ([`graphql`]). A bad token is a 401 like REST; errors in the query are a 200 with `errors`.
/// <https://docs.github.com/en/graphql/guides/forming-calls-with-graphql#communicating-with-graphql>
async fn graphql_endpoint(State(gh): State<Arc<Gh>>, headers: HeaderMap, body: Bytes) -> Response {
    let actor = match authorize(&gh, &headers, false, "/graphql") {
        Ok(a) => a,
        Err(r) => return r,
    };
    let sent = match parse_body(&body, "/graphql") {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(query) = sent.get("query").and_then(Value::as_str) else {
        return gh_error(
            StatusCode::BAD_REQUEST,
            "A query attribute must be specified and must be a string.",
            "/graphql",
        );
    };
    let variables = sent.get("variables").cloned().unwrap_or(Value::Null);
    let api = api(&gh);
    let snapshot = gh.lock().comments.clone();
    let comments = |owner: &str, repo: &str, number: u64| -> Vec<Value> {
        let issue_url = format!("{api}/repos/{owner}/{repo}/issues/{number}");
        snapshot
            .iter()
            .filter(|c| c["issue_url"] == issue_url.as_str())
            .cloned()
            .collect()
    };
    let data = graphql::Data {
        viewer: graphql::Viewer {
            login: actor.login.to_string(),
            bot: actor.installation,
            database_id: actor.id,
        },
        comments: &comments,
    };
    axum::Json(graphql::execute(query, &variables, &data)).into_response()
}

fn id_is(v: &Value, id: &str) -> bool {
    v.as_u64().is_some_and(|n| id.parse() == Ok(n))
}

fn node_id(prefix: &str, id: u64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(format!("{prefix}{id}"))
}

const CHECK_DOC: &str = "/checks/runs#create-a-check-run";

/// Check runs are written by GitHub Apps only: a personal access token gets 403 "You must
/// authenticate via a GitHub App." (actions/github-script#118, EnricoMi/publish-unit-test-result-
/// action#53). <https://docs.github.com/en/rest/checks/runs#create-a-check-run>
fn authorize_app(gh: &Gh, headers: &HeaderMap, doc: &str) -> Result<Actor, Response> {
    let actor = authorize(gh, headers, true, doc)?;
    if !actor.installation {
        return Err(gh_error(
            StatusCode::FORBIDDEN,
            "You must authenticate via a GitHub App.",
            doc,
        ));
    }
    Ok(actor)
}

async fn create_check_run(
    State(gh): State<Arc<Gh>>,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = authorize_app(&gh, &headers, CHECK_DOC) {
        return r;
    }
    let sent = match parse_body(&body, CHECK_DOC) {
        Ok(s) => s,
        Err(r) => return r,
    };
    for field in ["name", "head_sha"] {
        if sent
            .get(field)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return invalid(&format!("\"{field}\" wasn't supplied."), CHECK_DOC);
        }
    }
    let mut state = gh.lock();
    state.next_id += 1;
    let id = state.next_id;
    let now = rfc3339_secs(now_millis());
    let mut run = json!({
        "id": id,
        "node_id": node_id("CR_kwDO", id),
        "head_sha": sent.get("head_sha"),
        "external_id": sent.get("external_id").cloned().unwrap_or(json!("")),
        "url": format!("{}/repos/{owner}/{repo}/check-runs/{id}", api(&gh)),
        "html_url": format!("https://github.com/{owner}/{repo}/runs/{id}"),
        "details_url": sent.get("details_url").cloned().unwrap_or(json!(format!("https://github.com/{owner}/{repo}/runs/{id}"))),
        "status": "queued",
        "conclusion": null,
        "started_at": sent.get("started_at").cloned().unwrap_or(json!(now)),
        "completed_at": null,
        "output": {"title": null, "summary": null, "text": null, "annotations_count": 0,
                   "annotations_url": format!("{}/repos/{owner}/{repo}/check-runs/{id}/annotations", api(&gh))},
        "name": sent.get("name"),
        "check_suite": {"id": id / 2},
        "app": {"id": 15368, "slug": "github-actions", "name": "GitHub Actions"},
        "pull_requests": [],
    });
    if let Err(r) = apply_check_update(&mut run, &sent, &now) {
        return r;
    }
    state.check_runs.push(run.clone());
    (StatusCode::CREATED, axum::Json(run)).into_response()
}

/// Applies the writable fields of a check run create/update, validating them as GitHub does.
fn apply_check_update(
    run: &mut Value,
    sent: &serde_json::Map<String, Value>,
    now: &str,
) -> Result<(), Response> {
    for key in [
        "name",
        "details_url",
        "external_id",
        "started_at",
        "head_sha",
    ] {
        if let Some(v) = sent.get(key) {
            run[key] = v.clone();
        }
    }
    if let Some(status) = sent.get("status") {
        match status.as_str() {
            Some(s) if CHECK_STATUSES.contains(&s) => run["status"] = json!(s),
            _ => return Err(invalid("Invalid value for \"status\".", CHECK_DOC)),
        }
    }
    if let Some(conclusion) = sent.get("conclusion").filter(|c| !c.is_null()) {
        match conclusion.as_str() {
            Some(c) if CHECK_CONCLUSIONS.contains(&c) => {
                run["conclusion"] = json!(c);
                // A conclusion completes the run, whatever status was sent.
                run["status"] = json!("completed");
            }
            _ => return Err(invalid("Invalid value for \"conclusion\".", CHECK_DOC)),
        }
    }
    if run["status"] == "completed" {
        if run["conclusion"].is_null() {
            return Err(invalid(
                "\"conclusion\" wasn't supplied. It is required when \"status\" is \"completed\".",
                CHECK_DOC,
            ));
        }
        run["completed_at"] = sent
            .get("completed_at")
            .cloned()
            .unwrap_or_else(|| json!(now));
    }
    if let Some(output) = sent.get("output") {
        let Some(o) = output.as_object() else {
            return Err(invalid("Invalid value for \"output\".", CHECK_DOC));
        };
        if o.get("title").and_then(Value::as_str).is_none()
            || o.get("summary").and_then(Value::as_str).is_none()
        {
            return Err(invalid(
                "\"title\" and \"summary\" are required in \"output\".",
                CHECK_DOC,
            ));
        }
        if o.get("summary")
            .and_then(Value::as_str)
            .is_some_and(|s| s.chars().count() > 65_535)
        {
            return Err(invalid(
                "\"output.summary\" is too long (maximum is 65535 characters).",
                CHECK_DOC,
            ));
        }
        for key in ["title", "summary", "text"] {
            if let Some(v) = o.get(key) {
                run["output"][key] = v.clone();
            }
        }
        if let Some(a) = o.get("annotations").and_then(Value::as_array) {
            let before = run["output"]["annotations_count"].as_u64().unwrap_or(0);
            run["output"]["annotations_count"] = json!(before + a.len() as u64);
            run["output"]["annotations"] = json!(a);
        }
    }
    Ok(())
}

async fn update_check_run(
    State(gh): State<Arc<Gh>>,
    Path((_owner, _repo, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let doc = "/checks/runs#update-a-check-run";
    if let Err(r) = authorize_app(&gh, &headers, doc) {
        return r;
    }
    let sent = match parse_body(&body, doc) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let now = rfc3339_secs(now_millis());
    let mut state = gh.lock();
    let Some(run) = state.check_runs.iter_mut().find(|r| id_is(&r["id"], &id)) else {
        return gh_error(StatusCode::NOT_FOUND, "Not Found", doc);
    };
    let mut updated = run.clone();
    if let Err(r) = apply_check_update(&mut updated, &sent, &now) {
        return r;
    }
    *run = updated.clone();
    (StatusCode::OK, axum::Json(updated)).into_response()
}

async fn get_check_run(
    State(gh): State<Arc<Gh>>,
    Path((_owner, _repo, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let doc = "/checks/runs#get-a-check-run";
    if let Err(r) = authorize(&gh, &headers, false, doc) {
        return r;
    }
    let state = gh.lock();
    match state.check_runs.iter().find(|r| id_is(&r["id"], &id)) {
        Some(run) => axum::Json(run.clone()).into_response(),
        None => gh_error(StatusCode::NOT_FOUND, "Not Found", doc),
    }
}

async fn create_status(
    State(gh): State<Arc<Gh>>,
    Path((owner, repo, sha)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let doc = "/commits/statuses#create-a-commit-status";
    let actor = match authorize(&gh, &headers, true, doc) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let sent = match parse_body(&body, doc) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let state_value = sent.get("state").and_then(Value::as_str).unwrap_or("");
    if !STATUS_STATES.contains(&state_value) {
        return gh_error(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed", doc);
    }
    if sent
        .get("description")
        .and_then(Value::as_str)
        .is_some_and(|d| d.chars().count() > 140)
    {
        return gh_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation Failed: description is too long (maximum is 140 characters)",
            doc,
        );
    }
    let mut state = gh.lock();
    state.next_id += 1;
    let id = state.next_id;
    let now = rfc3339_secs(now_millis());
    let status = json!({
        "url": format!("{}/repos/{owner}/{repo}/statuses/{sha}", api(&gh)),
        "avatar_url": "https://avatars.githubusercontent.com/in/15368?v=4",
        "id": id,
        "node_id": node_id("SC_kwDO", id),
        "state": state_value,
        "description": sent.get("description").cloned().unwrap_or(Value::Null),
        "target_url": sent.get("target_url").cloned().unwrap_or(Value::Null),
        "context": sent.get("context").cloned().unwrap_or(json!("default")),
        "created_at": now,
        "updated_at": now,
        "creator": user_json(&gh, &actor),
        "sha": sha,
    });
    state.statuses.push(status.clone());
    (StatusCode::CREATED, axum::Json(status)).into_response()
}

#[allow(clippy::too_many_arguments)]
fn comment(
    gh: &Gh,
    author: &Actor,
    owner: &str,
    repo: &str,
    number: &str,
    id: u64,
    body: &str,
    now: &str,
) -> Value {
    let api = api(gh);
    json!({
        "id": id,
        "node_id": node_id("IC_kwDO", id),
        "url": format!("{api}/repos/{owner}/{repo}/issues/comments/{id}"),
        "html_url": format!("https://github.com/{owner}/{repo}/pull/{number}#issuecomment-{id}"),
        "issue_url": format!("{api}/repos/{owner}/{repo}/issues/{number}"),
        "body": body,
        "user": user_json(gh, author),
        "created_at": now,
        "updated_at": now,
        "author_association": "NONE",
        "performed_via_github_app": null,
        "reactions": {"url": format!("{api}/repos/{owner}/{repo}/issues/comments/{id}/reactions"),
                      "total_count": 0, "+1": 0, "-1": 0, "laugh": 0, "hooray": 0,
                      "confused": 0, "heart": 0, "rocket": 0, "eyes": 0},
    })
}

async fn list_comments(
    State(gh): State<Arc<Gh>>,
    Path((owner, repo, number)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let doc = "/issues/comments#list-issue-comments";
    if let Err(r) = authorize(&gh, &headers, false, doc) {
        return r;
    }
    let issue_url = format!("{}/repos/{owner}/{repo}/issues/{number}", api(&gh));
    let state = gh.lock();
    let list: Vec<Value> = state
        .comments
        .iter()
        .filter(|c| c["issue_url"] == issue_url.as_str())
        .cloned()
        .collect();
    axum::Json(list).into_response()
}

async fn create_comment(
    State(gh): State<Arc<Gh>>,
    Path((owner, repo, number)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let doc = "/issues/comments#create-an-issue-comment";
    // Anyone who can read a public repository may comment; a workflow's token needs
    // `pull-requests: write` (or `issues: write`).
    let actor = match authorize(&gh, &headers, false, doc) {
        Ok(a) => a,
        Err(r) => return r,
    };
    if actor.installation && !actor.write {
        return forbidden(&actor, doc);
    }
    let sent = match parse_body(&body, doc) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(text) = sent.get("body").and_then(Value::as_str) else {
        return invalid("\"body\" wasn't supplied.", doc);
    };
    if text.chars().count() > 65_536 {
        return gh_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation Failed: body is too long (maximum is 65536 characters)",
            doc,
        );
    }
    let mut state = gh.lock();
    state.next_id += 1;
    let id = state.next_id;
    let now = rfc3339_secs(now_millis());
    let c = comment(&gh, &actor, &owner, &repo, &number, id, text, &now);
    state.comments.push(c.clone());
    (StatusCode::CREATED, axum::Json(c)).into_response()
}

async fn update_comment(
    State(gh): State<Arc<Gh>>,
    Path((_owner, _repo, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let doc = "/issues/comments#update-an-issue-comment";
    let actor = match authorize(&gh, &headers, false, doc) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let sent = match parse_body(&body, doc) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(text) = sent.get("body").and_then(Value::as_str) else {
        return invalid("\"body\" wasn't supplied.", doc);
    };
    let now = rfc3339_secs(now_millis());
    let mut state = gh.lock();
    let Some(c) = state.comments.iter_mut().find(|c| id_is(&c["id"], &id)) else {
        return gh_error(StatusCode::NOT_FOUND, "Not Found", doc);
    };
    // Push access (or a workflow's `pull-requests: write`) may edit anyone's comment, which is
    // why a client must check the author itself; without it, only one's own.
    // <https://docs.github.com/en/communities/moderating-comments-and-conversations/managing-disruptive-comments#editing-a-comment>
    // A user editing their own comment needs no push access; a read-only workflow token does.
    let own_as_user = c["user"]["login"] == actor.login && !actor.installation;
    if !(actor.write || own_as_user) {
        return forbidden(&actor, doc);
    }
    c["body"] = json!(text);
    c["updated_at"] = json!(now);
    (StatusCode::OK, axum::Json(c.clone())).into_response()
}

/// `GET /_sandbox/github`: every check run, status and comment as last written.
async fn recorded(State(gh): State<Arc<Gh>>) -> Response {
    let state = gh.lock();
    axum::Json(json!({
        "check_runs": state.check_runs,
        "statuses": state.statuses,
        "comments": state.comments,
    }))
    .into_response()
}

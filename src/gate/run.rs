//! One gate run: inputs → cluster → rewrite → lint → sign-in → breaking changes → publish. Each
//! step is timed; the first failure ends the run with a verdict that says which step, why, and
//! what to do. Nothing is written to APIM before every check has passed.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::apim::{self, ApiTarget, PublishRequest};
use crate::azure;
use crate::cluster;
use crate::exit::Exit;
use crate::inputs::{BackendMode, Env, Inputs};
use crate::spec::Document;
use crate::spec::waivers::{self, Waived};

use super::checks::{self, Baseline};
use super::cluster_side;
use super::pool;
use super::{
    AddressReport, FindingSource, Outcome, PublishReport, SourcedFinding, Step, StepName,
    StepOutcome, Verdict, WaivedFinding,
};

/// Progress of a run, for whoever shows it (a terminal, a CI log).
pub trait Progress: cluster::Observer + apim::Observer {
    fn step_started(&self, name: StepName);
    fn step_finished(&self, step: &Step);
}

/// Shows nothing.
pub struct Silent;

impl cluster::Observer for Silent {
    fn event(&self, _: cluster::Event) {}
}

impl apim::Observer for Silent {
    fn event(&self, _: apim::Event) {}
}

impl Progress for Silent {
    fn step_started(&self, _: StepName) {}
    fn step_finished(&self, _: &Step) {}
}

/// A verdict under construction.
struct Builder<'a> {
    verdict: Verdict,
    progress: &'a dyn Progress,
}

/// How a step ended, with its detail line.
enum Ended<T> {
    Ok(T, StepOutcome, String),
    /// The step failed: exit code and the full message.
    Err(Exit, String),
}

impl<'a> Builder<'a> {
    async fn step<T, F>(&mut self, name: StepName, work: F) -> Result<T, ()>
    where
        F: Future<Output = Ended<T>>,
    {
        self.progress.step_started(name);
        let started = Instant::now();
        let ended = work.await;
        self.record(name, started.elapsed(), ended)
    }

    /// A step whose work ran earlier, beside another step (the sign-in beside the cluster
    /// side): reported in its usual place, with the time its own work took.
    fn ran_earlier<T>(
        &mut self,
        name: StepName,
        duration: Duration,
        ended: Ended<T>,
    ) -> Result<T, ()> {
        self.progress.step_started(name);
        self.record(name, duration, ended)
    }

    fn record<T>(&mut self, name: StepName, duration: Duration, ended: Ended<T>) -> Result<T, ()> {
        let (result, outcome, detail) = match ended {
            Ended::Ok(value, outcome, detail) => (Ok(value), outcome, detail),
            Ended::Err(exit, message) => {
                let first_line = message.lines().next().unwrap_or("").to_string();
                self.verdict.exit = exit;
                self.verdict.outcome = if exit == Exit::Refused {
                    Outcome::Refused
                } else {
                    Outcome::Failed
                };
                self.verdict.error = Some(message);
                (Err(()), StepOutcome::Failed, first_line)
            }
        };
        let step = Step {
            name,
            outcome,
            duration,
            detail,
        };
        self.progress.step_finished(&step);
        self.verdict.steps.push(step);
        result
    }

    /// A check that passed as a step but refuses the release.
    fn refuse(&mut self, message: String) {
        self.verdict.exit = Exit::Refused;
        self.verdict.outcome = Outcome::Refused;
        self.verdict.error = Some(message);
    }

    fn finish(mut self) -> Verdict {
        let ran: Vec<StepName> = self.verdict.steps.iter().map(|s| s.name).collect();
        // A spec-file run's first step is Document, which stands for Cluster.
        let source = if ran.contains(&StepName::Document) {
            StepName::Document
        } else {
            StepName::Cluster
        };
        for name in [
            source,
            StepName::Rewrite,
            StepName::Lint,
            StepName::SignIn,
            StepName::BreakingChanges,
            StepName::Publish,
        ] {
            if !ran.contains(&name) {
                self.verdict.steps.push(Step {
                    name,
                    outcome: StepOutcome::Skipped,
                    duration: Duration::ZERO,
                    detail: "not run: an earlier step ended the run".to_string(),
                });
            }
        }
        self.verdict
    }
}

/// The rewritten document and what it became.
struct Prepared {
    text: String,
    document: Document,
    service_url: String,
    /// Where APIM calls, with every node's pool eligibility (`backend: pool`); `None` for a
    /// `spec-file` document, whose address came without the cluster's nodes.
    address: Option<cluster::AddressChoice>,
}

/// What every service of a run shares: one Kubernetes connection and one signed-in ARM client
/// (one token, one HTTP connection pool, one throttling back-off). Each is made on first use
/// (the sign-in starts with the first service's cluster side, so its round trips overlap the
/// cluster's), and made once, so fifty services cost one connection and one token.
pub struct Session {
    inputs: Inputs,
    env: Env,
    connection: tokio::sync::OnceCell<Result<cluster::Connection, Failure>>,
    signed_in: tokio::sync::OnceCell<Result<azure::SignedIn, Failure>>,
    /// The sign-in, once started: a task of its own, so a service that stops waiting for it
    /// (its cluster side failed) does not cancel it for the others, nor make them sign in again.
    sign_in: tokio::sync::Mutex<Option<tokio::task::JoinHandle<Result<azure::SignedIn, Failure>>>>,
    /// When the run started: the `timeout` input counts from here.
    started: tokio::time::Instant,
    /// Told of every Azure token the session obtains (the report layer masks them).
    tokens: Option<Arc<dyn azure::TokenObserver>>,
}

/// A failure every service sharing it reports the same way.
#[derive(Clone, Debug)]
struct Failure {
    exit: Exit,
    message: String,
}

impl Session {
    /// `inputs` are the run's (not one service's): the kubeconfig and the Azure sign-in. The
    /// session keeps its own copy, so services can run as tasks of their own.
    pub fn new(inputs: &Inputs, env: &Env) -> Session {
        Session {
            inputs: inputs.clone(),
            env: env.clone(),
            connection: tokio::sync::OnceCell::new(),
            signed_in: tokio::sync::OnceCell::new(),
            sign_in: tokio::sync::Mutex::new(None),
            started: tokio::time::Instant::now(),
            tokens: None,
        }
    }

    /// Tells `observer` of each Azure token as soon as it exists, so it can be masked.
    pub fn with_token_observer(mut self, observer: Arc<dyn azure::TokenObserver>) -> Session {
        self.tokens = Some(observer);
        self
    }

    /// The shared Kubernetes connection, for work beside the runs (`api-versions: auto`).
    pub(crate) async fn cluster(&self) -> Result<&cluster::Connection, (Exit, String)> {
        self.connection().await.map_err(|f| (f.exit, f.message))
    }

    /// The shared sign-in, for reads beside the runs (a version set's members).
    pub(crate) async fn arm(&self) -> Result<&azure::SignedIn, (Exit, String)> {
        self.signed_in().await.map_err(|f| (f.exit, f.message))
    }

    async fn connection(&self) -> Result<&cluster::Connection, Failure> {
        self.connection
            .get_or_init(|| async {
                cluster_side::connect(&self.inputs, &self.env)
                    .await
                    .map_err(|e| Failure {
                        exit: e.exit(),
                        message: e.to_string(),
                    })
            })
            .await
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Starts the sign-in in the background, once per session.
    async fn start_sign_in(&self) {
        let mut task = self.sign_in.lock().await;
        if task.is_some() || self.signed_in.initialized() {
            return;
        }
        let (inputs, env, tokens) = (self.inputs.clone(), self.env.clone(), self.tokens.clone());
        let deadline = self.started + self.inputs.timeout;
        *task = Some(tokio::spawn(async move {
            azure::sign_in_observed(&inputs, &env, tokens)
                .await
                .map(|s| azure::SignedIn {
                    arm: s.arm.with_deadline(deadline, inputs.timeout),
                    ..s
                })
                .map_err(|e| Failure {
                    exit: e.exit(),
                    message: e.to_string(),
                })
        }));
    }

    async fn signed_in(&self) -> Result<&azure::SignedIn, Failure> {
        self.start_sign_in().await;
        self.signed_in
            .get_or_init(|| async {
                // The handle stays in place while awaited: a waiter dropped here leaves it for
                // the next one.
                let mut task = self.sign_in.lock().await;
                match task.as_mut() {
                    Some(handle) => match handle.await {
                        Ok(result) => result,
                        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                        Err(e) => Err(Failure {
                            exit: Exit::Azure,
                            message: format!("the Azure sign-in was cancelled: {e}"),
                        }),
                    },
                    // start_sign_in ran above and the cell is not set yet: the task is there.
                    None => Err(Failure {
                        exit: Exit::Azure,
                        message: "the Azure sign-in did not start".to_string(),
                    }),
                }
            })
            .await
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// One service, on its own session.
pub async fn run(inputs: &Inputs, env: &Env, progress: &dyn Progress) -> Verdict {
    run_service(&Session::new(inputs, env), inputs, env, progress).await
}

/// One service on a shared session; `inputs` are that service's.
pub async fn run_service(
    session: &Session,
    inputs: &Inputs,
    env: &Env,
    progress: &dyn Progress,
) -> Verdict {
    let service = inputs.service.clone().unwrap_or_default();
    let mut b = Builder {
        verdict: Verdict {
            service: super::versions::label(inputs),
            outcome: Outcome::Passed,
            exit: Exit::Passed,
            steps: Vec::new(),
            address: None,
            findings: Vec::new(),
            waived: Vec::new(),
            publish: None,
            spec_path: None,
            error: None,
            warnings: inputs.warnings.clone(),
            changes: Vec::new(),
        },
        progress,
    };
    // ARM's waits stop at the deadline themselves (and clean up); this bounds the rest, with
    // the clean-up's grace, so nothing can hold the pipeline past the `timeout` input.
    let limit = session.started + inputs.timeout + azure::CLEANUP_GRACE;
    // "Today" for the waivers' `until` is the run's own date (the machine's clock, UTC).
    let api_id = inputs.api_id.clone().unwrap_or_else(|| service.clone());
    let mut policy = waivers::Run::new(&inputs.waiver_policy, &api_id, waivers::Date::today());
    let steps = run_steps(&mut b, session, inputs, env, &service, &mut policy);
    let timed_out = tokio::time::timeout_at(limit, steps).await.is_err();
    b.verdict
        .findings
        .extend(policy.findings().into_iter().map(|finding| SourcedFinding {
            source: FindingSource::Waiver,
            finding,
        }));
    if timed_out {
        b.verdict.exit = Exit::Azure;
        b.verdict.outcome = Outcome::Failed;
        b.verdict.error = Some(format!(
            "the run did not finish within the timeout input ({}s, plus {}s to clean up): give timeout more time, or find which step waited (the steps above show it)",
            inputs.timeout.as_secs(),
            azure::CLEANUP_GRACE.as_secs()
        ));
    }
    let mut verdict = b.finish();
    keep_findings_file(&mut verdict, inputs);
    verdict
}

/// The verdict of a run that ended before its steps: `step` failed with `message`.
pub(crate) fn failed(inputs: &Inputs, step: StepName, exit: Exit, message: String) -> Verdict {
    let progress = Silent;
    let mut b = Builder {
        verdict: Verdict {
            service: super::versions::label(inputs),
            outcome: Outcome::Passed,
            exit: Exit::Passed,
            steps: Vec::new(),
            address: None,
            findings: Vec::new(),
            changes: Vec::new(),
            waived: Vec::new(),
            publish: None,
            spec_path: None,
            error: None,
            warnings: inputs.warnings.clone(),
        },
        progress: &progress,
    };
    let _ = b.record::<()>(step, Duration::ZERO, Ended::Err(exit, message));
    b.finish()
}

/// The `findings-file` artifact, every finding ungrouped, written once the verdict is complete.
/// A failure to write it is a warning, like `output-spec`: the verdict stands.
fn keep_findings_file(verdict: &mut Verdict, inputs: &Inputs) {
    if let Some(path) = &inputs.findings_file
        && let Err(e) = crate::report::write_findings_file(path, verdict)
    {
        verdict.warnings.push(format!(
            "findings-file: {e}; the findings are in the summary"
        ));
    }
}

/// Several services, at most `parallelism` at once, each with its own inputs and progress. One
/// service's failure does not stop the others. Verdicts come back in the order given.
///
/// Each service runs as a task of its own, so the parsing, linting and diffing of several
/// services use every worker thread, not one. Services start in the order given: a permit is
/// taken before a service's task is spawned.
pub async fn run_many(
    session: Arc<Session>,
    env: &Env,
    services: Vec<(Inputs, Arc<dyn Progress>)>,
    parallelism: usize,
) -> Vec<Verdict> {
    let permits = Arc::new(tokio::sync::Semaphore::new(parallelism.max(1)));
    let env = Arc::new(env.clone());
    let mut tasks = Vec::with_capacity(services.len());
    for (inputs, progress) in services {
        let permit = Arc::clone(&permits)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let session = Arc::clone(&session);
        let env = Arc::clone(&env);
        tasks.push(tokio::spawn(async move {
            let verdict = run_service(&session, &inputs, &env, progress.as_ref()).await;
            drop(permit);
            verdict
        }));
    }
    let mut verdicts = Vec::with_capacity(tasks.len());
    for task in tasks {
        match task.await {
            Ok(verdict) => verdicts.push(verdict),
            // A panic in a service is a bug: let it end the run as it did on one task.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("a service's task was cancelled: {e}"),
        }
    }
    verdicts
}

/// The exit code of a run of several services: the highest of theirs. Passed (0) < refused (1)
/// < input (2) < Kubernetes (3) < Azure (4) < reporting (5): a failure to run outranks a refusal,
/// so a pipeline sees the problem it must fix first.
pub fn overall_exit(verdicts: &[Verdict]) -> Exit {
    verdicts
        .iter()
        .map(|v| v.exit)
        .max_by_key(|e| e.code())
        .unwrap_or(Exit::Passed)
}

/// What the ARM side reads from the inputs alone, while the cluster side runs: the sign-in, and
/// the live API's contract. Nothing is written here.
struct Early<'s> {
    signed: Result<(&'s azure::SignedIn, Duration), Failure>,
    /// Set once signed in.
    target: Option<Result<ApiTarget, apim::ApimError>>,
    /// Set once the target is known.
    contract: Option<Result<Option<apim::CurrentApi>, apim::ApimError>>,
}

async fn early_reads<'s>(session: &'s Session, inputs: &Inputs, service: &str) -> Early<'s> {
    let started = Instant::now();
    let signed = match session.signed_in().await {
        Ok(s) => s,
        Err(f) => {
            return Early {
                signed: Err(f),
                target: None,
                contract: None,
            };
        }
    };
    let took = started.elapsed();
    let target = ApiTarget::from_inputs(inputs, service, &signed.subscription_id);
    let contract = match &target {
        Ok(t) => Some(apim::current_contract(&signed.arm, t).await),
        Err(_) => None,
    };
    Early {
        signed: Ok((signed, took)),
        target: Some(target),
        contract,
    }
}

/// The steps in order; each records itself in `b`, and the first that fails or refuses ends
/// the run (`Err`). The sign-in and the contract read run beside the cluster side, rewrite and
/// lint; their outcome is looked at only once lint passed, so a cluster failure or a lint
/// refusal ends the run exactly as when they ran after it (and drops them unfinished).
async fn run_steps(
    b: &mut Builder<'_>,
    session: &Session,
    inputs: &Inputs,
    env: &Env,
    service: &str,
    policy: &mut waivers::Run<'_>,
) -> Result<(), ()> {
    let mut early = std::pin::pin!(early_reads(session, inputs, service));
    let mut early_done = None;
    // A dry run from spec-file without agent-ip/node-port takes the address the live API calls
    // now: the live contract is needed first (there is no cluster side to overlap it with).
    let live_url = if inputs.spec_file.is_some() && inputs.dry_run && !file_address_given(inputs) {
        let e = early.as_mut().await;
        let url = match &e.contract {
            Some(Ok(Some(c))) => c.service_url.clone(),
            _ => None,
        };
        early_done = Some(e);
        url
    } else {
        None
    };
    let prepared = {
        let local = async {
            let source = source_step(b, session, inputs, live_url.as_deref()).await?;
            let prepared = rewrite_step(b, inputs, &source).await?;
            keep_output_spec(b, inputs, &prepared);
            lint_step(b, &prepared, policy).await?;
            Ok::<_, ()>(prepared)
        };
        let mut local = std::pin::pin!(local);
        loop {
            tokio::select! {
                biased;
                r = &mut local => break r,
                e = &mut early, if early_done.is_none() => early_done = Some(e),
            }
        }
    }?;
    let early = match early_done {
        Some(e) => e,
        None => early.await,
    };
    let signed = sign_in_step(b, early.signed)?;
    let target = api_target(b, early.target)?;
    let current = breaking_changes_step(
        b,
        inputs,
        signed,
        &target,
        &prepared,
        early.contract,
        policy,
    )
    .await?;
    publish_step(b, inputs, env, signed, &target, &prepared, current).await
}

/// Cluster: the address APIM will call and the document the pod serves.
async fn cluster_step(
    b: &mut Builder<'_>,
    session: &Session,
    inputs: &Inputs,
) -> Result<cluster_side::Discovered, ()> {
    let progress = b.progress;
    let discovered = b
        .step(StepName::Cluster, async {
            let conn = match session.connection().await {
                Ok(c) => c,
                Err(f) => return Ended::Err(f.exit, f.message),
            };
            match cluster_side::discover_on(conn, inputs, progress).await {
                Ok(d) => {
                    let detail = format!(
                        "{} from pod {} ({} bytes); APIM will call {}",
                        d.found.document.path,
                        d.found.document.pod,
                        d.found.document.bytes.len(),
                        d.found.address.address
                    );
                    Ended::Ok(d, StepOutcome::Passed, detail)
                }
                Err(e) => Ended::Err(e.exit(), e.to_string()),
            }
        })
        .await?;
    b.verdict
        .warnings
        .extend(discovered.warnings.iter().cloned());
    b.verdict.address = Some(AddressReport {
        address: discovered.found.address.address.to_string(),
        why: discovered.found.address.why.clone(),
        pool: (inputs.backend == BackendMode::Pool)
            .then(|| pool::PoolReport::of(&discovered.found.address)),
    });
    Ok(discovered)
}

/// Where the document and the address came from.
enum DocumentSource {
    /// The cluster: the address found and the document the pod serves.
    Pod(Box<cluster_side::Discovered>),
    /// The `spec-file` input, and the address APIM calls.
    File {
        path: std::path::PathBuf,
        bytes: Vec<u8>,
        address: crate::address::HostPort,
        /// The live API's scheme in a dry run pointed at its address; `None`: the inputs'.
        schemes: Option<Vec<crate::spec::rewrite::Scheme>>,
    },
}

/// `agent-ip` and `node-port`: the address without a cluster.
fn file_address_given(inputs: &Inputs) -> bool {
    inputs.agent_ip.is_some() && inputs.node_port.is_some()
}

/// The document and the address: from the cluster, or from `spec-file`.
async fn source_step(
    b: &mut Builder<'_>,
    session: &Session,
    inputs: &Inputs,
    live_url: Option<&str>,
) -> Result<DocumentSource, ()> {
    match &inputs.spec_file {
        None => cluster_step(b, session, inputs)
            .await
            .map(|d| DocumentSource::Pod(Box::new(d))),
        Some(path) => spec_file_step(b, session, inputs, path, live_url).await,
    }
}

/// `spec-file`: the document the build wrote, pointed at `agent-ip:node-port`, at the address
/// the cluster gives (not a dry run), or in a dry run at the address the live API calls now.
/// A dry run never touches the cluster: no connection is made, so no kubeconfig is needed.
async fn spec_file_step(
    b: &mut Builder<'_>,
    session: &Session,
    inputs: &Inputs,
    path: &std::path::Path,
    live_url: Option<&str>,
) -> Result<DocumentSource, ()> {
    let progress = b.progress;
    let (bytes, found, warnings) = b
        .step(StepName::Document, async {
            let bytes = match cluster_side::read_spec_file(path) {
                Ok(bytes) => bytes,
                Err(e) => return Ended::Err(e.exit(), e.to_string()),
            };
            let (found, warnings) = match file_address(session, inputs, live_url, progress).await {
                Ok(found) => found,
                Err(f) => return Ended::Err(f.exit, f.message),
            };
            let detail = format!(
                "{} from spec-file ({} bytes); APIM will call {}",
                path.display(),
                bytes.len(),
                found.address
            );
            Ended::Ok((bytes, found, warnings), StepOutcome::Passed, detail)
        })
        .await?;
    b.verdict.warnings.extend(warnings);
    b.verdict.address = Some(AddressReport {
        address: found.address.to_string(),
        why: found.why,
        pool: None,
    });
    Ok(DocumentSource::File {
        path: path.to_path_buf(),
        bytes,
        address: found.address,
        schemes: found.schemes,
    })
}

/// The address for a `spec-file` document, the sentence saying why, and warnings: without a
/// cluster when the inputs or the live API tell it, else from the cluster.
async fn file_address(
    session: &Session,
    inputs: &Inputs,
    live_url: Option<&str>,
    progress: &dyn Progress,
) -> Result<(cluster_side::FileAddress, Vec<String>), Failure> {
    let failure = |e: cluster_side::ClusterSideError| Failure {
        exit: e.exit(),
        message: e.to_string(),
    };
    if let Some(found) = cluster_side::address_without_cluster(inputs, live_url) {
        let warnings = cluster_side::lone_agent_ip_warning(inputs)
            .into_iter()
            .collect();
        return found.map(|f| (f, warnings)).map_err(failure);
    }
    let conn = session.connection().await?;
    cluster_side::locate_on(conn, inputs, progress)
        .await
        .map(|(a, warnings)| {
            let found = cluster_side::FileAddress {
                address: a.address,
                why: a.why,
                schemes: None,
            };
            (found, warnings)
        })
        .map_err(failure)
}

/// Rewrite: host/schemes or servers.
async fn rewrite_step(
    b: &mut Builder<'_>,
    inputs: &Inputs,
    source: &DocumentSource,
) -> Result<Prepared, ()> {
    b.step(StepName::Rewrite, async {
        let rewritten = cluster_side::schemes(inputs).and_then(|schemes| match source {
            DocumentSource::Pod(discovered) => {
                cluster_side::rewrite_found(&discovered.found, schemes)
            }
            DocumentSource::File {
                path,
                bytes,
                address,
                schemes: live,
            } => cluster_side::rewrite_file(path, bytes, address, live.clone().unwrap_or(schemes)),
        });
        let rewritten = match rewritten {
            Ok(r) => r,
            Err(e) => return Ended::Err(e.exit(), e.to_string()),
        };
        let document = match rewritten.document() {
            Ok(d) => d,
            // The pod served it (exit 3, as a bad document from the cluster), or the build
            // wrote it and the spec-file input names it (exit 2).
            Err(e) => {
                let (exit, whose) = match source {
                    DocumentSource::Pod(_) => (Exit::Kubernetes, "the pod's document".to_string()),
                    DocumentSource::File { path, .. } => {
                        (Exit::Input, format!("spec-file {}", path.display()))
                    }
                };
                return Ended::Err(exit, format!("{whose}, rewritten, does not parse: {e}"));
            }
        };
        let detail = format!("{} pointed at {}", rewritten.version, rewritten.service_url);
        Ended::Ok(
            Prepared {
                text: rewritten.text,
                document,
                service_url: rewritten.service_url,
                address: match source {
                    DocumentSource::Pod(discovered) => Some(discovered.found.address.clone()),
                    DocumentSource::File { .. } => None,
                },
            },
            StepOutcome::Passed,
            detail,
        )
    })
    .await
}

/// The `output-spec` artifact: a failure to write it is a warning, not the end of the run.
fn keep_output_spec(b: &mut Builder<'_>, inputs: &Inputs, prepared: &Prepared) {
    if let Some(path) = &inputs.output_spec {
        match crate::report::write_output_spec(path, prepared.text.as_bytes()) {
            Ok(written) => b.verdict.spec_path = Some(written),
            Err(e) => b.verdict.warnings.push(format!(
                "output-spec: {e}; the run goes on without the artifact"
            )),
        }
    }
}

/// Lint: what APIM would reject.
async fn lint_step(
    b: &mut Builder<'_>,
    prepared: &Prepared,
    policy: &mut waivers::Run<'_>,
) -> Result<(), ()> {
    let lint = checks::lint_step(&prepared.document, policy);
    let refused = lint.refuse;
    b.verdict.findings.extend(lint.findings.iter().cloned());
    keep_waived(b, FindingSource::Lint, &lint.waived, policy);
    let lint_detail = lint.detail.clone();
    b.step(StepName::Lint, async {
        Ended::Ok((), lint.outcome, lint_detail)
    })
    .await?;
    if refused {
        b.refuse(format!(
            "APIM would reject this document ({}). Fix the findings in the service's OpenAPI generation \
             and deploy again; nothing was written to APIM.{}",
            lint.detail,
            expired_note(policy)
        ));
        return Err(());
    }
    Ok(())
}

/// Sign in to Azure (once per session; started with the cluster side).
fn sign_in_step<'s>(
    b: &mut Builder<'_>,
    signed: Result<(&'s azure::SignedIn, Duration), Failure>,
) -> Result<&'s azure::SignedIn, ()> {
    match signed {
        Ok((s, took)) => b.ran_earlier(
            StepName::SignIn,
            took,
            Ended::Ok(s, StepOutcome::Passed, s.method.clone()),
        ),
        Err(f) => b.ran_earlier(
            StepName::SignIn,
            Duration::ZERO,
            Ended::Err(f.exit, f.message),
        ),
    }
}

/// The API the inputs name, in the signed-in subscription.
fn api_target(
    b: &mut Builder<'_>,
    target: Option<Result<ApiTarget, apim::ApimError>>,
) -> Result<ApiTarget, ()> {
    // Signed in (sign_in_step passed), so the target was made.
    let Some(target) = target else {
        return Err(());
    };
    target.map_err(|e| {
        b.verdict.exit = e.exit();
        b.verdict.outcome = Outcome::Failed;
        b.verdict.error = Some(e.to_string());
    })
}

/// Breaking changes against what APIM serves now (or baseline-spec); gives back what APIM serves.
async fn breaking_changes_step(
    b: &mut Builder<'_>,
    inputs: &Inputs,
    signed: &azure::SignedIn,
    target: &ApiTarget,
    prepared: &Prepared,
    contract: Option<Result<Option<apim::CurrentApi>, apim::ApimError>>,
    policy: &mut waivers::Run<'_>,
) -> Result<Option<apim::CurrentApi>, ()> {
    let (check, current) = b
        .step(StepName::BreakingChanges, async {
            breaking_changes(
                inputs,
                &signed.arm,
                target,
                &prepared.document,
                contract,
                policy,
            )
            .await
        })
        .await?;
    policy.checks_complete();
    b.verdict.findings.extend(check.findings.iter().cloned());
    b.verdict.changes = check.changes.clone();
    keep_waived(b, FindingSource::BreakingChange, &check.waived, policy);
    if check.refuse {
        let new_version = match &inputs.api_version {
            Some(v) => format!(
                "publish this as a new version of version set '{}' (another NAME=PATH in api-versions, beside {})",
                v.set_id, v.version
            ),
            None => "publish this as a new API version (api-versions: v1=OLD-PATH, v2=NEW-PATH)"
                .to_string(),
        };
        b.refuse(format!(
            "{}. Keep the old operations (deprecate them first), {new_version}, set \
             breaking-changes to warn or allow to publish anyway, or waive reviewed findings in \
             the waivers file.{}",
            check.detail,
            expired_note(policy)
        ));
        return Err(());
    }
    Ok(current)
}

/// What the waivers let through, for the report's "Waived" section.
fn keep_waived(
    b: &mut Builder<'_>,
    source: FindingSource,
    waived: &[Waived],
    policy: &waivers::Run<'_>,
) {
    b.verdict
        .waived
        .extend(waived.iter().map(|w| WaivedFinding {
            source,
            finding: w.finding.clone(),
            reason: w.waiver.reason.clone(),
            until: w.waiver.until.to_string(),
            waiver: format!("{} entry {}", policy.file_name(), w.waiver.entry),
        }));
}

/// ` Expired waivers waive nothing …` for a refusal's message, or nothing.
fn expired_note(policy: &waivers::Run<'_>) -> String {
    policy
        .expired_note()
        .map(|n| format!(" {n}"))
        .unwrap_or_default()
}

/// Publish: staged revision, verify, release (or in-place; or nothing when unchanged). With
/// `backend: pool` the backends are written and verified first (the staged policy names the
/// pool), and those no longer wanted removed only once the release is done (see
/// [`apim::backends`]).
async fn publish_step(
    b: &mut Builder<'_>,
    inputs: &Inputs,
    env: &Env,
    signed: &azure::SignedIn,
    target: &ApiTarget,
    prepared: &Prepared,
    current: Option<apim::CurrentApi>,
) -> Result<(), ()> {
    let progress = b.progress;
    let changes = b.verdict.changes.clone();
    // Read and checked before anything is written: a malformed file or an unmatched operation
    // policy is a bad input (exit 2), said as the Publish step's failure; so is a policy that
    // sets a backend of its own when the gate routes to the pool.
    // With the pool and no policy input, the routing goes into the live API's own policy.
    let live =
        if inputs.backend == BackendMode::Pool && inputs.policy.is_none() && current.is_some() {
            match apim::live_api_policy(&signed.arm, target).await {
                Ok(p) => p,
                Err(e) => {
                    return b
                        .step(StepName::Publish, async {
                            Ended::<()>::Err(e.exit(), e.to_string())
                        })
                        .await;
                }
            }
        } else {
            None
        };
    let prepared_policies = crate::policy::Policies::load(
        inputs.policy.as_deref(),
        inputs.operation_policies.as_deref(),
        &prepared.document,
    )
    .map_err(|e| (e.exit(), e.to_string()))
    .and_then(|policies| routed(inputs, prepared, target, policies, live.as_deref()));
    let (policies, plan) = match prepared_policies {
        Ok(p) => p,
        Err((exit, message)) => {
            return b
                .step(StepName::Publish, async { Ended::<()>::Err(exit, message) })
                .await;
        }
    };
    let request = PublishRequest {
        target,
        document: &prepared.document,
        service_url: &prepared.service_url,
        revision: inputs.revision,
        dry_run: inputs.dry_run,
        release_notes: inputs.release_notes.clone(),
        commit: apim::commit_from_env(env),
        current: Some(&current),
        changes: &changes,
        policies: policies.as_ref(),
    };
    let (outcome, backends, problems) = b
        .step(StepName::Publish, async {
            // Before any write, the backends included: a missing named value is a bad input
            // and nothing is written.
            if let Some(p) = policies.as_ref()
                && let Err(e) = apim::check_named_values(&signed.arm, target, p, progress).await
            {
                return Ended::Err(e.exit(), e.to_string());
            }
            // The pool (and its members) before the revision whose policy names it.
            let mut backends = match &plan {
                None => None,
                Some(plan) => {
                    match apim::backends::ensure(
                        &signed.arm,
                        target,
                        plan,
                        inputs.dry_run,
                        progress,
                    )
                    .await
                    {
                        Ok(done) => Some(done),
                        Err(e) => return Ended::Err(e.exit(), e.to_string()),
                    }
                }
            };
            match apim::publish(&signed.arm, &request, progress).await {
                Ok(o) => {
                    // Only once the release is done (or nothing needed releasing): the live
                    // API no longer routes to what is removed.
                    let problems = match backends.as_mut() {
                        Some(done) if !inputs.dry_run => {
                            apim::backends::remove_stale(&signed.arm, target, done, progress).await
                        }
                        _ => Vec::new(),
                    };
                    let detail = publish_detail(&o, policies.as_ref());
                    Ended::Ok((o, backends, problems), StepOutcome::Passed, detail)
                }
                Err(e) => Ended::Err(e.exit(), e.to_string()),
            }
        })
        .await?;
    b.verdict.warnings.extend(outcome.notes.iter().cloned());
    b.verdict.warnings.extend(problems);
    // The gate writes policies and never deletes one: an operation whose file was removed from
    // operation-policies keeps its live policy (a new revision copies it), so that is said.
    if let (Some(folder), Some(p)) = (inputs.operation_policies.as_deref(), policies.as_ref()) {
        match apim::unmanaged_operation_policies(&signed.arm, target, p).await {
            Ok(names) if !names.is_empty() => b.verdict.warnings.push(format!(
                "operation(s) {} of API '{}' keep a live policy no file in operation-policies ({}) is for; the gate never deletes a policy: remove it in APIM, or add its file",
                names.join(", "),
                target.api_id,
                folder.display()
            )),
            Ok(_) => {}
            Err(e) => b.verdict.warnings.push(format!(
                "could not check for operation policies without a file in operation-policies: {e}"
            )),
        }
    }
    if let (Some(done), Some(report)) = (
        &backends,
        b.verdict.address.as_mut().and_then(|a| a.pool.as_mut()),
    ) {
        report.record(done, inputs.dry_run);
    }
    b.verdict.publish = Some(PublishReport {
        api_id: outcome.api_id.clone(),
        revision: outcome.revision,
        service_url: outcome.service_url.clone(),
        operations: outcome.operations,
        changed: outcome.changed,
        dry_run: outcome.dry_run,
        portal_url: outcome.portal_url.clone(),
        policy_diff: outcome.policy_diff.clone(),
    });
    Ok(())
}

/// With `backend: pool`: the backends wanted, and the policies with `set-backend-service` routing
/// the API to them (APIM's default policy when none is given). Nothing is written here.
fn routed(
    inputs: &Inputs,
    prepared: &Prepared,
    target: &ApiTarget,
    policies: Option<crate::policy::Policies>,
    live: Option<&str>,
) -> Result<
    (
        Option<crate::policy::Policies>,
        Option<apim::backends::BackendPlan>,
    ),
    (Exit, String),
> {
    if inputs.backend == BackendMode::Url {
        return Ok((policies, None));
    }
    let Some(address) = &prepared.address else {
        return Err((
            Exit::Input,
            "backend: pool needs the cluster's nodes, and spec-file took the address without \
             them: publish from the cluster (no spec-file) or set backend to url for this run; \
             nothing was written to APIM"
                .to_string(),
        ));
    };
    let plan = pool::plan(address, &prepared.service_url, &target.api_id).map_err(|e| {
        (
            Exit::Kubernetes,
            format!("backend pool: {e}; nothing was written to APIM"),
        )
    })?;
    let mut policies = policies.unwrap_or(crate::policy::Policies {
        api: None,
        operations: Vec::new(),
    });
    let from_live = policies.api.is_none() && live.is_some();
    if let (None, Some(text)) = (&policies.api, live) {
        let file = crate::policy::PolicyFile::from_text(
            "policy",
            std::path::Path::new("the live API's policy"),
            text,
        )
        .map_err(|e| {
            (
                Exit::Input,
                format!(
                    "backend pool: the live API's policy (no policy input was given) cannot be read to add the pool's routing to it: {e}. Give the API's policy as the policy input. Nothing was written to APIM."
                ),
            )
        })?;
        policies.api = Some(file);
    }
    policies.route_to(&plan.routing_id()).map_err(|e| {
        let whose =
            if from_live && !matches!(e, crate::policy::RouteError::OperationSetsBackend { .. }) {
                "the live API's policy (no policy input was given; a new revision keeps it)"
            } else {
                "policy"
            };
        (
            Exit::Input,
            format!("{whose}: {e}. Nothing was written to APIM."),
        )
    })?;
    Ok((Some(policies), Some(plan)))
}

fn publish_detail(o: &apim::PublishOutcome, policies: Option<&crate::policy::Policies>) -> String {
    if let Some(plan) = &o.dry_run_plan {
        return format!("dry run: {plan}");
    }
    let with = match policies {
        Some(p) if o.changed && o.kind != apim::PublishKind::Unchanged => {
            format!(", with {} (verified)", p.describe())
        }
        _ => String::new(),
    };
    publish_sentence(o, policies.is_some()) + &with
}

fn publish_sentence(o: &apim::PublishOutcome, policies: bool) -> String {
    let rev = o
        .revision
        .map(|r| format!(" revision {r}"))
        .unwrap_or_default();
    match o.kind {
        apim::PublishKind::Unchanged if o.changed => format!(
            "document unchanged (api {}{rev}); set the API's display name, protocols or subscription required from the inputs",
            o.api_id
        ),
        apim::PublishKind::Unchanged => format!(
            "unchanged: APIM already serves this document{} (api {}{rev}); nothing written",
            if policies { " and these policies" } else { "" },
            o.api_id
        ),
        apim::PublishKind::Created => format!(
            "created api {}{rev} with {} operations, calling {}",
            o.api_id, o.operations, o.service_url
        ),
        apim::PublishKind::Staged => format!(
            "released api {}{rev} ({} operations, verified), calling {}",
            o.api_id, o.operations, o.service_url
        ),
        apim::PublishKind::InPlace => format!(
            "imported in place into api {}{rev} ({} operations, verified), calling {}",
            o.api_id, o.operations, o.service_url
        ),
    }
}

async fn breaking_changes(
    inputs: &Inputs,
    arm: &azure::ArmClient,
    target: &ApiTarget,
    new: &Document,
    contract: Option<Result<Option<apim::CurrentApi>, apim::ApimError>>,
    policy: &mut waivers::Run<'_>,
) -> Ended<(checks::CheckResult, Option<apim::CurrentApi>)> {
    // The contract alone tells an unchanged document: then there is nothing to compare, and the
    // operations and the export need not be read at all. It was read beside the cluster side.
    let contract = match contract {
        Some(c) => c,
        None => apim::current_contract(arm, target).await,
    };
    let mut current = match contract {
        Ok(c) => c,
        Err(e) => return Ended::Err(e.exit(), e.to_string()),
    };
    if let Some(c) = &current
        && c.sha256.as_deref() == Some(new.sha256().as_str())
    {
        let result = checks::CheckResult {
            outcome: StepOutcome::Passed,
            detail: format!(
                "unchanged: APIM's current revision {} holds this very document",
                c.revision
            ),
            findings: Vec::new(),
            refuse: false,
            changes: Vec::new(),
            waived: Vec::new(),
        };
        let detail = result.detail.clone();
        return Ended::Ok((result, current), StepOutcome::Passed, detail);
    }
    // The live operations and the export are independent reads: against ARM, where each takes a
    // round trip of its own, reading them together takes one service's wait out of the path.
    let export = async {
        match (&current, &inputs.baseline_spec) {
            (Some(_), None) => Some(apim::export_current(arm, target).await),
            _ => None,
        }
    };
    let operations = async {
        match &current {
            Some(_) => Some(apim::current_operations(arm, target).await),
            None => None,
        }
    };
    // A staged release's next revision number, read with them rather than after the check: the
    // re-read of that revision right before it is created keeps the window against another run
    // closed. A failure here is left to the release, which reads again and reports it as before.
    // The same read gives the live revision's release date, which dates a deprecation without
    // sunset date in a baseline-spec file when deprecation-days asks for days: read for that too.
    let dates_deprecations = inputs.baseline_spec.is_some() && inputs.deprecation_days > 0;
    let revisions = async {
        match (&current, inputs.revision) {
            (Some(_), crate::inputs::RevisionMode::Staged) => {
                apim::revisions_overview(arm, target).await.ok()
            }
            (Some(_), _) if dates_deprecations => apim::revisions_overview(arm, target).await.ok(),
            _ => None,
        }
    };
    let (operations, exported, overview) = tokio::join!(operations, export, revisions);
    if let (Some(c), Some((highest, updated))) = (current.as_mut(), overview) {
        c.highest_revision = Some(highest);
        c.current_updated = updated;
    }
    if let (Some(c), Some(operations)) = (current.as_mut(), operations) {
        c.operations = match operations {
            Ok(ops) => ops,
            Err(e) => return Ended::Err(e.exit(), e.to_string()),
        };
    }
    let live = current
        .as_ref()
        .map(|c| c.operations.clone())
        .unwrap_or_default();
    let (baseline, base_doc) = if let Some(path) = &inputs.baseline_spec {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                return Ended::Err(
                    Exit::Input,
                    format!("baseline-spec: cannot read {}: {e}", path.display()),
                );
            }
        };
        match Document::parse(&bytes) {
            Ok(d) => (Baseline::File(path.display().to_string()), Some(d)),
            Err(e) => {
                return Ended::Err(
                    Exit::Input,
                    format!("baseline-spec {}: {e}", path.display()),
                );
            }
        }
    } else if let (Some(current), Some(exported)) = (&current, exported) {
        let exported = match exported {
            Ok(Some(bytes)) => bytes,
            // Deleted between the two reads: nothing left to break.
            Ok(None) => Vec::new(),
            Err(e) => return Ended::Err(e.exit(), e.to_string()),
        };
        if exported.is_empty() {
            (Baseline::None, None)
        } else {
            match Document::parse(&exported) {
                Ok(d) => (
                    Baseline::Live {
                        revision: Some(current.revision),
                    },
                    Some(d),
                ),
                Err(e) => {
                    return Ended::Err(
                        Exit::Azure,
                        format!(
                            "APIM's export of the current API is not a document apim-gate can compare: {e}. \
                         Give the previous document as baseline-spec to check against it instead."
                        ),
                    );
                }
            }
        }
    } else {
        (Baseline::None, None)
    };
    // A deprecation the baseline carries is taken as published with the live revision (its
    // updatedDateTime, set when a release made it current): with baseline-spec, the document
    // that revision was built from. The live export alone cannot date one: it drops `deprecated`
    // (see `Policy::base_shows_deprecation`), so only a baseline-spec file lets the rule
    // "deprecated without sunset date, removed before deprecation-days" fire.
    let base_published = current
        .as_ref()
        .and_then(|c| c.current_updated.as_deref())
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date());
    let diff_policy = crate::spec::diff::Policy {
        base_published,
        base_shows_deprecation: !matches!(baseline, Baseline::Live { .. }),
        ..crate::spec::diff::Policy::now(inputs.deprecation_days)
    };
    let result = checks::breaking_step(
        &baseline,
        base_doc.as_ref(),
        new,
        &live,
        inputs.breaking_changes,
        &diff_policy,
        policy,
    );
    let (outcome, detail) = (result.outcome, result.detail.clone());
    Ended::Ok((result, current), outcome, detail)
}

//! One drift check: the cluster side (the address the gate would choose now, the nodes, the
//! pod's document), the live API (contract and operations), the findings, and with `repair` the
//! fix of the address, all recorded as a [`Verdict`] the reporters render like the gate's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::apim::backends::BackendPlan;
use crate::apim::{self, ApiTarget};
use crate::azure;
use crate::cluster;
use crate::exit::Exit;
use crate::gate::{self, cluster_side};
use crate::gate::{
    AddressReport, FindingSource, Outcome, Progress, PublishReport, SourcedFinding, Step, StepName,
    StepOutcome, Verdict,
};
use crate::inputs::{BackendMode, Env, Inputs};
use crate::policy::Policies;
use crate::spec::{Finding, Level};

use super::address::{self, LiveAddress, NodeState};
use super::{document, repair};

/// A failure every service sharing it reports the same way.
#[derive(Clone, Debug)]
struct Failure {
    exit: Exit,
    message: String,
}

/// One Kubernetes connection and one Azure sign-in for every service of a check, made together.
pub struct Session {
    connection: Result<cluster::Connection, Failure>,
    signed_in: Result<azure::SignedIn, Failure>,
    /// How long the sign-in took.
    sign_in_took: Duration,
}

impl Session {
    pub async fn open(
        inputs: &Inputs,
        env: &Env,
        tokens: Option<Arc<dyn azure::TokenObserver>>,
    ) -> Session {
        let connect = async {
            cluster_side::connect(inputs, env)
                .await
                .map_err(|e| Failure {
                    exit: e.exit(),
                    message: e.to_string(),
                })
        };
        let sign_in = async {
            let started = Instant::now();
            let signed = azure::sign_in_observed(inputs, env, tokens)
                .await
                .map(|s| azure::SignedIn {
                    arm: s.arm.with_deadline(
                        tokio::time::Instant::now() + inputs.timeout,
                        inputs.timeout,
                    ),
                    ..s
                })
                .map_err(|e| Failure {
                    exit: e.exit(),
                    message: e.to_string(),
                });
            (signed, started.elapsed())
        };
        let (connection, (signed_in, sign_in_took)) = tokio::join!(connect, sign_in);
        Session {
            connection,
            signed_in,
            sign_in_took,
        }
    }
}

/// A verdict under construction.
struct Builder<'a> {
    verdict: Verdict,
    progress: &'a dyn Progress,
}

impl Builder<'_> {
    fn step(&mut self, name: StepName, took: Duration, outcome: StepOutcome, detail: String) {
        self.progress.step_started(name);
        let step = Step {
            name,
            outcome,
            duration: took,
            detail,
        };
        self.progress.step_finished(&step);
        self.verdict.steps.push(step);
    }

    /// Ends the check with a failure (exit 2-4): which step, and the whole message.
    fn fail(mut self, name: StepName, took: Duration, exit: Exit, message: String) -> Verdict {
        let first = message.lines().next().unwrap_or("").to_string();
        self.step(name, took, StepOutcome::Failed, first);
        self.verdict.exit = exit;
        self.verdict.outcome = Outcome::Failed;
        self.verdict.error = Some(message);
        self.verdict
    }

    fn add(&mut self, findings: impl IntoIterator<Item = Finding>) {
        self.verdict
            .findings
            .extend(findings.into_iter().map(|finding| SourcedFinding {
                source: FindingSource::Drift,
                finding,
            }));
    }
}

/// Checks one service (`inputs` are that service's) on a shared session.
pub async fn check_service(
    session: &Session,
    inputs: &Inputs,
    repair: bool,
    progress: &dyn Progress,
) -> Verdict {
    let service = inputs.service.clone().unwrap_or_default();
    let label = format!("{}/{service}", inputs.namespace);
    let mut b = Builder {
        verdict: Verdict {
            service: label.clone(),
            outcome: Outcome::Passed,
            exit: Exit::Passed,
            steps: Vec::new(),
            address: None,
            findings: Vec::new(),
            publish: None,
            spec_path: None,
            error: None,
            warnings: inputs.warnings.clone(),
        },
        progress,
    };

    // The cluster: where the gate would point APIM now, the pod's document, and the nodes.
    let started = Instant::now();
    let conn = match &session.connection {
        Ok(c) => c,
        Err(f) => {
            return b.fail(
                StepName::Cluster,
                started.elapsed(),
                f.exit,
                f.message.clone(),
            );
        }
    };
    let (discovered, nodes) = tokio::join!(
        cluster_side::discover_on(conn, inputs, &cluster::Quiet),
        cluster::list_nodes(conn)
    );
    let discovered = match discovered {
        Ok(d) => d,
        Err(e) => {
            return b.fail(
                StepName::Cluster,
                started.elapsed(),
                e.exit(),
                e.to_string(),
            );
        }
    };
    let via = discovered.found.address.via.clone();
    // The nodes matter only when APIM calls a nodePort; a refusal to list them then is fatal.
    let nodes: Vec<NodeState> = match (nodes, &via) {
        (Ok(list), _) => list.iter().map(NodeState::of).collect(),
        (Err(e), cluster::Via::NodePort { .. }) => {
            return b.fail(
                StepName::Cluster,
                started.elapsed(),
                e.exit(),
                e.to_string(),
            );
        }
        (Err(_), _) => Vec::new(),
    };
    b.verdict
        .warnings
        .extend(discovered.warnings.iter().cloned());
    b.verdict.address = Some(AddressReport {
        address: discovered.found.address.address.to_string(),
        why: discovered.found.address.why.clone(),
        pool: None,
    });
    b.step(
        StepName::Cluster,
        started.elapsed(),
        StepOutcome::Passed,
        format!(
            "{} from pod {}; the gate would point APIM at {}",
            discovered.found.document.path,
            discovered.found.document.pod,
            discovered.found.address.address
        ),
    );

    // Azure.
    let signed = match &session.signed_in {
        Ok(s) => s,
        Err(f) => return b.fail(StepName::SignIn, Duration::ZERO, f.exit, f.message.clone()),
    };
    b.step(
        StepName::SignIn,
        session.sign_in_took,
        StepOutcome::Passed,
        signed.method.clone(),
    );
    let target = match ApiTarget::from_inputs(inputs, &service, &signed.subscription_id) {
        Ok(t) => t,
        Err(e) => return b.fail(StepName::Drift, Duration::ZERO, e.exit(), e.to_string()),
    };

    // The live API and the findings.
    let started = Instant::now();
    let (contract, operations) = tokio::join!(
        apim::current_contract(&signed.arm, &target),
        apim::current_operations(&signed.arm, &target)
    );
    let current = match contract {
        Ok(Some(c)) => c,
        Ok(None) => {
            b.add([Finding {
                id: "drift-api-missing".into(),
                level: Level::Error,
                operation: None,
                path: String::new(),
                message: format!(
                    "API '{}' does not exist in APIM instance {}: nothing calls the cluster. Publish it with apim-gate (mode: release).",
                    target.api_id, target.apim_service
                ),
            }]);
            b.step(
                StepName::Drift,
                started.elapsed(),
                StepOutcome::Failed,
                format!("API '{}' does not exist", target.api_id),
            );
            return drifted(b);
        }
        Err(e) => return b.fail(StepName::Drift, started.elapsed(), e.exit(), e.to_string()),
    };
    let operations = match operations {
        Ok(o) => o,
        Err(e) => return b.fail(StepName::Drift, started.elapsed(), e.exit(), e.to_string()),
    };
    let schemes = match cluster_side::schemes(inputs) {
        Ok(s) => s,
        Err(e) => return b.fail(StepName::Drift, started.elapsed(), e.exit(), e.to_string()),
    };
    // What a release would publish now: the pod's document pointed at the gate's address.
    let rewritten = match cluster_side::rewrite_found(&discovered.found, schemes.clone()) {
        Ok(r) => r,
        Err(e) => return b.fail(StepName::Drift, started.elapsed(), e.exit(), e.to_string()),
    };
    let now_document = match rewritten.document() {
        Ok(d) => d,
        Err(e) => {
            let message = format!("the rewritten document does not parse: {e}");
            return b.fail(
                StepName::Drift,
                started.elapsed(),
                Exit::Kubernetes,
                message,
            );
        }
    };
    let wanted = match Wanted::of(
        inputs,
        &discovered.found,
        &rewritten.service_url,
        &target,
        &now_document,
    ) {
        Ok(w) => w,
        Err((exit, message)) => return b.fail(StepName::Drift, started.elapsed(), exit, message),
    };
    let live_url = current.service_url.clone().unwrap_or_default();
    let live = LiveAddress::parse(&live_url);
    // With a pool of nodes the policy routes around the serviceUrl: the members are checked.
    let url_findings = match (&wanted.plan, &live) {
        (Some(_), _) => Vec::new(),
        (None, Some(live)) => address::findings(live, &via, &nodes, &label),
        (None, None) => vec![Finding {
            id: "drift-node-gone".into(),
            level: Level::Error,
            operation: None,
            path: "serviceUrl".into(),
            message: format!(
                "API '{}' has serviceUrl '{live_url}', which names no address in the cluster. Run apim-gate check --repair (or repair: true) to point it at {}.",
                target.api_id, discovered.found.address.address
            ),
        }],
    };
    let pool_check = match &wanted.plan {
        Some(plan) => match super::pool::check(&signed.arm, &target, plan, &nodes).await {
            Ok(c) => c,
            Err(e) => return b.fail(StepName::Drift, started.elapsed(), e.exit(), e.to_string()),
        },
        None => super::pool::PoolCheck::default(),
    };
    let (policy_findings, policy_diff) = match &wanted.policies {
        Some(p) => match super::policy::check(&signed.arm, &target, p).await {
            Ok((f, diff)) => (f, Some(diff)),
            Err(e) => return b.fail(StepName::Drift, started.elapsed(), e.exit(), e.to_string()),
        },
        None => (Vec::new(), None),
    };
    // The document is pointed where APIM calls, as when it was published; an unreadable
    // serviceUrl leaves the gate's choice now.
    let doc_address = live
        .as_ref()
        .and_then(|l| l.host_port().parse().ok())
        .unwrap_or_else(|| discovered.found.address.address.clone());
    let doc = match document::check(
        &discovered.found.document.bytes,
        &doc_address,
        &schemes,
        current.sha256.as_deref(),
        current.revision,
        &operations,
    ) {
        Ok(d) => d,
        Err(e) => {
            let message = format!(
                "the document fetched from pod {} at {} cannot be compared: {e}",
                discovered.found.document.pod, discovered.found.document.path
            );
            return b.fail(
                StepName::Drift,
                started.elapsed(),
                Exit::Kubernetes,
                message,
            );
        }
    };
    let address_findings: Vec<Finding> = url_findings
        .iter()
        .chain(&pool_check.findings)
        .cloned()
        .collect();
    let other_findings: Vec<Finding> = doc
        .findings
        .iter()
        .chain(&policy_findings)
        .cloned()
        .collect();
    let drift_count = address_findings.len() + other_findings.len();
    b.verdict.publish = Some(PublishReport {
        api_id: target.api_id.clone(),
        revision: Some(current.revision),
        service_url: live_url.trim_end_matches('/').to_string(),
        operations: operations.len(),
        changed: false,
        dry_run: false,
        portal_url: target.portal_url(signed.arm.portal()),
        policy_diff,
    });
    let errors = address_findings
        .iter()
        .chain(&other_findings)
        .filter(|f| f.level == Level::Error)
        .count();
    b.step(
        StepName::Drift,
        started.elapsed(),
        match (errors, drift_count) {
            (0, 0) => StepOutcome::Passed,
            (0, _) => StepOutcome::Warned,
            _ => StepOutcome::Failed,
        },
        if drift_count == 0 {
            format!(
                "in sync: revision {} calls {live_url} with {} operations",
                current.revision,
                operations.len()
            )
        } else {
            format!(
                "{drift_count} drift finding(s) on revision {} calling {live_url}",
                current.revision
            )
        },
    );
    let fix_url = !url_findings.is_empty();
    // dry-run writes nothing to APIM, a repair included.
    let repair = match (repair, inputs.dry_run) {
        (true, true) if fix_url || pool_check.differs => {
            b.verdict.warnings.push(
                "dry-run is set, so --repair (the repair input) wrote nothing; run without dry-run to repair"
                    .to_string(),
            );
            false
        }
        (r, _) => r,
    };
    if !repair || (!fix_url && !pool_check.differs) {
        b.add(address_findings);
        b.add(other_findings);
        return settle(b);
    }

    // The repair: the serviceUrl the gate would publish now, and the pool a release would write.
    let started = Instant::now();
    let to = rewritten.service_url.trim_end_matches('/').to_string();
    let mut done = Vec::new();
    if fix_url {
        // The record moves with the address only when it named this very document, so that
        // the next check (and the next release) still sees the document unchanged.
        let sha = doc.same_document.then(|| now_document.sha256());
        match repair::repair(&signed.arm, &target, &current, &to, sha.as_deref()).await {
            Ok(r) => {
                done.push(format!(
                    "serviceUrl of revision {} set from {} to {} and read back",
                    r.revision, r.from, r.to
                ));
                if let Some(p) = b.verdict.publish.as_mut() {
                    p.service_url = to.clone();
                }
            }
            Err(e) => {
                b.add(address_findings);
                b.add(other_findings);
                return b.fail(
                    StepName::Repair,
                    started.elapsed(),
                    Exit::Azure,
                    e.to_string(),
                );
            }
        }
    }
    if let (true, Some(plan)) = (pool_check.differs, &wanted.plan) {
        match super::pool::repair(&signed.arm, &target, plan).await {
            Ok((written, problems)) => {
                done.extend(written);
                b.verdict.warnings.extend(problems);
            }
            Err(e) => {
                b.add(address_findings);
                b.add(other_findings);
                return b.fail(StepName::Repair, started.elapsed(), e.exit(), e.to_string());
            }
        }
    }
    b.step(
        StepName::Repair,
        started.elapsed(),
        StepOutcome::Passed,
        format!("{}; no new revision", done.join("; ")),
    );
    if let Some(p) = b.verdict.publish.as_mut() {
        p.changed = true;
    }
    b.add(address_findings.into_iter().map(|f| Finding {
        level: Level::Info,
        message: format!("repaired: {}", f.message),
        ..f
    }));
    b.add(other_findings.into_iter().map(|f| Finding {
        message: format!(
            "{} --repair fixes addresses only and never publishes a document or a policy.",
            f.message
        ),
        ..f
    }));
    settle(b)
}

/// What a release would set up beside the document: the backend pool and the policies.
struct Wanted {
    plan: Option<BackendPlan>,
    policies: Option<Policies>,
}

impl Wanted {
    /// As the gate makes them (gate/run.rs): with `backend: pool` the API policy (the input's,
    /// or APIM's default) routes to the pool.
    fn of(
        inputs: &Inputs,
        found: &cluster::Found,
        service_url: &str,
        target: &ApiTarget,
        document: &crate::spec::Document,
    ) -> Result<Wanted, (Exit, String)> {
        let policies = Policies::load(
            inputs.policy.as_deref(),
            inputs.operation_policies.as_deref(),
            document,
        )
        .map_err(|e| (e.exit(), e.to_string()))?;
        if inputs.backend == BackendMode::Url {
            return Ok(Wanted {
                plan: None,
                policies,
            });
        }
        let plan = gate::pool::plan(&found.address, service_url, &target.api_id)
            .map_err(|e| (Exit::Kubernetes, format!("backend pool: {e}")))?;
        let mut policies = policies.unwrap_or(Policies {
            api: None,
            operations: Vec::new(),
        });
        policies
            .route_to(&plan.routing_id())
            .map_err(|e| (Exit::Input, format!("policy: {e}")))?;
        Ok(Wanted {
            plan: Some(plan),
            policies: Some(policies),
        })
    }
}

/// Exit 1 when an error-level finding remains, else the check passed (warnings and repairs
/// said).
fn settle(b: Builder<'_>) -> Verdict {
    if b.verdict
        .findings
        .iter()
        .any(|f| f.finding.level == Level::Error)
    {
        drifted(b)
    } else {
        b.verdict
    }
}

/// Drift found: exit 1, and what to do.
fn drifted(mut b: Builder<'_>) -> Verdict {
    b.verdict.exit = Exit::Refused;
    b.verdict.outcome = Outcome::Refused;
    let rules: std::collections::BTreeSet<&str> = b
        .verdict
        .findings
        .iter()
        .filter(|f| f.finding.level == Level::Error)
        .map(|f| f.finding.id.as_str())
        .collect();
    b.verdict.error = Some(format!(
        "APIM has drifted from the cluster ({}); nothing was changed{}.",
        rules.into_iter().collect::<Vec<_>>().join(", "),
        if b.verdict.steps.iter().any(|s| s.name == StepName::Repair) {
            " beyond the address"
        } else {
            ""
        }
    ));
    b.verdict
}

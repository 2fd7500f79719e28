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

use super::address::{self, LiveAddress, shown};
use super::{document, repair};
use crate::cluster::NodeHealth;

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
            changes: Vec::new(),
            waived: Vec::new(),
            publish: None,
            spec_path: None,
            error: None,
            warnings: inputs.warnings.clone(),
        },
        progress,
    };

    // The cluster: where a release would point APIM now and the nodes' health (the survey, which
    // needs no ready pod), and the pod's document (the discovery, which waits for one). When no
    // pod is ready or no node qualifies the address APIM calls is most likely broken: the
    // address rules still run, only the document (and the repair's target) are missing.
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
    let wanted_target = cluster_side::target(inputs);
    let (survey, discovered) = tokio::join!(
        cluster::survey(conn, &wanted_target),
        cluster_side::discover_on(conn, inputs, &cluster::Quiet)
    );
    let survey = match survey {
        Ok(s) => s,
        Err(e) => {
            return b.fail(
                StepName::Cluster,
                started.elapsed(),
                e.exit(),
                e.to_string(),
            );
        }
    };
    let via = match (&discovered, &survey.address, survey.node_port) {
        (Ok(d), _, _) => d.found.address.via.clone(),
        (Err(_), Ok(choice), _) => choice.via.clone(),
        // No node qualifies: APIM's node is checked all the same, against the nodePort.
        (Err(_), Err(cluster::ClusterError::NoNode { .. }), Some(node_port)) => {
            cluster::Via::NodePort {
                node: String::new(),
                node_port,
            }
        }
        (Err(e), Err(_), _) => {
            return b.fail(
                StepName::Cluster,
                started.elapsed(),
                e.exit(),
                e.to_string(),
            );
        }
    };
    // The nodes matter only when APIM calls a nodePort; a refusal to list them then is fatal.
    let nodes: Vec<NodeHealth> = match (survey.nodes, &via) {
        (Ok(list), _) => list,
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
    match &discovered {
        Ok(d) => {
            b.verdict.warnings.extend(d.warnings.iter().cloned());
            b.verdict.address = Some(AddressReport {
                address: d.found.address.address.to_string(),
                why: d.found.address.why.clone(),
                pool: None,
            });
            b.step(
                StepName::Cluster,
                started.elapsed(),
                StepOutcome::Passed,
                format!(
                    "{} from pod {}; the gate would point APIM at {}",
                    d.found.document.path, d.found.document.pod, d.found.address.address
                ),
            );
        }
        Err(e) => {
            let why = e.to_string();
            b.verdict.warnings.push(format!(
                "the document could not be fetched, so it was not compared with APIM (drift-document, drift-operations, drift-policy, and with backend: pool the pool, are not checked): {why}"
            ));
            b.step(
                StepName::Cluster,
                started.elapsed(),
                StepOutcome::Warned,
                format!(
                    "nodes and Service read; no document: {}",
                    why.lines().next().unwrap_or("")
                ),
            );
        }
    }

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
    // With the pool and no policy input a release routes the live API's own policy (gate/run.rs),
    // so that is what the routing is checked in.
    let live_policy = if inputs.backend != BackendMode::Url && inputs.policy.is_none() {
        match apim::live_api_policy(&signed.arm, &target).await {
            Ok(p) => p,
            Err(e) => return b.fail(StepName::Drift, started.elapsed(), e.exit(), e.to_string()),
        }
    } else {
        None
    };
    // What a release would publish now, when the document could be fetched.
    let release = match &discovered {
        Ok(d) => match Release::of(inputs, d, &schemes, &target, live_policy.as_deref()) {
            Ok(r) => Some(r),
            Err((exit, message)) => {
                return b.fail(StepName::Drift, started.elapsed(), exit, message);
            }
        },
        Err(_) => None,
    };
    let pool_mode = inputs.backend != BackendMode::Url;
    let plan = release.as_ref().and_then(|r| r.wanted.plan.as_ref());
    let live_url = current.service_url.clone().unwrap_or_default();
    let live_shown = shown(&live_url);
    let live = LiveAddress::parse(&live_url);
    // With a pool of nodes the policy routes around the serviceUrl: the members are checked.
    let mut url_findings = match (pool_mode, &live) {
        (true, _) => Vec::new(),
        (false, Some(live)) => address::findings(live, &via, &nodes, &label),
        (false, None) => vec![Finding {
            id: "drift-node-gone".into(),
            level: Level::Error,
            operation: None,
            path: "serviceUrl".into(),
            message: format!(
                "API '{}' has serviceUrl '{live_shown}', which names no address in the cluster. Run apim-gate check --repair (or repair: true) to point it at the address a release would publish.",
                target.api_id
            ),
        }],
    };
    let pool_check = match plan {
        Some(plan) => match super::pool::check(&signed.arm, &target, plan, &nodes).await {
            Ok(c) => c,
            Err(e) => return b.fail(StepName::Drift, started.elapsed(), e.exit(), e.to_string()),
        },
        None => super::pool::PoolCheck::default(),
    };
    let (policy_findings, policy_diff) = match release
        .as_ref()
        .and_then(|r| r.wanted.policies.as_ref())
    {
        Some(p) => match super::policy::check(&signed.arm, &target, p).await {
            Ok((f, diff)) => (f, Some(diff)),
            Err(e) => return b.fail(StepName::Drift, started.elapsed(), e.exit(), e.to_string()),
        },
        None => (Vec::new(), None),
    };
    let doc = match &discovered {
        Ok(d) => {
            // The document is pointed where APIM calls, as when it was published; an unreadable
            // serviceUrl leaves the gate's choice now.
            let doc_address = live
                .as_ref()
                .map(LiveAddress::host_port)
                .unwrap_or_else(|| d.found.address.address.clone());
            match document::check(
                &d.found.document.bytes,
                &doc_address,
                &schemes,
                current.sha256.as_deref(),
                current.revision,
                &operations,
            ) {
                Ok(c) => Some(c),
                Err(e) => {
                    let message = format!(
                        "the document fetched from pod {} at {} cannot be compared: {e}",
                        d.found.document.pod, d.found.document.path
                    );
                    return b.fail(
                        StepName::Drift,
                        started.elapsed(),
                        Exit::Kubernetes,
                        message,
                    );
                }
            }
        }
        Err(_) => None,
    };
    // Only when the host and port are right: otherwise the address rules already said it.
    if let (false, true, Some(doc), Some(_)) = (pool_mode, url_findings.is_empty(), &doc, &live) {
        url_findings.extend(address::service_url_edited(&live_url, &doc.service_url));
    }
    let address_findings: Vec<Finding> = url_findings
        .iter()
        .chain(&pool_check.findings)
        .cloned()
        .collect();
    let other_findings: Vec<Finding> = doc
        .iter()
        .flat_map(|d| d.findings.iter())
        .chain(&policy_findings)
        .cloned()
        .collect();
    let drift_count = address_findings.len() + other_findings.len();
    b.verdict.publish = Some(PublishReport {
        api_id: target.api_id.clone(),
        revision: Some(current.revision),
        service_url: live_shown.trim_end_matches('/').to_string(),
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
                "in sync: revision {} calls {live_shown} with {} operations",
                current.revision,
                operations.len()
            )
        } else {
            format!(
                "{drift_count} drift finding(s) on revision {} calling {live_shown}",
                current.revision
            )
        },
    );
    // The check could not see everything: without findings that explain it, it fails as the
    // gate would.
    let incomplete = discovered.as_ref().err().map(|e| (e.exit(), e.to_string()));
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
        return settle(b, incomplete);
    }

    // The repair: the serviceUrl the gate would publish now, and the pool a release would write.
    let started = Instant::now();
    let to = release
        .as_ref()
        .map(|r| r.rewritten.service_url.trim_end_matches('/').to_string());
    let mut done = Vec::new();
    let mut url_repaired = false;
    match (fix_url, &to) {
        (false, _) => {}
        (true, None) => b.verdict.warnings.push(format!(
            "--repair (the repair input) left the serviceUrl as it is: with no document fetched there is no address a release would publish now ({}). Make a pod ready on a Ready node, then run the repair again.",
            incomplete
                .as_ref()
                .map(|(_, m)| m.lines().next().unwrap_or(""))
                .unwrap_or("")
        )),
        // Writing what APIM already holds would change nothing and leave the check failing.
        (true, Some(to)) if address::same_url(&live_url, to) => b.verdict.warnings.push(format!(
            "--repair (the repair input) cannot help: APIM already calls {}, which is the address a release would publish now; the problem is in the cluster (see the findings), not in APIM.",
            shown(to)
        )),
        (true, Some(to)) => {
            // The record moves with the address only when it named this very document, so
            // that the next check (and the next release) still sees the document unchanged.
            let sha = match (&doc, &release) {
                (Some(d), Some(r)) if d.same_document => Some(r.document.sha256()),
                _ => None,
            };
            match repair::repair(&signed.arm, &target, &current, to, sha.as_deref()).await {
                Ok(r) => {
                    done.push(format!(
                        "serviceUrl of revision {} set from {} to {} and read back",
                        r.revision,
                        shown(&r.from),
                        shown(&r.to)
                    ));
                    url_repaired = true;
                    if let Some(p) = b.verdict.publish.as_mut() {
                        p.service_url = shown(to);
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
    }
    let mut pool_repaired = false;
    if let (true, Some(plan)) = (pool_check.differs, plan) {
        match super::pool::repair(&signed.arm, &target, plan).await {
            Ok((written, problems)) => {
                done.extend(written);
                b.verdict.warnings.extend(problems);
                pool_repaired = true;
            }
            Err(e) => {
                b.add(address_findings);
                b.add(other_findings);
                return b.fail(StepName::Repair, started.elapsed(), e.exit(), e.to_string());
            }
        }
    }
    if url_repaired || pool_repaired {
        b.step(
            StepName::Repair,
            started.elapsed(),
            StepOutcome::Passed,
            format!("{}; no new revision", done.join("; ")),
        );
        if let Some(p) = b.verdict.publish.as_mut() {
            p.changed = true;
        }
    }
    let repaired = |f: Finding, done: bool| match done {
        true => Finding {
            level: Level::Info,
            message: format!("repaired: {}", f.message),
            ..f
        },
        false => f,
    };
    b.add(url_findings.into_iter().map(|f| repaired(f, url_repaired)));
    b.add(
        pool_check
            .findings
            .into_iter()
            .map(|f| repaired(f, pool_repaired)),
    );
    b.add(other_findings.into_iter().map(|f| Finding {
        message: format!(
            "{} --repair fixes addresses only and never publishes a document or a policy.",
            f.message
        ),
        ..f
    }));
    settle(b, incomplete)
}

/// What a release would publish now: the pod's document pointed at the gate's address, and what
/// goes beside it.
struct Release {
    rewritten: crate::spec::rewrite::Rewritten,
    document: crate::spec::Document,
    wanted: Wanted,
}

impl Release {
    fn of(
        inputs: &Inputs,
        discovered: &cluster_side::Discovered,
        schemes: &[crate::spec::rewrite::Scheme],
        target: &ApiTarget,
        live_policy: Option<&str>,
    ) -> Result<Release, (Exit, String)> {
        let rewritten = cluster_side::rewrite_found(&discovered.found, schemes.to_vec())
            .map_err(|e| (e.exit(), e.to_string()))?;
        let document = rewritten.document().map_err(|e| {
            (
                Exit::Kubernetes,
                format!("the rewritten document does not parse: {e}"),
            )
        })?;
        let wanted = Wanted::of(
            inputs,
            &discovered.found,
            &rewritten.service_url,
            target,
            &document,
            live_policy,
        )?;
        Ok(Release {
            rewritten,
            document,
            wanted,
        })
    }
}

/// What a release would set up beside the document: the backend pool and the policies.
struct Wanted {
    plan: Option<BackendPlan>,
    policies: Option<Policies>,
}

impl Wanted {
    /// As the gate makes them (gate/run.rs): with `backend: pool` the API policy (the input's,
    /// else the live API's own, else APIM's default) routes to the pool.
    fn of(
        inputs: &Inputs,
        found: &cluster::Found,
        service_url: &str,
        target: &ApiTarget,
        document: &crate::spec::Document,
        live_policy: Option<&str>,
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
        let from_live = policies.api.is_none() && live_policy.is_some();
        if let (None, Some(text)) = (&policies.api, live_policy) {
            policies.api = Some(
                crate::policy::PolicyFile::from_text(
                    "policy",
                    std::path::Path::new("the live API's policy"),
                    text,
                )
                .map_err(|e| (Exit::Input, format!("the live API's policy: {e}")))?,
            );
        }
        policies.route_to(&plan.routing_id()).map_err(|e| {
            let whose = match e {
                crate::policy::RouteError::AlreadySetsBackend { .. } if from_live => {
                    "the live API's policy (no policy input was given; a release keeps it)"
                }
                _ => "policy",
            };
            (Exit::Input, format!("{whose}: {e}"))
        })?;
        Ok(Wanted {
            plan: Some(plan),
            policies: Some(policies),
        })
    }
}

/// Exit 1 when an error-level finding remains; else the failure that kept the check from seeing
/// everything (`incomplete`: no document), if any; else the check passed (warnings and repairs
/// said).
fn settle(mut b: Builder<'_>, incomplete: Option<(Exit, String)>) -> Verdict {
    if b.verdict
        .findings
        .iter()
        .any(|f| f.finding.level == Level::Error)
    {
        return drifted(b);
    }
    if let Some((exit, message)) = incomplete {
        b.verdict.exit = exit;
        b.verdict.outcome = Outcome::Failed;
        b.verdict.error = Some(format!(
            "the address APIM calls is in order, but the check is incomplete: {message}"
        ));
    }
    b.verdict
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

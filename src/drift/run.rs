//! One drift check: the cluster side (the address the gate would choose now, the nodes, the
//! pod's document), the live API (contract and operations), the findings, and with `repair` the
//! fix of the address, all recorded as a [`Verdict`] the reporters render like the gate's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::apim::{self, ApiTarget};
use crate::azure;
use crate::cluster;
use crate::exit::Exit;
use crate::gate::cluster_side;
use crate::gate::{
    AddressReport, FindingSource, Outcome, Progress, PublishReport, SourcedFinding, Step, StepName,
    StepOutcome, Verdict,
};
use crate::inputs::{Env, Inputs};
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
    let live_url = current.service_url.clone().unwrap_or_default();
    let live = LiveAddress::parse(&live_url);
    let address_findings = match &live {
        Some(live) => address::findings(live, &via, &nodes, &label),
        None => vec![Finding {
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
    let drift_count = address_findings.len() + doc.findings.len();
    b.verdict.publish = Some(PublishReport {
        api_id: target.api_id.clone(),
        revision: Some(current.revision),
        service_url: live_url.trim_end_matches('/').to_string(),
        operations: operations.len(),
        changed: false,
        dry_run: false,
        portal_url: target.portal_url(signed.arm.portal()),
        policy_diff: None,
    });
    b.step(
        StepName::Drift,
        started.elapsed(),
        if drift_count == 0 {
            StepOutcome::Passed
        } else {
            StepOutcome::Failed
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
    let document_findings = doc.findings.clone();
    if !repair || address_findings.is_empty() {
        b.add(address_findings);
        b.add(document_findings);
        return if b
            .verdict
            .findings
            .iter()
            .any(|f| f.finding.level == Level::Error)
        {
            drifted(b)
        } else {
            b.verdict
        };
    }

    // The repair: the address the gate chose now, with the current revision's base path.
    let started = Instant::now();
    let rewritten = match cluster_side::rewrite_found(&discovered.found, schemes) {
        Ok(r) => r,
        Err(e) => return b.fail(StepName::Repair, started.elapsed(), e.exit(), e.to_string()),
    };
    let to = rewritten.service_url.trim_end_matches('/').to_string();
    // The record moves with the address only when it named this very document, so that the
    // next check (and the next release) still sees the document unchanged.
    let sha = match doc.same_document {
        true => rewritten.document().ok().map(|d| d.sha256()),
        false => None,
    };
    match repair::repair(&signed.arm, &target, &current, &to, sha.as_deref()).await {
        Ok(done) => {
            b.step(
                StepName::Repair,
                started.elapsed(),
                StepOutcome::Passed,
                format!(
                    "serviceUrl of revision {} set from {} to {} and read back; no new revision",
                    done.revision, done.from, done.to
                ),
            );
            b.add(address_findings.into_iter().map(|f| Finding {
                level: Level::Info,
                message: format!("repaired: {} (now {to})", f.message),
                ..f
            }));
            if let Some(p) = b.verdict.publish.as_mut() {
                p.service_url = to.clone();
                p.changed = true;
            }
            b.add(document_findings.into_iter().map(|f| Finding {
                message: format!(
                    "{} --repair fixes addresses only and never publishes a document.",
                    f.message
                ),
                ..f
            }));
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
        Err(e) => {
            b.add(address_findings);
            b.add(document_findings);
            b.fail(
                StepName::Repair,
                started.elapsed(),
                Exit::Azure,
                e.to_string(),
            )
        }
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

//! Policy drift: rule `drift-policy`, the live API's (and its operations') policies against the
//! `policy` / `operation-policies` inputs, compared normalised as the gate verifies them after a
//! write, so layout alone is no drift. With `backend: pool` the API policy is the one the gate
//! publishes: the input's (or APIM's default) routed to the pool, so a policy that lost its
//! `set-backend-service` is drift too.

use crate::apim::{self, ApiTarget, ApimError};
use crate::azure::ArmClient;
use crate::policy::Policies;
use crate::spec::{Finding, Level};

/// `drift-policy` when APIM's policies are not `policies` (none when they are), and the
/// unified diff from what APIM holds to them, which the report shows as a block.
pub async fn check(
    arm: &ArmClient,
    target: &ApiTarget,
    policies: &Policies,
) -> Result<(Vec<Finding>, String), ApimError> {
    let diff = apim::policy_drift(arm, target, policies).await?;
    if diff.trim().is_empty() {
        return Ok((Vec::new(), String::new()));
    }
    Ok((vec![finding(&diff, policies)], diff))
}

fn finding(diff: &str, policies: &Policies) -> Finding {
    let scopes: Vec<&str> = diff
        .lines()
        .filter_map(|l| l.strip_prefix("--- APIM now: "))
        .collect();
    let files: Vec<String> = policies
        .files()
        .filter(|f| !f.path.as_os_str().is_empty())
        .map(|f| format!("{}: {}", f.input, f.path.display()))
        .collect();
    Finding {
        id: "drift-policy".into(),
        level: Level::Error,
        operation: None,
        path: "policies".into(),
        message: format!(
            "{} of the live API differ{} from {} (someone edited them in APIM, or the files changed since the release); the policy change below shows how. Publish with apim-gate (mode: release) to put the files' policies back, or update the files to what APIM should keep.",
            if scopes.is_empty() {
                "the policies".to_string()
            } else {
                scopes.join(", ")
            },
            if scopes.len() == 1 { "s" } else { "" },
            if files.is_empty() {
                "what the gate publishes (APIM's default policy routed to the backend pool)"
                    .to_string()
            } else {
                files.join(", ")
            }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn the_finding_names_the_scopes_and_the_files() {
        let file = crate::policy::PolicyFile::from_text(
            "policy",
            Path::new("policy.xml"),
            "<policies><inbound><base /></inbound></policies>",
        )
        .unwrap();
        let policies = Policies {
            api: Some(file),
            operations: Vec::new(),
        };
        let diff = "--- APIM now: the API policy\n+++ policy: policy.xml\n-a\n+b\n";
        let f = finding(diff, &policies);
        assert_eq!(f.id, "drift-policy");
        assert!(
            f.message
                .starts_with("the API policy of the live API differs"),
            "{}",
            f.message
        );
        assert!(f.message.contains("policy: policy.xml"), "{}", f.message);
    }
}

//! What can go wrong signing in to Azure or talking to Resource Manager, each said with what
//! happened, why, and what to do. No message, Debug output or log line ever carries a secret:
//! tokens, client secrets and assertions stay in [`crate::inputs::Secret`]s.

use std::fmt;

use serde_json::Value;

use crate::exit::Exit;

/// An error answer from Azure Resource Manager: status, ARM's `code`, `message` and `details`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArmError {
    pub method: String,
    /// The URL path (no query) the request went to.
    pub path: String,
    pub status: u16,
    /// ARM's `error.code`, or `HttpStatus<n>` when the body had none.
    pub code: String,
    pub message: String,
    /// `target: message` for each entry of `error.details`, nested ones flattened.
    pub details: Vec<String>,
    /// `x-ms-request-id`, what Azure support asks for.
    pub request_id: Option<String>,
}

impl ArmError {
    /// Reads ARM's error body (`{"error": {...}}`, or the bare object some pollers answer with).
    pub fn from_response(
        method: &str,
        path: &str,
        status: u16,
        body: &[u8],
        request_id: Option<String>,
    ) -> ArmError {
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let error = parsed
            .as_ref()
            .map(|v| v.get("error").unwrap_or(v))
            .filter(|e| e.get("code").is_some() || e.get("message").is_some());
        let (code, message, details) = match error {
            Some(e) => {
                let mut details = Vec::new();
                collect_details(e.get("details"), &mut details);
                (
                    e.get("code")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    e.get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    details,
                )
            }
            None => (
                String::new(),
                if body.is_empty() {
                    "(empty body)".to_string()
                } else {
                    crate::spec::snippet(&String::from_utf8_lossy(body))
                },
                Vec::new(),
            ),
        };
        ArmError {
            method: method.to_string(),
            path: path.to_string(),
            status,
            code: if code.is_empty() {
                format!("HttpStatus{status}")
            } else {
                code
            },
            message,
            details,
            request_id,
        }
    }

    /// The message and every detail, for matching known APIM problems.
    pub fn full_text(&self) -> String {
        let mut s = self.message.clone();
        for d in &self.details {
            s.push(' ');
            s.push_str(d);
        }
        s
    }

    /// APIM is busy with another operation on the API (an import still running), as APIOps'
    /// retry policy recognises it (Azure/apiops, tools/code/common/Http.cs
    /// `CommonRetryPolicy.ShouldRetryInner`, PRs #787 and #799; issues #141, #379, #497, #689):
    /// `409` or `422` with code `ManagementApiRequestFailed`; `409 PessimisticConcurrencyConflict`;
    /// and `409 Conflict` whose message says "Operation on the API is in progress" (the code
    /// APIM answers with in some regions and versions, PR #787). Codes compare without case.
    pub fn is_busy(&self) -> bool {
        let code = self.code.to_ascii_lowercase();
        (matches!(self.status, 409 | 422) && code == "managementapirequestfailed")
            || (self.status == 409
                && (code == "pessimisticconcurrencyconflict"
                    || (code == "conflict"
                        && self.message.contains("Operation on the API is in progress"))))
    }
}

fn collect_details(details: Option<&Value>, out: &mut Vec<String>) {
    let Some(Value::Array(items)) = details else {
        return;
    };
    for d in items {
        let code = d.get("code").and_then(Value::as_str).unwrap_or("");
        let target = d.get("target").and_then(Value::as_str).unwrap_or("");
        let message = d.get("message").and_then(Value::as_str).unwrap_or("");
        let mut line = String::new();
        if !code.is_empty() {
            line.push_str(code);
        }
        if !target.is_empty() {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(&format!("[{target}]"));
        }
        if !message.is_empty() {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(message);
        }
        if !line.is_empty() {
            out.push(line);
        }
        collect_details(d.get("details"), out);
    }
}

impl fmt::Display for ArmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} answered {} {}: {}",
            self.method, self.path, self.status, self.code, self.message
        )?;
        if !self.details.is_empty() {
            let details = self.details.join("; ");
            write!(f, " Details: {}", details.trim_end_matches('.'))?;
            f.write_str(".")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " (x-ms-request-id {id})")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AzureError {
    /// An input the chosen sign-in needs is missing or unusable.
    #[error("auth {mode}: {message}")]
    Input { mode: String, message: String },
    #[error(
        "cannot read the ca-certificates file {path}: {reason}. Give the ca-certificates input a readable PEM file of extra trusted CA certificates."
    )]
    CaCertificates { path: String, reason: String },
    #[error(
        "auth auto found no way to sign in to Azure here. Checked: {checked}. Set the auth input (client-secret, oidc, azure-pipelines, managed-identity, azure-cli or token) and what it needs."
    )]
    NoSignIn { checked: String },
    #[error(
        "auth oidc on GitHub Actions: the runner offers no ID token ({missing} is not set). The workflow must allow it:\n\n  permissions:\n    id-token: write\n    contents: read\n\n(in the job or the workflow). Pull requests from forks never get an ID token; use another sign-in there."
    )]
    GithubIdTokenPermission { missing: String },
    #[error("{method}: the CI's OIDC token endpoint {url} refused: {message}. {hint}")]
    OidcToken {
        method: String,
        url: String,
        message: String,
        hint: String,
    },
    #[error(
        "auth azure-cli: the Azure CLI (`az`) is not on PATH. Install it (https://aka.ms/azure-cli) and run `az login`, or choose another auth."
    )]
    AzCliMissing,
    #[error("auth azure-cli: `az account get-access-token` failed: {message}. {hint}")]
    AzCli { message: String, hint: String },
    /// Entra ID refused, or could not be reached. `message` carries the AADSTS code and text.
    #[error("signing in with {method} failed: {message}{hint}")]
    SignIn {
        method: String,
        message: String,
        hint: String,
    },
    #[error(
        "cannot reach {what} at {url}: {message}. Check the address (azure-cloud, arm-endpoint, authority-host), the network path from this agent, proxies, and ca-certificates."
    )]
    Unreachable {
        what: String,
        url: String,
        message: String,
    },
    #[error("Azure Resource Manager refused the credentials of {method}: {error}. {hint}")]
    Unauthorized {
        method: String,
        error: Box<ArmError>,
        hint: String,
    },
    #[error(
        "{method} may not do this: {error}. Give the identity the 'API Management Service Contributor' role on the API Management instance (or its resource group)."
    )]
    Forbidden {
        method: String,
        error: Box<ArmError>,
    },
    #[error("Azure Resource Manager: {0}")]
    Arm(Box<ArmError>),
    #[error(
        "Azure Resource Manager sent a link to {url}, which is not on {base}; refusing to send the token there"
    )]
    ForeignLink { url: String, base: String },
    #[error(
        "{what} did not finish within {secs}s. APIM may still be working on it: check the API in the portal, then run again."
    )]
    Timeout { what: String, secs: u64 },
    #[error(
        "{what} was still not done ({last}) when the run's time ran out: the timeout input is {timeout}. APIM may still be working on it: check the API in the portal, then run again, or give timeout more time (e.g. timeout: 20m)."
    )]
    RunTimeout {
        what: String,
        timeout: String,
        last: String,
    },
    #[error(
        "refusing to send a request to {path}: a `.` or `..` segment there would address another resource than the one named. One of api-id, products, resource-group or apim-service is only dots: give the real name"
    )]
    DotSegment { path: String },
    #[error("Azure Resource Manager answered {what} with something that is not JSON: {snippet}")]
    BadResponse { what: String, snippet: String },
}

impl AzureError {
    /// Mistakes in what the user gave exit 2; everything Azure did exits 4.
    pub fn exit(&self) -> Exit {
        match self {
            AzureError::Input { .. }
            | AzureError::CaCertificates { .. }
            | AzureError::NoSignIn { .. }
            | AzureError::GithubIdTokenPermission { .. }
            | AzureError::AzCliMissing
            | AzureError::DotSegment { .. } => Exit::Input,
            _ => Exit::Azure,
        }
    }

    /// The ARM error inside, when ARM answered.
    pub fn arm(&self) -> Option<&ArmError> {
        match self {
            AzureError::Arm(e)
            | AzureError::Unauthorized { error: e, .. }
            | AzureError::Forbidden { error: e, .. } => Some(e),
            _ => None,
        }
    }

    /// Status of ARM's answer, when ARM answered.
    pub fn status(&self) -> Option<u16> {
        self.arm().map(|e| e.status)
    }
}

/// Every error from reqwest or azure_identity becomes a message through this: its causes on one
/// line, and no URL query (a SAS signature) or user part in it.
pub(crate) use crate::redact::error_chain;

/// What to do about an Entra ID refusal, by its AADSTS code.
pub(crate) fn aadsts_hint(message: &str) -> &'static str {
    const HINTS: &[(&str, &str)] = &[
        (
            "AADSTS7000215",
            "The client secret is wrong: give client-secret the secret's Value (not its Secret ID), and check it has not expired.",
        ),
        (
            "AADSTS7000222",
            "The client secret has expired: create a new one on the app registration and update client-secret.",
        ),
        (
            "AADSTS700016",
            "No application with this client-id in this tenant: check client-id and tenant-id.",
        ),
        (
            "AADSTS90002",
            "The tenant does not exist in this cloud: check tenant-id and azure-cloud.",
        ),
        (
            "AADSTS70021",
            "No federated credential on the app registration matches this token's issuer and subject: add one (Certificates & secrets → Federated credentials) for this repository/branch, environment or service connection.",
        ),
        (
            "AADSTS700212",
            "The federated credential expects another audience: use api://AzureADTokenExchange.",
        ),
        (
            "AADSTS700024",
            "The CI's ID token has expired or is not yet valid: check the agent's clock and run again.",
        ),
        (
            "AADSTS700027",
            "The assertion's signature is not trusted: the federated credential's issuer does not match where the token came from.",
        ),
    ];
    // Compare whole codes: AADSTS70021 is a prefix of AADSTS700212.
    let codes: Vec<String> = message
        .match_indices("AADSTS")
        .map(|(i, _)| {
            let digits: String = message[i + 6..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            format!("AADSTS{digits}")
        })
        .collect();
    HINTS
        .iter()
        .find(|(code, _)| codes.iter().any(|c| c == code))
        .map(|(_, h)| *h)
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm_errors_show_code_message_and_details() {
        let body = br#"{"error":{"code":"ValidationError","message":"One or more fields contain incorrect values:","details":[{"code":"ValidationError","target":"representation","message":"Parsing error(s): Cannot infer scheme"}]}}"#;
        let e = ArmError::from_response("PUT", "/x/apis/a", 400, body, Some("rid".into()));
        let text = e.to_string();
        assert!(text.contains("400 ValidationError"), "{text}");
        assert!(
            text.contains("[representation]: Parsing error(s)"),
            "{text}"
        );
        assert!(text.contains("x-ms-request-id rid"), "{text}");
        let bare = ArmError::from_response("GET", "/p", 502, b"<html>bad gateway</html>", None);
        assert_eq!(bare.code, "HttpStatus502");
        assert!(bare.message.contains("bad gateway"));
        let conflict = ArmError::from_response(
            "PUT",
            "/p",
            409,
            br#"{"error":{"code":"PessimisticConcurrencyConflict","message":"Operation on the API is in progress","details":null}}"#,
            None,
        );
        assert!(conflict.is_busy());
        let worded = ArmError::from_response(
            "PUT",
            "/p",
            409,
            br#"{"error":{"code":"Conflict","message":"Operation on the API is in progress"}}"#,
            None,
        );
        assert!(
            worded.is_busy(),
            "409 Conflict 'in progress' (apiops PR #787)"
        );
        let other = ArmError::from_response(
            "PUT",
            "/p",
            409,
            br#"{"error":{"code":"Conflict","message":"Cannot delete the current revision"}}"#,
            None,
        );
        assert!(!other.is_busy(), "any other Conflict is not waited out");
        let rejected = ArmError::from_response(
            "PUT",
            "/p",
            422,
            br#"{"error":{"code":"ValidationError","message":"Operation on the API is in progress"}}"#,
            None,
        );
        assert!(!rejected.is_busy());
        let import = ArmError::from_response(
            "PUT",
            "/p",
            422,
            br#"{"error":{"code":"ManagementApiRequestFailed","message":"Request failed"}}"#,
            None,
        );
        assert!(import.is_busy());
    }

    #[test]
    fn aadsts_codes_get_hints() {
        assert!(aadsts_hint("AADSTS7000215: Invalid client secret").contains("Value"));
        assert!(aadsts_hint("AADSTS70021: No matching").contains("federated"));
        assert!(aadsts_hint("AADSTS700212: audience").contains("audience"));
        assert_eq!(aadsts_hint("AADSTS1: other"), "");
    }
}

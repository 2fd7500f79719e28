//! Every input apim-gate takes: its name, kind, default, fallbacks and meaning.
//!
//! This table is the single source the reader, `--help`, `config`, action.yml and task.json are
//! checked against: an input exists when, and only when, it is listed here.

/// How an input's text is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// Never printed, logged or written: shown as `***`.
    Secret,
    /// A path, inline YAML, or base64: masked unless it names an existing file.
    Kubeconfig,
    /// true/false/yes/no/1/0, any case.
    Bool,
    /// Comma- or newline-separated, trimmed, empty items dropped.
    List,
    /// `90s`, `2m`, `1h`, `500ms`, or a bare number of seconds.
    Duration,
    /// One of the listed values, any case.
    Choice(&'static [&'static str]),
    /// A whole number within the bounds.
    Integer {
        min: u64,
        max: u64,
    },
    /// An `https://` URL of a host (no user, query or fragment): credentials are sent there.
    Url,
    /// A GUID, as Azure spells ids.
    Guid,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Kubernetes,
    Apim,
    Auth,
    Gate,
    Reporting,
}

impl Group {
    pub fn title(self) -> &'static str {
        match self {
            Group::Kubernetes => "Kubernetes",
            Group::Apim => "Azure API Management",
            Group::Auth => "Azure sign-in",
            Group::Gate => "Gate",
            Group::Reporting => "Reporting",
        }
    }
}

#[derive(Debug)]
pub struct InputSpec {
    /// kebab-case, as in action.yml (`resource-group`).
    pub name: &'static str,
    pub kind: Kind,
    pub default: Option<&'static str>,
    /// Standard variables read when the input is not given (`KUBECONFIG`, `AZURE_CLIENT_ID`).
    pub fallbacks: &'static [&'static str],
    pub group: Group,
    pub help: &'static str,
}

impl InputSpec {
    /// The field name in [`super::Inputs`] (`resource_group`).
    pub fn field(&self) -> String {
        self.name.replace('-', "_")
    }

    /// `INPUT_RESOURCE-GROUP`: what a GitHub Actions JavaScript/Docker step would see.
    pub fn github_var(&self) -> String {
        format!("INPUT_{}", self.name.to_ascii_uppercase())
    }

    /// `resourceGroup`: the task.json input name in Azure DevOps.
    pub fn ado_name(&self) -> String {
        let mut out = String::new();
        let mut upper = false;
        for c in self.name.chars() {
            if c == '-' {
                upper = true;
            } else if upper {
                out.push(c.to_ascii_uppercase());
                upper = false;
            } else {
                out.push(c);
            }
        }
        out
    }

    /// `INPUT_RESOURCEGROUP`: what the Azure DevOps agent sets for the task input.
    pub fn ado_var(&self) -> String {
        format!("INPUT_{}", self.ado_name().to_ascii_uppercase())
    }

    /// `APIM_GATE_RESOURCE_GROUP`: the local spelling.
    pub fn local_var(&self) -> String {
        format!(
            "APIM_GATE_{}",
            self.name.to_ascii_uppercase().replace('-', "_")
        )
    }

    pub fn is_secret(&self) -> bool {
        matches!(self.kind, Kind::Secret)
    }
}

const fn input(
    name: &'static str,
    kind: Kind,
    default: Option<&'static str>,
    fallbacks: &'static [&'static str],
    group: Group,
    help: &'static str,
) -> InputSpec {
    InputSpec {
        name,
        kind,
        default,
        fallbacks,
        group,
        help,
    }
}

use Group::*;
use Kind::*;

pub const AUTH_MODES: &[&str] = &[
    "auto",
    "client-secret",
    "oidc",
    "azure-pipelines",
    "managed-identity",
    "azure-cli",
    "token",
];

pub static INPUTS: &[InputSpec] = &[
    input(
        "kubeconfig",
        Kubeconfig,
        None,
        &["KUBECONFIG"],
        Kubernetes,
        "Kubeconfig: a file path, inline YAML, or base64 of either. Default: KUBECONFIG, ~/.kube/config, then in-cluster.",
    ),
    input(
        "context",
        Text,
        None,
        &[],
        Kubernetes,
        "Kubeconfig context to use. Default: the kubeconfig's current-context.",
    ),
    input(
        "namespace",
        Text,
        Some("default"),
        &[],
        Kubernetes,
        "Namespace of the Service.",
    ),
    input(
        "service",
        Text,
        None,
        &[],
        Kubernetes,
        "Name of the Kubernetes Service in front of the ASP.NET Core pods (required unless `services` is given).",
    ),
    input(
        "service-port",
        Text,
        None,
        &[],
        Kubernetes,
        "The Service port APIM calls, by name or number. Needed when the Service has several ports.",
    ),
    input(
        "swagger-path",
        Text,
        None,
        &[],
        Kubernetes,
        "Path of the OpenAPI document in the pod. Default: /swagger/v1/swagger.json, then /openapi/v1.json.",
    ),
    input(
        "address",
        Choice(&["auto", "node-port", "load-balancer"]),
        Some("auto"),
        &[],
        Kubernetes,
        "Which address APIM calls: auto (internal load balancer when it has an IP, else NodePort), node-port, or load-balancer.",
    ),
    input(
        "agent-ip",
        Text,
        None,
        &[],
        Kubernetes,
        "Host name or IP APIM calls instead of a discovered node's InternalIP.",
    ),
    input(
        "pod-ready-timeout",
        Duration,
        Some("2m"),
        &[],
        Kubernetes,
        "How long to wait for a ready pod behind the Service (90s, 2m).",
    ),
    input(
        "subscription-id",
        Guid,
        None,
        &["AZURE_SUBSCRIPTION_ID"],
        Apim,
        "Azure subscription of the API Management instance.",
    ),
    input(
        "resource-group",
        Text,
        None,
        &[],
        Apim,
        "Resource group of the API Management instance.",
    ),
    input(
        "apim-service",
        Text,
        None,
        &[],
        Apim,
        "Name of the API Management instance.",
    ),
    input(
        "api-id",
        Text,
        None,
        &[],
        Apim,
        "API id in APIM. Default: the service name.",
    ),
    input(
        "api-path",
        Text,
        None,
        &[],
        Apim,
        "URL suffix of the API in APIM. Default: the service name.",
    ),
    input(
        "api-display-name",
        Text,
        None,
        &[],
        Apim,
        "Display name of the API. Default: the document's info.title.",
    ),
    input(
        "api-protocols",
        List,
        Some("https"),
        &[],
        Apim,
        "Protocols APIM's gateway accepts for the API (http, https).",
    ),
    input(
        "subscription-required",
        Bool,
        Some("true"),
        &[],
        Apim,
        "Whether callers need an APIM subscription key.",
    ),
    input(
        "products",
        List,
        None,
        &[],
        Apim,
        "Product ids to add the API to.",
    ),
    input(
        "scheme",
        List,
        Some("http"),
        &[],
        Apim,
        "Scheme(s) APIM uses to call the service (written into the document): http for a NodePort.",
    ),
    input(
        "azure-cloud",
        Choice(&["AzureCloud", "AzureChinaCloud", "AzureUSGovernment"]),
        Some("AzureCloud"),
        &[],
        Auth,
        "Azure cloud: sets the ARM endpoint and the sign-in authority.",
    ),
    input(
        "arm-endpoint",
        Url,
        None,
        &[],
        Auth,
        "Azure Resource Manager endpoint, overriding azure-cloud.",
    ),
    input(
        "arm-api-version",
        Text,
        Some("2024-05-01"),
        &[],
        Auth,
        "api-version of every Microsoft.ApiManagement call through ARM (a newer GA version, without a new binary).",
    ),
    input(
        "authority-host",
        Url,
        None,
        &[],
        Auth,
        "Entra ID authority, overriding azure-cloud.",
    ),
    input(
        "allow-custom-endpoints",
        Bool,
        Some("false"),
        &[],
        Auth,
        "Allow an arm-endpoint or authority-host that is not a known Azure cloud's (a private endpoint, a test double).",
    ),
    input(
        "auth",
        Choice(AUTH_MODES),
        Some("auto"),
        &[],
        Auth,
        "How to sign in to Azure: auto, client-secret, oidc, azure-pipelines, managed-identity, azure-cli, token.",
    ),
    input(
        "tenant-id",
        Guid,
        None,
        &["AZURE_TENANT_ID"],
        Auth,
        "Entra ID tenant.",
    ),
    input(
        "client-id",
        Guid,
        None,
        &["AZURE_CLIENT_ID"],
        Auth,
        "Application (client) id of the service principal or managed identity.",
    ),
    input(
        "client-secret",
        Secret,
        None,
        &["AZURE_CLIENT_SECRET"],
        Auth,
        "Client secret of the service principal.",
    ),
    input(
        "access-token",
        Secret,
        None,
        &[],
        Auth,
        "An ARM bearer token to use as is (auth: token).",
    ),
    input(
        "azure-service-connection",
        Text,
        None,
        &[],
        Auth,
        "Azure DevOps AzureRM service connection (its id) to sign in with.",
    ),
    input(
        "ca-certificates",
        Text,
        None,
        &[],
        Auth,
        "PEM file of extra trusted CA certificates for every HTTPS call (corporate proxies).",
    ),
    input(
        "breaking-changes",
        Choice(&["fail", "warn", "allow"]),
        Some("fail"),
        &[],
        Gate,
        "What a breaking change against the live API does: fail the gate, warn and publish, or allow.",
    ),
    input(
        "dry-run",
        Bool,
        Some("false"),
        &[],
        Gate,
        "Compute and show everything, write nothing to APIM.",
    ),
    input(
        "revision",
        Choice(&["staged", "in-place"]),
        Some("staged"),
        &[],
        Gate,
        "staged: import into a new revision, verify, then release it. in-place: import into the current API.",
    ),
    input(
        "timeout",
        Duration,
        Some("10m"),
        &[],
        Gate,
        "Longest the whole run may take, waits for APIM included (90s, 10m).",
    ),
    input(
        "release-notes",
        Text,
        None,
        &[],
        Gate,
        "Notes of the APIM release. Default: names the commit.",
    ),
    input(
        "baseline-spec",
        Text,
        None,
        &[],
        Gate,
        "Document to check breaking changes against, instead of what APIM serves now.",
    ),
    input(
        "output-spec",
        Text,
        None,
        &[],
        Reporting,
        "Write the published document to this path.",
    ),
    input(
        "findings-file",
        Text,
        None,
        &[],
        Reporting,
        "Write every finding, ungrouped, as JSON to this path (the log and summary group them by rule).",
    ),
    input(
        "verbose",
        Bool,
        Some("false"),
        &[],
        Reporting,
        "List every finding one by one in the log, not grouped by rule.",
    ),
    input(
        "github-token",
        Secret,
        None,
        &[],
        Reporting,
        "Token for check runs and PR comments.",
    ),
    input(
        "check-run",
        Bool,
        None,
        &[],
        Reporting,
        "Create a GitHub check run with the verdict. Default: true when github-token is set.",
    ),
    input(
        "pr-comment",
        Bool,
        Some("false"),
        &[],
        Reporting,
        "Post or update one comment with the verdict on the pull request.",
    ),
    input(
        "services",
        Text,
        None,
        &[],
        Gate,
        "Several services: namespace/service[:port][=api-id] per line or comma, or a YAML/JSON manifest path.",
    ),
    input(
        "parallelism",
        Integer { min: 1, max: 64 },
        Some("4"),
        &[],
        Gate,
        "How many services are published at once.",
    ),
    input(
        "deprecation-days",
        Integer { min: 0, max: 3650 },
        Some("0"),
        &[],
        Gate,
        "Least number of days between deprecating an operation, parameter or property and removing it: a deprecation needs a sunset date at least this far ahead (oasdiff's deprecation-days).",
    ),
    input(
        "api-versions",
        Text,
        None,
        &[],
        Apim,
        "API versions: NAME=PATH per line or comma (v1=/swagger/v1/swagger.json), or auto (from the pod's Swagger UI). One version set {api-id}, one API {api-id}-{NAME} per version.",
    ),
    input(
        "versioning-scheme",
        Choice(&["segment", "query", "header"]),
        Some("segment"),
        &[],
        Apim,
        "How callers choose a version of api-versions: a URL segment, a query parameter or a header.",
    ),
    input(
        "version-query-name",
        Text,
        Some("api-version"),
        &[],
        Apim,
        "The query parameter that carries the version (versioning-scheme: query).",
    ),
    input(
        "version-header-name",
        Text,
        Some("api-version"),
        &[],
        Apim,
        "The header that carries the version (versioning-scheme: header).",
    ),
    input(
        "waivers",
        Text,
        None,
        &[],
        Gate,
        "YAML file of reviewed waivers (rule, operation, api-id, until, reason). Default: .apim-gate/waivers.yaml in the working directory, when it exists.",
    ),
    input(
        "rule-levels",
        List,
        None,
        &[],
        Gate,
        "Level overrides for breaking-change and lint warning rules: rule=level (error, warning, info), per line or comma.",
    ),
    input(
        "spec-file",
        Text,
        None,
        &[],
        Gate,
        "Take the OpenAPI document from this file instead of a pod; with dry-run no cluster is contacted at all.",
    ),
    input(
        "node-port",
        Integer { min: 1, max: 65535 },
        None,
        &[],
        Kubernetes,
        "Port APIM calls on agent-ip; with agent-ip, spec-file needs no cluster for the address.",
    ),
    input(
        "policy",
        Text,
        None,
        &[],
        Gate,
        "File with the API's policy XML (rawxml: policy expressions unescaped), published with the revision.",
    ),
    input(
        "operation-policies",
        Text,
        None,
        &[],
        Gate,
        "Folder of <operationId>.xml operation policies, published with the revision.",
    ),
    input(
        "backend",
        Choice(&["url", "pool"]),
        Some("url"),
        &[],
        Gate,
        "How APIM reaches the service: url (the API's serviceUrl) or pool (a backend per Ready node, with a circuit breaker, and a Pool backend the API's policy routes to).",
    ),
    input(
        "mode",
        Choice(&["release", "check"]),
        Some("release"),
        &[],
        Gate,
        "release: the gate (publish). check: compare what APIM serves with the cluster and report drift, writing nothing (apim-gate check).",
    ),
    input(
        "repair",
        Bool,
        Some("false"),
        &[],
        Gate,
        "With mode check: fix address drift in place (the current revision's serviceUrl, or the backend pool's members), verified, no new revision; never publishes a document or a policy.",
    ),
];

/// The inputs that decide where credentials are sent (or which CA vouches for that host). On
/// GitHub Actions and Azure DevOps they are read only from the step's own input variable: any
/// earlier step can write `GITHUB_ENV`, and every non-secret Azure Pipelines variable (queue-time
/// ones too) is an environment variable, so an `APIM_GATE_*` variable there could send the
/// client secret or the ARM token to a host of someone else's choosing.
pub const ROUTING: &[&str] = &[
    "azure-cloud",
    "arm-endpoint",
    "authority-host",
    "allow-custom-endpoints",
    "ca-certificates",
    "auth",
];

/// Variables under the `APIM_GATE_` prefix that are not inputs (the Azure DevOps task's launcher).
pub const RESERVED: &[&str] = &["APIM_GATE_BIN"];

pub fn find(name: &str) -> Option<&'static InputSpec> {
    let key = normalize(name);
    INPUTS.iter().find(|i| normalize(i.name) == key)
}

/// Matching ignores case, `-` and `_`, so every platform's spelling of one input agrees.
pub fn normalize(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '-' && *c != '_')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The known input closest to a misspelt one, when it is close enough to be a likely typo.
pub fn suggest(name: &str) -> Option<&'static InputSpec> {
    let key = normalize(name);
    INPUTS
        .iter()
        .map(|i| (edit_distance(&key, &normalize(i.name)), i))
        .filter(|(d, i)| *d <= 3.max(normalize(i.name).len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, i)| i)
}

pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings() {
        let rg = find("resource-group").unwrap();
        assert_eq!(rg.github_var(), "INPUT_RESOURCE-GROUP");
        assert_eq!(rg.ado_var(), "INPUT_RESOURCEGROUP");
        assert_eq!(rg.ado_name(), "resourceGroup");
        assert_eq!(rg.local_var(), "APIM_GATE_RESOURCE_GROUP");
        assert_eq!(find("ResourceGroup").unwrap().name, "resource-group");
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("RESOURCE_GRUOP").unwrap().name, "resource-group");
        assert_eq!(suggest("subscription_idd").unwrap().name, "subscription-id");
        assert!(suggest("completely_unrelated_thing").is_none());
    }

    #[test]
    fn names_are_unique_after_normalisation() {
        let mut seen = std::collections::HashSet::new();
        for i in INPUTS {
            assert!(seen.insert(normalize(i.name)), "{} twice", i.name);
        }
    }
}

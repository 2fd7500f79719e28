//! The gate's inputs, read from whichever spelling the environment uses.
//!
//! GitHub Actions passes `INPUT_RESOURCE-GROUP`, Azure DevOps `INPUT_RESOURCEGROUP`, a local run
//! `APIM_GATE_RESOURCE_GROUP` (from the environment or an `--env-file`); the standard Azure and
//! Kubernetes variables (`AZURE_CLIENT_ID`, `KUBECONFIG`, …) are fallbacks. Every spelling lands in
//! one typed [`Inputs`] (deserialised with `envy`), every problem is reported at once, and where a
//! value came from is kept so `apim-gate config` can show it. Secrets never leave as text.
//!
//! On GitHub Actions and Azure DevOps the inputs that decide where credentials go
//! ([`table::ROUTING`]) are read from the step's own input variable only, URLs that receive
//! credentials must be https, and an endpoint that is not a known Azure cloud's needs
//! `allow-custom-endpoints`.

pub mod kubeconfig;
pub mod table;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

pub use table::{INPUTS, InputSpec, Kind};

/// Where the run happens; decides spellings in messages and how reports are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Platform {
    GithubActions,
    AzureDevops,
    Local,
}

impl Platform {
    /// The platform the run reports to: `GITHUB_ACTIONS=true`, then `TF_BUILD=True`, then any
    /// other mark of a runner or agent ([`Platform::marked`]).
    pub fn detect(env: &Env) -> Platform {
        if is_true(env, "GITHUB_ACTIONS") {
            Platform::GithubActions
        } else if is_true(env, "TF_BUILD") {
            Platform::AzureDevops
        } else {
            Platform::marked(env)
                .first()
                .copied()
                .unwrap_or(Platform::Local)
        }
    }

    /// Every CI platform whose marks are in the environment. `TF_BUILD` alone is not enough to
    /// trust: on Azure DevOps a pipeline variable named `TF_BUILD` may replace it, and a run that
    /// took itself for a local one would read where credentials go from `APIM_GATE_*` variables.
    /// The GitHub runner sets `GITHUB_RUN_ID` and `RUNNER_TEMP` for every step (GitHub Docs,
    /// "Variables reference": default variables); the Azure DevOps agent sets `AGENT_ID` and, for
    /// a task, `VSTS_PUBLIC_VARIABLES` (microsoft/azure-pipelines-agent
    /// src/Agent.Worker/Handlers/Handler.cs, `AddVariablesToEnvironment`).
    pub fn marked(env: &Env) -> Vec<Platform> {
        let set = |name: &str| env.get(name).is_some_and(|v| !v.trim().is_empty());
        let mut out = Vec::new();
        if is_true(env, "GITHUB_ACTIONS") || set("GITHUB_RUN_ID") || set("RUNNER_TEMP") {
            out.push(Platform::GithubActions);
        }
        if is_true(env, "TF_BUILD") || set("AGENT_ID") || env.get(PUBLIC_VARIABLES).is_some() {
            out.push(Platform::AzureDevops);
        }
        out
    }

    /// The variable the platform itself sets for the step's input (`with:` on GitHub through
    /// action.yml's `env:`, the task input on Azure DevOps); `None` locally.
    pub fn step_var(self, spec: &InputSpec) -> Option<String> {
        match self {
            Platform::GithubActions => Some(spec.github_var()),
            Platform::AzureDevops => Some(spec.ado_var()),
            Platform::Local => None,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Platform::GithubActions => "GitHub Actions",
            Platform::AzureDevops => "Azure DevOps",
            Platform::Local => "a local run",
        }
    }

    /// How a user on this platform spells the input.
    pub fn spelling(self, spec: &InputSpec) -> String {
        match self {
            Platform::GithubActions => format!("with: {} / {}", spec.name, spec.github_var()),
            Platform::AzureDevops => format!("{} / {}", spec.ado_name(), spec.ado_var()),
            Platform::Local => spec.local_var(),
        }
    }
}

fn is_true(env: &Env, name: &str) -> bool {
    env.get(name)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// The names of the pipeline's public variables, as JSON, which the Azure DevOps agent gives a
/// task (microsoft/azure-pipelines-agent src/Agent.Worker/Handlers/Handler.cs,
/// `AddVariablesToEnvironment`). It is written after the variables themselves, so no variable can
/// forge it; a script step does not get it.
pub const PUBLIC_VARIABLES: &str = "VSTS_PUBLIC_VARIABLES";

/// Where a variable's value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Process,
    EnvFile(PathBuf),
}

/// The variables a run sees: the process environment merged with an optional dotenv file.
/// `Debug` names the variables only: which of them hold secrets is not known here.
#[derive(Clone, Default)]
pub struct Env {
    vars: BTreeMap<String, (String, Origin)>,
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Env")
            .field("names", &self.vars.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EnvFileError {
    #[error("cannot read the env file {path}: {source}. Check the --env-file path.")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the env file {path} is not valid dotenv: {message}. Each line must be NAME=VALUE.")]
    Parse { path: PathBuf, message: String },
}

impl Env {
    /// The process environment alone.
    pub fn from_process() -> Env {
        Env::from_pairs(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
    }

    pub fn from_pairs<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Env {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k, (v, Origin::Process)))
                .collect(),
        }
    }

    /// Adds a dotenv file, read without touching the process environment. Real variables win
    /// unless `override_process` (the `--env-file-override` flag).
    pub fn with_file(mut self, path: &Path, override_process: bool) -> Result<Env, EnvFileError> {
        let iter = dotenvy::from_path_iter(path).map_err(|e| match e {
            dotenvy::Error::Io(source) => EnvFileError::Read {
                path: path.to_path_buf(),
                source,
            },
            other => EnvFileError::Parse {
                path: path.to_path_buf(),
                message: other.to_string(),
            },
        })?;
        for item in iter {
            let (k, v) = item.map_err(|e| EnvFileError::Parse {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
            if override_process || !self.vars.contains_key(&k) {
                self.vars
                    .insert(k, (v, Origin::EnvFile(path.to_path_buf())));
            }
        }
        Ok(self)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(|(v, _)| v.as_str())
    }

    /// Every variable and its value.
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, (v, _))| (k.as_str(), v.as_str()))
    }

    fn iter(&self) -> impl Iterator<Item = (&str, &str, &Origin)> {
        self.vars
            .iter()
            .map(|(k, (v, o))| (k.as_str(), v.as_str(), o))
    }

    fn describe(&self, name: &str) -> String {
        match self.vars.get(name) {
            Some((_, Origin::EnvFile(p))) => format!("{name} (from {})", p.display()),
            _ => name.to_string(),
        }
    }
}

/// Where an input's value came from, for `apim-gate config` and messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Source {
    /// The variable, and the env file when it came from one: `APIM_GATE_NAMESPACE (from ci.env)`.
    Variable(String),
    #[serde(serialize_with = "ser_default")]
    Default,
}

fn ser_default<S: serde::Serializer>(s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("default")
}

/// One problem with one input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub input: &'static str,
    /// How the user spells it on this platform.
    pub spelling: String,
    pub message: String,
}

/// Every problem with the inputs, reported together (exit code 2).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct InputError {
    pub problems: Vec<Problem>,
    /// Unknown names seen on the way: often the reason an input is "missing".
    pub warnings: Vec<String>,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(
            f,
            "{n} problem{} with the inputs:",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            writeln!(f, "  - {} ({}): {}", p.input, p.spelling, p.message)?;
        }
        for w in &self.warnings {
            writeln!(f, "  warning: {w}")?;
        }
        Ok(())
    }
}

/// A value that must never be shown. `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for the one place that sends it where it belongs.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AddressMode {
    Auto,
    NodePort,
    LoadBalancer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub enum AzureCloud {
    AzureCloud,
    AzureChinaCloud,
    AzureUSGovernment,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMode {
    Auto,
    ClientSecret,
    Oidc,
    AzurePipelines,
    ManagedIdentity,
    AzureCli,
    Token,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BreakingChanges {
    Fail,
    Warn,
    Allow,
}

/// The `mode` input: what a run without a subcommand does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunMode {
    /// The gate: publish.
    Release,
    /// `apim-gate check`: report drift, write nothing (unless `repair`).
    Check,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevisionMode {
    Staged,
    InPlace,
}

/// How APIM reaches the service (`backend` input).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendMode {
    /// The API's serviceUrl: one address (a node's nodePort, or the internal load balancer).
    Url,
    /// APIM backends: one per eligible Ready node and a `Pool` over them (one backend for an
    /// internal load balancer), the API's policy routing to it.
    Pool,
}

/// The typed inputs. Field names are the input names in snake case; see [`table::INPUTS`].
#[derive(Clone, Debug, Deserialize)]
pub struct Inputs {
    #[serde(default)]
    pub kubeconfig: Option<Secret>,
    pub context: Option<String>,
    pub namespace: String,
    pub service: Option<String>,
    pub service_port: Option<String>,
    pub swagger_path: Option<String>,
    pub address: AddressMode,
    pub agent_ip: Option<String>,
    #[serde(deserialize_with = "millis")]
    pub pod_ready_timeout: Duration,
    pub subscription_id: Option<String>,
    pub resource_group: Option<String>,
    pub apim_service: Option<String>,
    pub api_id: Option<String>,
    pub api_path: Option<String>,
    pub api_display_name: Option<String>,
    #[serde(default)]
    pub api_protocols: Vec<String>,
    pub subscription_required: bool,
    #[serde(default)]
    pub products: Vec<String>,
    #[serde(default)]
    pub scheme: Vec<String>,
    pub azure_cloud: AzureCloud,
    pub arm_endpoint: Option<String>,
    pub arm_api_version: String,
    pub authority_host: Option<String>,
    /// `arm-endpoint` / `authority-host` may be outside the known clouds (checked on load).
    pub allow_custom_endpoints: bool,
    pub auth: AuthMode,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub access_token: Option<Secret>,
    pub azure_service_connection: Option<String>,
    pub ca_certificates: Option<PathBuf>,
    pub breaking_changes: BreakingChanges,
    pub dry_run: bool,
    pub revision: RevisionMode,
    #[serde(deserialize_with = "millis")]
    pub timeout: Duration,
    pub release_notes: Option<String>,
    pub baseline_spec: Option<PathBuf>,
    pub output_spec: Option<PathBuf>,
    pub findings_file: Option<PathBuf>,
    pub verbose: bool,
    pub github_token: Option<Secret>,
    pub check_run: Option<bool>,
    pub pr_comment: bool,
    pub services: Option<String>,
    pub parallelism: u32,
    pub deprecation_days: u32,
    pub api_versions: Option<String>,
    pub versioning_scheme: crate::apim::VersioningScheme,
    pub version_query_name: String,
    pub version_header_name: String,
    /// The version of a version set this run publishes (set per version by
    /// [`crate::gate::versions`], not an input).
    #[serde(skip)]
    pub api_version: Option<crate::apim::VersionBinding>,
    pub waivers: Option<PathBuf>,
    #[serde(default)]
    pub rule_levels: Vec<String>,
    pub spec_file: Option<PathBuf>,
    pub node_port: Option<u16>,
    /// The waivers file and `rule-levels`, read and checked (not an input itself).
    #[serde(skip)]
    pub waiver_policy: std::sync::Arc<crate::spec::waivers::Policy>,
    pub policy: Option<PathBuf>,
    pub operation_policies: Option<PathBuf>,
    pub backend: BackendMode,
    pub mode: RunMode,
    pub repair: bool,

    /// How each input was resolved (not an input itself).
    #[serde(skip)]
    pub resolved: BTreeMap<&'static str, Resolved>,
    #[serde(skip)]
    pub platform: Option<Platform>,
    /// Unknown `INPUT_*`/`APIM_GATE_*` names and other things worth a warning.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// An input's canonical value and where it came from. `Debug` shows a secret's value as `***`.
#[derive(Clone)]
pub struct Resolved {
    pub value: String,
    pub source: Source,
    /// A secret input, or an inline kubeconfig.
    pub secret: bool,
}

impl fmt::Debug for Resolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value: &dyn fmt::Debug = if self.secret { &"***" } else { &self.value };
        f.debug_struct("Resolved")
            .field("value", value)
            .field("source", &self.source)
            .finish()
    }
}

fn millis<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    Ok(Duration::from_millis(u64::deserialize(d)?))
}

/// What the command about to run needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Valid values only.
    Nothing,
    /// The cluster side only (`apim-gate fetch`).
    Cluster,
    /// The whole gate.
    Run,
}

/// A value as given, before it is checked.
struct Given {
    value: String,
    variable: String,
}

impl Inputs {
    /// Reads and checks every input. Warnings (unknown names) are returned in `warnings`.
    pub fn load(env: &Env, need: Need) -> Result<Inputs, InputError> {
        let platform = Platform::detect(env);
        let markers = Platform::marked(env);
        let mut warnings = Vec::new();
        let mut given: BTreeMap<&'static str, Vec<Given>> = BTreeMap::new();
        let mut problems = Vec::new();

        for (var, value, _) in env.iter() {
            let rest = var
                .strip_prefix("INPUT_")
                .or_else(|| var.strip_prefix("APIM_GATE_"));
            let Some(rest) = rest else { continue };
            if table::RESERVED.contains(&var) {
                continue;
            }
            match table::find(rest) {
                Some(spec) => {
                    // Composite actions map unset inputs to "", which means "not given".
                    if value.trim().is_empty() {
                        continue;
                    }
                    // With the marks of two platforms, a routing input must be spelt as the
                    // step's own input on both: one platform cannot vouch for the other's names.
                    if table::ROUTING.contains(&spec.name)
                        && markers
                            .iter()
                            .any(|p| p.step_var(spec).as_deref() != Some(var))
                    {
                        warnings.push(format!(
                            "{} is ignored: on {} {} decides where the Azure credentials are sent, so it is read only from the step's own input ({}); a pipeline variable or an earlier step could otherwise redirect them",
                            env.describe(var),
                            platform.title(),
                            spec.name,
                            platform.spelling(spec)
                        ));
                        continue;
                    }
                    given.entry(spec.name).or_default().push(Given {
                        value: value.to_string(),
                        variable: env.describe(var),
                    });
                }
                None => warnings.push(match table::suggest(rest) {
                    Some(s) => format!(
                        "{var} is not an apim-gate input and is ignored; did you mean {} ({})?",
                        s.name,
                        platform.spelling(s)
                    ),
                    None => format!(
                        "{var} is not an apim-gate input and is ignored; `apim-gate --help` lists them"
                    ),
                }),
            }
        }

        let mut canonical: Vec<(String, String)> = Vec::new();
        let mut resolved = BTreeMap::new();
        for spec in INPUTS {
            let spelling = platform.spelling(spec);
            let mut values = given.remove(spec.name).unwrap_or_default();
            values.dedup_by(|a, b| a.value == b.value);
            let distinct: Vec<&Given> = {
                let mut seen: Vec<&Given> = Vec::new();
                for g in &values {
                    if !seen.iter().any(|s| s.value == g.value) {
                        seen.push(g);
                    }
                }
                seen
            };
            if distinct.len() > 1 {
                let show = |g: &Given| {
                    if spec.is_secret() || spec.kind == Kind::Kubeconfig {
                        g.variable.clone()
                    } else {
                        format!("{}={:?}", g.variable, g.value)
                    }
                };
                problems.push(Problem {
                    input: spec.name,
                    spelling,
                    message: format!(
                        "given twice with different values: {}; keep one",
                        distinct
                            .iter()
                            .map(|g| show(g))
                            .collect::<Vec<_>>()
                            .join(" and ")
                    ),
                });
                continue;
            }
            let (raw, source) = if let Some(g) = distinct.first() {
                (g.value.clone(), Source::Variable(g.variable.clone()))
            } else if let Some((var, v)) = spec
                .fallbacks
                .iter()
                .find_map(|f| env.get(f).filter(|v| !v.trim().is_empty()).map(|v| (*f, v)))
            {
                (v.to_string(), Source::Variable(env.describe(var)))
            } else if let Some(v) = derived(spec.name, env) {
                (v.0, Source::Variable(v.1))
            } else if let Some(d) = spec.default {
                (d.to_string(), Source::Default)
            } else {
                continue;
            };
            match canonicalize(spec, &raw).and_then(|v| check_value(spec, v)) {
                Ok(value) => {
                    canonical.push((spec.field(), value.clone()));
                    let secret = spec.is_secret() || spec.kind == Kind::Kubeconfig;
                    resolved.insert(
                        spec.name,
                        Resolved {
                            value,
                            source,
                            secret,
                        },
                    );
                }
                Err(message) => problems.push(Problem {
                    input: spec.name,
                    spelling,
                    message,
                }),
            }
        }

        let task = if markers.contains(&Platform::AzureDevops) {
            check_public_variables(env, platform, &mut problems)
        } else {
            Trust::StepInputs
        };
        check_endpoints(platform, task, &resolved, &mut problems);
        if !markers.is_empty() {
            check_ssl_cert_vars(env, platform, &resolved, &mut problems);
        }
        check_github_api_url(env, &mut problems);
        check_needs(need, platform, &resolved, &mut problems);
        let policy = if need == Need::Cluster {
            Default::default()
        } else {
            load_policy(platform, &mut resolved, &mut canonical, &mut problems)
        };
        check_spec_file(platform, &resolved, &mut problems);
        if !problems.is_empty() {
            return Err(InputError { problems, warnings });
        }
        let mut inputs: Inputs = envy::from_iter(canonical).map_err(|e| InputError {
            // Canonical values always fit their fields; reaching this is a bug in `canonicalize`.
            problems: vec![Problem {
                input: "(all)",
                spelling: String::new(),
                message: format!("internal error reading canonical inputs: {e}"),
            }],
            warnings: Vec::new(),
        })?;
        inputs.resolved = resolved;
        inputs.waiver_policy = std::sync::Arc::new(policy);
        inputs.platform = Some(platform);
        inputs.warnings = warnings;
        Ok(inputs)
    }

    pub fn platform(&self) -> Platform {
        self.platform.unwrap_or(Platform::Local)
    }

    /// Every secret value present, so reporters can mask them before printing anything.
    pub fn secrets(&self) -> Vec<String> {
        let mut out: Vec<String> = [&self.client_secret, &self.access_token, &self.github_token]
            .into_iter()
            .flatten()
            .map(|s| s.expose().to_string())
            .collect();
        if let Some(k) = &self.kubeconfig {
            out.extend(kubeconfig::secret_values(k.expose()));
        }
        out
    }

    /// The resolved inputs as `apim-gate config` prints them: secrets as `***`.
    pub fn to_config_json(&self) -> serde_json::Value {
        let mut inputs = serde_json::Map::new();
        for spec in INPUTS {
            let entry = match self.resolved.get(spec.name) {
                Some(r) => serde_json::json!({
                    "value": display_value(spec, &r.value),
                    "source": r.source,
                }),
                None => serde_json::json!({ "value": null, "source": null }),
            };
            inputs.insert(spec.name.to_string(), entry);
        }
        serde_json::json!({
            "platform": self.platform(),
            "inputs": inputs,
            "warnings": self.warnings,
        })
    }
}

/// Values that come from elsewhere in the environment: the Azure DevOps service connection
/// carries the subscription.
fn derived(name: &str, env: &Env) -> Option<(String, String)> {
    if name != "subscription-id" {
        return None;
    }
    let connection = INPUTS
        .iter()
        .find(|s| s.name == "azure-service-connection")
        .and_then(|s| {
            [s.github_var(), s.ado_var(), s.local_var()]
                .into_iter()
                .find_map(|v| {
                    env.get(&v)
                        .filter(|x| !x.trim().is_empty())
                        .map(str::to_string)
                })
        })?;
    let var = format!(
        "ENDPOINT_DATA_{}_SUBSCRIPTIONID",
        connection.trim().to_ascii_uppercase()
    );
    let value = env.get(&var).or_else(|| {
        env.get(&format!(
            "ENDPOINT_DATA_{}_SUBSCRIPTIONID",
            connection.trim()
        ))
    })?;
    Some((value.to_string(), var))
}

/// What a user sees for a value: secrets and inline kubeconfigs as `***`.
fn display_value(spec: &InputSpec, value: &str) -> serde_json::Value {
    match spec.kind {
        Kind::Secret => "***".into(),
        Kind::Kubeconfig if !Path::new(value).is_file() => "***".into(),
        Kind::Bool => serde_json::Value::Bool(value == "true"),
        Kind::Integer { .. } => value
            .parse::<u64>()
            .map(serde_json::Value::from)
            .unwrap_or_else(|_| value.into()),
        Kind::List => value
            .split(',')
            .map(|s| serde_json::Value::String(s.to_string()))
            .collect(),
        Kind::Duration => format!("{}s", value.parse::<u64>().unwrap_or(0) as f64 / 1000.0).into(),
        _ => value.into(),
    }
}

/// Checks and normalises one value into the text `envy` deserialises.
fn canonicalize(spec: &InputSpec, raw: &str) -> Result<String, String> {
    let v = raw.trim();
    match spec.kind {
        Kind::Text | Kind::Secret | Kind::Kubeconfig => Ok(if spec.kind == Kind::Kubeconfig {
            raw.to_string()
        } else {
            v.to_string()
        }),
        Kind::Bool => parse_bool(v).map(|b| b.to_string()).ok_or_else(|| {
            format!("{v:?} is not a boolean: use true or false (yes/no/1/0 work too)")
        }),
        Kind::List => {
            let items = parse_list(raw);
            if items.iter().any(|i| i.contains(',')) {
                return Err("list items cannot contain commas".into());
            }
            Ok(items.join(","))
        }
        // Milliseconds are read back as u64: a duration beyond that is refused here rather than
        // failing later as an internal error.
        Kind::Duration => parse_duration(v)
            .and_then(|d| u64::try_from(d.as_millis()).ok())
            .map(|ms| ms.to_string())
            .ok_or_else(|| {
                format!("{v:?} is not a duration: use a number with s, m or h, like 90s or 2m")
            }),
        Kind::Choice(choices) => choices
            .iter()
            .find(|c| c.eq_ignore_ascii_case(v))
            .map(|c| c.to_string())
            .ok_or_else(|| format!("{v:?} is not one of: {}", choices.join(", "))),
        Kind::Integer { min, max } => match v.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n.to_string()),
            _ => Err(format!("{v:?} is not a whole number from {min} to {max}")),
        },
        Kind::Url => https_url(v),
        Kind::Guid => {
            if is_guid(v) {
                Ok(v.to_ascii_lowercase())
            } else {
                Err(format!(
                    "{v:?} is not a GUID (like 00000000-0000-0000-0000-000000000000); copy the id from the Azure portal"
                ))
            }
        }
    }
}

/// A URL credentials are sent to: https, a host, no user part, query or fragment. Returned
/// without a trailing slash.
pub fn https_url(v: &str) -> Result<String, String> {
    if v.contains(char::is_whitespace) || v.contains(char::is_control) {
        return Err("holds white space: give a URL like https://management.azure.com".into());
    }
    // A value with `@` may carry user:password: it is described, never echoed.
    let echo = if v.contains('@') {
        "the value (not shown: it holds '@')".to_string()
    } else {
        format!("{v:?}")
    };
    let url = reqwest::Url::parse(v).map_err(|e| {
        format!("{echo} is not a URL ({e}): give it like https://management.azure.com")
    })?;
    // Never echo a user part: it may hold a password.
    let shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "{shown}… has a user part (user@ or user:password@): credentials are sent to this address, so give the host alone"
        ));
    }
    if url.scheme() != "https" {
        return Err(format!(
            "{shown} is not https: credentials are sent to this address, so only https:// is accepted"
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{echo} has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{shown}{} has a query or fragment: give the address alone",
            url.path()
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// The endpoints of the clouds `azure-cloud` names (as `azure::Endpoints::for_cloud` has them,
/// which a test keeps equal): ARM and the Entra ID authority. From azure-cli's `cloud.py` and
/// Microsoft Learn "National clouds" (Entra ID endpoints).
pub const KNOWN_ARM_HOSTS: &[&str] = &[
    "management.azure.com",
    "management.chinacloudapi.cn",
    "management.usgovcloudapi.net",
];
/// Also `login.partner.microsoftonline.cn` (21Vianet's current authority, Microsoft Learn
/// "National clouds" / authentication-national-cloud) and `login.windows.net` (the legacy public
/// alias, which Azure DevOps AzureRM service connections carry as `environmentAuthorityUrl`).
pub const KNOWN_AUTHORITY_HOSTS: &[&str] = &[
    "login.microsoftonline.com",
    "login.chinacloudapi.cn",
    "login.microsoftonline.us",
    "login.partner.microsoftonline.cn",
    "login.windows.net",
];

/// Whether `url` (canonical, from [`https_url`]) is one of the known clouds' endpoints.
fn known_endpoint(input: &str, url: &str) -> bool {
    let hosts = if input == "arm-endpoint" {
        KNOWN_ARM_HOSTS
    } else {
        KNOWN_AUTHORITY_HOSTS
    };
    reqwest::Url::parse(url).is_ok_and(|u| {
        u.port().is_none()
            && matches!(u.path(), "" | "/")
            && u.host_str().is_some_and(|h| hosts.contains(&h))
    })
}

/// Whether the step's own input variables can be told from pipeline variables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Trust {
    /// GitHub Actions, a local run, or the Azure DevOps task with `VSTS_PUBLIC_VARIABLES`.
    StepInputs,
    /// Azure DevOps without `VSTS_PUBLIC_VARIABLES` (a script step): any `INPUT_*` may be a
    /// pipeline variable, so nothing that sends credentials off the known clouds is taken.
    Nothing,
}

/// On Azure DevOps a public pipeline variable is an environment variable named by
/// `VarUtil.ConvertToEnvVariableFormat` ('.' and ' ' become '_', upper case), set after the task's
/// inputs, so last wins (microsoft/azure-pipelines-agent src/Agent.Worker/Handlers/NodeHandler.cs,
/// `RunAsync`: `AddInputsToEnvironment` then `AddVariablesToEnvironment`; Handler.cs
/// `AddEnvironmentVariable`). A variable `input.armEndpoint` (or a queue-time one, or an earlier
/// step's `task.setvariable`) therefore replaces the task input `armEndpoint`. Every such
/// variable is refused by name; secret variables become `SECRET_*` and cannot collide. Without
/// the list (a script step, where step `env:` loses to pipeline variables too:
/// microsoft/azure-pipelines-agent#3091) the step's inputs cannot be trusted.
fn check_public_variables(env: &Env, platform: Platform, problems: &mut Vec<Problem>) -> Trust {
    let Some(names) = env
        .get(PUBLIC_VARIABLES)
        .and_then(|v| serde_json::from_str::<Vec<String>>(v).ok())
    else {
        return Trust::Nothing;
    };
    for name in names {
        let formatted = name.replace(['.', ' '], "_").to_ascii_uppercase();
        let Some(spec) = formatted.strip_prefix("INPUT_").and_then(table::find) else {
            continue;
        };
        let why = if table::ROUTING.contains(&spec.name) {
            "it decides where the Azure credentials are sent"
        } else {
            "it would change what the gate does"
        };
        problems.push(Problem {
            input: spec.name,
            spelling: platform.spelling(spec),
            message: format!(
                "the pipeline variable {name:?} becomes the environment variable {formatted}, which the agent sets after the task's inputs, so it would replace the task input {} ({why}). Rename or remove the variable and give the value as the task input {}",
                spec.ado_var(),
                spec.ado_name()
            ),
        });
    }
    Trust::StepInputs
}

/// On a CI platform, without the step's `allow-custom-endpoints`, the trusted roots come only
/// from the system store and `ca-certificates`. reqwest's rustls-platform-verifier and the GitHub
/// reporter load the system store with rustls-native-certs, which reads `SSL_CERT_FILE` and
/// `SSL_CERT_DIR` (rustls-native-certs README, "Platform support"): set by a pipeline variable
/// or an earlier step's `GITHUB_ENV`, together with `HTTPS_PROXY`, they would let another party
/// read the credentials in transit.
fn check_ssl_cert_vars(
    env: &Env,
    platform: Platform,
    resolved: &BTreeMap<&'static str, Resolved>,
    problems: &mut Vec<Problem>,
) {
    if resolved
        .get("allow-custom-endpoints")
        .is_some_and(|r| r.value == "true")
    {
        return;
    }
    let (Some(ca), Some(allow)) = (
        table::find("ca-certificates"),
        table::find("allow-custom-endpoints"),
    ) else {
        return;
    };
    for var in ["SSL_CERT_FILE", "SSL_CERT_DIR"] {
        if env.get(var).is_some_and(|v| !v.trim().is_empty()) {
            problems.push(Problem {
                input: var,
                spelling: env.describe(var),
                message: format!(
                    "{var} is set, and it would change which certificate authorities vouch for the hosts the Azure credentials are sent to; on {} a pipeline variable or an earlier step can set it. Give the bundle as ca-certificates ({}) and unset {var}, or set allow-custom-endpoints: true ({}) on the step if {var} is yours",
                    platform.title(),
                    platform.spelling(ca),
                    platform.spelling(allow)
                ),
            });
        }
    }
}

/// An ARM endpoint or authority outside the known clouds receives the ARM token or the client
/// secret / federated assertion: it takes an explicit `allow-custom-endpoints`, which an Azure
/// DevOps step that cannot tell its inputs from pipeline variables does not get.
fn check_endpoints(
    platform: Platform,
    trust: Trust,
    resolved: &BTreeMap<&'static str, Resolved>,
    problems: &mut Vec<Problem>,
) {
    let allowed = resolved
        .get("allow-custom-endpoints")
        .is_some_and(|r| r.value == "true");
    if trust == Trust::Nothing {
        const SCRIPT: &str = "on Azure DevOps outside the apim-gate task (VSTS_PUBLIC_VARIABLES is not set, as in a script step) any pipeline variable can replace an INPUT_* variable, so";
        for (name, what) in [
            (
                "allow-custom-endpoints",
                "endpoints outside the known Azure clouds are refused",
            ),
            (
                "ca-certificates",
                "extra certificate authorities are refused",
            ),
        ] {
            let given = resolved
                .get(name)
                .is_some_and(|r| name != "allow-custom-endpoints" || r.value == "true");
            if given && let Some(spec) = table::find(name) {
                problems.push(Problem {
                    input: spec.name,
                    spelling: platform.spelling(spec),
                    message: format!("{SCRIPT} {what}: run apim-gate through the ApimGate task"),
                });
            }
        }
    }
    for (name, what, known) in [
        ("arm-endpoint", "the ARM bearer token", KNOWN_ARM_HOSTS),
        (
            "authority-host",
            "the client secret or federated token",
            KNOWN_AUTHORITY_HOSTS,
        ),
    ] {
        let (Some(r), Some(spec), Some(allow)) = (
            resolved.get(name),
            table::find(name),
            table::find("allow-custom-endpoints"),
        ) else {
            continue;
        };
        if known_endpoint(name, &r.value) {
            continue;
        }
        // `https://login.microsoftonline.com/<tenant>` is the authority URL as the portal shows
        // it; azure_identity puts the tenant after the host itself, so a path here is a mistake
        // with or without allow-custom-endpoints.
        if let Some(host) = tenant_path(name, &r.value) {
            problems.push(Problem {
                input: spec.name,
                spelling: platform.spelling(spec),
                message: format!(
                    "{} has a path: give the host alone (https://{host}); the tenant goes in tenant-id",
                    r.value
                ),
            });
            continue;
        }
        if allowed && trust == Trust::StepInputs {
            continue;
        }
        let remedy = if trust == Trust::Nothing {
            "Run apim-gate through the ApimGate task to use it".to_string()
        } else {
            format!(
                "For a private endpoint or a test double set allow-custom-endpoints: true ({}) as well",
                platform.spelling(allow)
            )
        };
        problems.push(Problem {
            input: spec.name,
            spelling: platform.spelling(spec),
            message: format!(
                "{} is not a known Azure cloud's endpoint (https://{}), and {what} would be sent there. {remedy}; otherwise choose the cloud with azure-cloud",
                r.value,
                known.join(", https://"),
            ),
        });
    }
}

/// The known authority host of an `authority-host` that carries a path (a tenant, usually).
fn tenant_path(input: &str, url: &str) -> Option<String> {
    if input != "authority-host" {
        return None;
    }
    let u = reqwest::Url::parse(url).ok()?;
    let host = u.host_str()?;
    (u.port().is_none() && !matches!(u.path(), "" | "/") && KNOWN_AUTHORITY_HOSTS.contains(&host))
        .then(|| host.to_string())
}

/// The GitHub reporter sends github-token to `GITHUB_API_URL`.
fn check_github_api_url(env: &Env, problems: &mut Vec<Problem>) {
    let Some(v) = env.get("GITHUB_API_URL").filter(|v| !v.trim().is_empty()) else {
        return;
    };
    if let Err(message) = https_url(v.trim()) {
        problems.push(Problem {
            input: "GITHUB_API_URL",
            spelling: env.describe("GITHUB_API_URL"),
            message: format!(
                "{message}. The GitHub token for check runs and comments is sent there: GitHub sets it to https://api.github.com (or https://HOST/api/v3 on GitHub Enterprise Server)"
            ),
        });
    }
}

/// What APIM accepts as an API id or a product id, plus what would break the ARM URL the id is
/// put in. Microsoft.ApiManagement 2024-05-01 (apimanagement.json): `ApiIdParameter`, which
/// apimapis.json uses for `/apis/{apiId}/revisions` and `/releases` the gate calls, is 1 to 80
/// characters (`ApiIdRevParameter`'s 256 includes `;rev=N`); `ProductIdParameter` is 1 to 256.
/// Both take the pattern `^[^*#&+:<>?]+$` (the product id has none there, so the API id's, the
/// strictest, applies). `.` and `..` are path segments a URL parser resolves away (`/apis/..`
/// names the collection's parent), `/`, `\`, `%` and `;` split or re-encode the path (`;rev=`
/// selects a revision), and ARM refuses resource names ending in `.`.
pub fn check_apim_id(input: &str, id: &str) -> Result<(), String> {
    let max = if input == "api-id" { 80 } else { 256 };
    let len = id.chars().count();
    let why = if len == 0 || len > max {
        Some(format!("it has {len} characters (1 to {max})"))
    } else if id == "." || id == ".." {
        Some("`.` and `..` are path segments, not names".to_string())
    } else if let Some(c) = id.chars().find(|c| {
        matches!(
            c,
            '*' | '#' | '&' | '+' | ':' | '<' | '>' | '?' | '/' | '\\' | '%' | ';'
        ) || c.is_control()
            || c.is_whitespace()
    }) {
        Some(format!("{c:?} is not allowed"))
    } else if id.ends_with('.') {
        Some("it ends with `.`, which ARM refuses in a resource name".to_string())
    } else {
        None
    };
    match why {
        Some(why) => Err(format!(
            "{id:?} is not a valid API Management {input}: {why}. Use letters, digits, '-', '_' and '.' (1 to {max} characters)"
        )),
        None => Ok(()),
    }
}

/// Checks beyond the kind: APIM's id rules for `api-id` and each of `products`.
fn check_value(spec: &InputSpec, value: String) -> Result<String, String> {
    match spec.name {
        "api-id" => check_apim_id("api-id", &value)?,
        "products" => {
            for id in value.split(',') {
                check_apim_id("product id", id)?;
            }
        }
        _ => {}
    }
    Ok(value)
}

pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "on" => Some(true),
        "false" | "no" | "0" | "off" => Some(false),
        _ => None,
    }
}

/// Commas or new lines, trimmed, empty items dropped.
pub fn parse_list(v: &str) -> Vec<String> {
    v.split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// `90s`, `2m`, `1h`, `500ms`, `1m30s`, or a bare number of seconds.
pub fn parse_duration(v: &str) -> Option<Duration> {
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = v;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.checked_mul(60)?),
            "h" => Duration::from_secs(n.checked_mul(3600)?),
            _ => return None,
        };
        // `+=` panics past Duration::MAX: `18446744073709551615s1s` must be refused, not crash.
        total = total.checked_add(part)?;
    }
    Some(total)
}

fn is_guid(v: &str) -> bool {
    let parts: Vec<&str> = v.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Where the waivers file is looked for when the `waivers` input is not given: relative to the
/// working directory (the repository's root in a pipeline step).
pub const DEFAULT_WAIVERS: &str = ".apim-gate/waivers.yaml";

/// The `waivers` file (given, or [`DEFAULT_WAIVERS`] when it exists) and `rule-levels`, read and
/// checked; each problem names the input, and the file's problems their entry and field.
fn load_policy(
    platform: Platform,
    resolved: &mut BTreeMap<&'static str, Resolved>,
    canonical: &mut Vec<(String, String)>,
    problems: &mut Vec<Problem>,
) -> crate::spec::waivers::Policy {
    use crate::spec::waivers::{Policy, levels};
    let mut problem = |name: &'static str, message: String| {
        if let Some(spec) = table::find(name) {
            problems.push(Problem {
                input: name,
                spelling: platform.spelling(spec),
                message,
            });
        }
    };
    let mut policy = Policy::default();
    if let Some(r) = resolved.get("rule-levels") {
        match levels::parse(&r.value) {
            Ok(l) => policy.levels = l,
            Err(list) => problem("rule-levels", list.join("; ")),
        }
    }
    if !resolved.contains_key("waivers") && Path::new(DEFAULT_WAIVERS).is_file() {
        resolved.insert(
            "waivers",
            Resolved {
                value: DEFAULT_WAIVERS.to_string(),
                source: Source::Default,
                secret: false,
            },
        );
        canonical.push(("waivers".to_string(), DEFAULT_WAIVERS.to_string()));
    }
    if let Some(r) = resolved.get("waivers") {
        let path = r.value.clone();
        match Policy::read_waivers(Path::new(&path)) {
            Ok(w) => policy.waivers = w,
            // One line per entry's problem: a long file can have many.
            Err(list) => problem(
                "waivers",
                format!(
                    "{path} cannot be used, so nothing was checked or published:\n      {}",
                    list.join("\n      ")
                ),
            ),
        }
        policy.file = Some(path);
    }
    policy
}

/// `spec-file` replaces the pod's document: one file for one service of one version, and
/// `node-port` only means something beside `agent-ip` there.
fn check_spec_file(
    platform: Platform,
    resolved: &BTreeMap<&'static str, Resolved>,
    problems: &mut Vec<Problem>,
) {
    let mut problem = |name: &'static str, message: String| {
        if let Some(spec) = table::find(name) {
            problems.push(Problem {
                input: name,
                spelling: platform.spelling(spec),
                message,
            });
        }
    };
    if let Some(file) = resolved.get("spec-file") {
        if !Path::new(&file.value).is_file() {
            problem(
                "spec-file",
                format!(
                    "{} is not a file: give the path of the document the build wrote (dotnet swagger tofile, or Microsoft.Extensions.ApiDescription.Server's output), relative to the working directory",
                    file.value
                ),
            );
        }
        if resolved.contains_key("services") {
            problem(
                "spec-file",
                "one document cannot stand for several services: use spec-file with service, not services".to_string(),
            );
        }
        // Each API version is its own document: with a listed set every version would publish
        // this one file, and with `auto` the versions are read from the pod's Swagger UI, so even
        // a dry run would contact the cluster that spec-file is there to avoid.
        if resolved.contains_key("api-versions") {
            problem(
                "spec-file",
                "one document cannot stand for every version of api-versions: remove spec-file (each version's document is fetched from the pod), or remove api-versions and publish one API from the file".to_string(),
            );
        }
    }
    if resolved.contains_key("node-port")
        && !(resolved.contains_key("agent-ip") && resolved.contains_key("spec-file"))
    {
        problem(
            "node-port",
            "is used with spec-file and agent-ip (APIM calls agent-ip:node-port, so the address needs no cluster); otherwise the Service's nodePort is read from the cluster: remove node-port, or give agent-ip and spec-file too".to_string(),
        );
    }
}

/// Inputs a command cannot do without, and those one choice makes necessary.
fn check_needs(
    need: Need,
    platform: Platform,
    resolved: &BTreeMap<&'static str, Resolved>,
    problems: &mut Vec<Problem>,
) {
    let has = |n: &str| resolved.contains_key(n);
    let mut missing = |name: &'static str, why: &str| {
        if !has(name)
            && !problems.iter().any(|p| p.input == name)
            && let Some(spec) = table::find(name)
        {
            problems.push(Problem {
                input: name,
                spelling: platform.spelling(spec),
                message: format!("missing: {why}"),
            });
        }
    };
    if need == Need::Nothing {
        return;
    }
    if !has("services") {
        missing(
            "service",
            "the name of the Kubernetes Service whose OpenAPI document is published",
        );
    }
    if need != Need::Run {
        return;
    }
    missing(
        "subscription-id",
        "the Azure subscription of the API Management instance (or AZURE_SUBSCRIPTION_ID)",
    );
    missing(
        "resource-group",
        "the resource group of the API Management instance",
    );
    missing("apim-service", "the name of the API Management instance");
    let auth = resolved
        .get("auth")
        .map(|r| r.value.as_str())
        .unwrap_or("auto");
    match auth {
        "client-secret" => {
            missing(
                "tenant-id",
                "auth client-secret needs the Entra ID tenant (or AZURE_TENANT_ID)",
            );
            missing(
                "client-id",
                "auth client-secret needs the application id (or AZURE_CLIENT_ID)",
            );
            missing(
                "client-secret",
                "auth client-secret needs the secret (or AZURE_CLIENT_SECRET)",
            );
        }
        "oidc" => {
            missing(
                "tenant-id",
                "auth oidc needs the Entra ID tenant (or AZURE_TENANT_ID)",
            );
            missing(
                "client-id",
                "auth oidc needs the application id (or AZURE_CLIENT_ID)",
            );
        }
        "token" => missing("access-token", "auth token needs the bearer token to use"),
        "azure-pipelines" => missing(
            "azure-service-connection",
            "auth azure-pipelines needs the AzureRM service connection",
        ),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("45"), Some(Duration::from_secs(45)));
        assert_eq!(parse_duration("2 minutes"), None);
        assert_eq!(parse_duration("m"), None);
    }

    #[test]
    fn booleans_and_lists() {
        for t in ["True", "yes", "1", "TRUE"] {
            assert_eq!(parse_bool(t), Some(true));
        }
        for f in ["False", "no", "0"] {
            assert_eq!(parse_bool(f), Some(false));
        }
        assert_eq!(parse_bool("maybe"), None);
        assert_eq!(parse_list(" a, b\n c ,,\n"), ["a", "b", "c"]);
    }

    #[test]
    fn secret_debug_is_masked() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "*** ***");
    }
}

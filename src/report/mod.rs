//! Reporting a [`Verdict`] where the user looks: GitHub Actions ([`github`]), Azure DevOps
//! ([`azure_devops`]) or a terminal ([`local`]), plus the Markdown summary they share
//! ([`markdown`]), the `output-spec` and `findings-file` files. Every renderer orders and
//! groups findings through [`groups`]: what decided first, the rest one entry per rule.
//!
//! The order the main run follows: [`mask_secrets`] first thing (before anything else is
//! printed), again with [`mask_secrets`] for each token obtained during the run, then the gate,
//! then [`write_output_spec`] when `output-spec` is set, then [`emit`] once with the verdict.
//! Every string that came from the document, the cluster or Azure goes through [`text::Cleaner`]
//! before it is printed: secrets redacted, terminal escapes removed, CI log commands neutralised.

pub mod azure_devops;
pub mod github;
pub mod groups;
pub mod local;
pub mod many;
pub mod markdown;
pub mod text;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::exit::Exit;
use crate::gate::verdict::{Outcome, SourcedFinding, Verdict};
use crate::inputs::{Env, INPUTS, Inputs, Platform};

pub use many::emit_many;
pub use text::Cleaner;

/// What reporting did beyond printing: problems it met and what the process should exit with.
#[derive(Clone, Debug)]
pub struct ReportOutcome {
    /// The verdict's exit code, or [`Exit::Reporting`] when the gate passed but its verdict
    /// could not be delivered (a write failed, the check run could not be created).
    pub exit: Exit,
    /// Already printed; e.g. a missing `checks: write` permission.
    pub warnings: Vec<String>,
    /// Already printed; reporting failures that are not permission problems.
    pub failures: Vec<String>,
    /// The check run created, when one was.
    pub check_run_url: Option<String>,
    /// The pull-request comment written, when one was.
    pub comment_url: Option<String>,
}

/// Reporting could not print at all (standard output is gone) or could not write `output-spec`.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write the report to standard output: {0}")]
    Stdout(#[source] std::io::Error),
    #[error(
        "cannot write {what} to {path}: {source}. Check that the directory exists and is writable."
    )]
    File {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl ReportError {
    /// The exit code when reporting itself failed: the gate's own failure wins, so a refused
    /// release still exits 1; a passed gate whose verdict was lost exits 5.
    pub fn exit_for(&self, verdict: &Verdict) -> Exit {
        if verdict.exit == Exit::Passed {
            Exit::Reporting
        } else {
            verdict.exit
        }
    }
}

/// How [`emit`] is called beyond the verdict.
#[derive(Clone, Debug, Default)]
pub struct EmitOptions<'a> {
    /// `--summary FILE`: the Markdown summary written here too, on any platform.
    pub summary_file: Option<&'a Path>,
    /// Secrets learnt during the run (ARM and OIDC tokens): redacted like the inputs' secrets.
    pub extra_secrets: &'a [String],
    /// The progress lines already went to the log the report goes to
    /// ([`crate::commands::progress::shares_log`]): the report does not repeat the steps.
    pub progress_in_log: bool,
}

/// How much a log or terminal report shows.
#[derive(Clone, Copy, Debug, Default)]
pub struct Style {
    /// ANSI colours (a terminal only).
    pub color: bool,
    /// Every finding one by one (the `verbose` input, `-v`), not grouped by rule.
    pub verbose: bool,
    /// The steps were already printed as progress lines to the same log: not repeated.
    pub progress_in_log: bool,
}

impl Style {
    pub fn new(inputs: &Inputs, env: &Env, options: &EmitOptions<'_>) -> Style {
        Style {
            color: inputs.platform() == Platform::Local && local::use_color(env),
            verbose: inputs.verbose,
            progress_in_log: options.progress_in_log,
        }
    }
}

/// The outputs every platform receives, in order: GitHub's names (`api-id`) and Azure DevOps'
/// (`apiId`, as task.json's `outputVariables` name them). A single service also gets the
/// `services-*` totals and a one-entry `services` list, so a workflow reads the same outputs
/// whether it publishes one service or several.
pub fn outputs(verdict: &Verdict) -> Vec<(&'static str, &'static str, String)> {
    let mut out = service_outputs(verdict);
    let names: Vec<&str> = out.iter().map(|(name, _, _)| *name).collect();
    out.extend(
        many::many_outputs(std::slice::from_ref(verdict))
            .into_iter()
            .filter(|(name, _, _)| !names.contains(name)),
    );
    out
}

/// One service's own outputs (without the totals).
pub fn service_outputs(verdict: &Verdict) -> Vec<(&'static str, &'static str, String)> {
    let p = verdict.publish.as_ref();
    vec![
        (
            "api-id",
            "apiId",
            p.map(|p| p.api_id.clone()).unwrap_or_default(),
        ),
        (
            "api-revision",
            "apiRevision",
            p.and_then(|p| p.revision)
                .map(|r| r.to_string())
                .unwrap_or_default(),
        ),
        (
            "service-url",
            "serviceUrl",
            p.map(|p| p.service_url.clone()).unwrap_or_default(),
        ),
        (
            "operations",
            "operations",
            p.map(|p| p.operations.to_string()).unwrap_or_default(),
        ),
        (
            "changed",
            "changed",
            p.is_some_and(|p| p.changed && !p.dry_run).to_string(),
        ),
        (
            "breaking-changes",
            "breakingChanges",
            verdict.breaking_changes().to_string(),
        ),
        (
            "spec-path",
            "specPath",
            verdict.spec_path.clone().unwrap_or_default(),
        ),
        ("verdict", "verdict", verdict_word(verdict).to_string()),
    ]
}

/// The `verdict` output: `passed`, `refused`, `failed`; a drift check says `drift` for exit 1.
pub fn verdict_word(verdict: &Verdict) -> &'static str {
    match verdict.outcome {
        Outcome::Refused if verdict.is_check() => "drift",
        other => other.as_str(),
    }
}

/// Every secret the run knows of: the inputs' secrets and the CI's own tokens. Works without
/// [`Inputs`] (they may have failed to load) by reading the secret inputs' raw variables too.
pub fn secrets(env: &Env, inputs: Option<&Inputs>) -> Vec<String> {
    let mut out: Vec<String> = inputs.map(Inputs::secrets).unwrap_or_default();
    for spec in INPUTS {
        let kubeconfig = spec.kind == crate::inputs::Kind::Kubeconfig;
        if !spec.is_secret() && !kubeconfig {
            continue;
        }
        let vars = [spec.github_var(), spec.ado_var(), spec.local_var()];
        let values = vars
            .iter()
            .map(String::as_str)
            .chain(spec.fallbacks.iter().copied())
            .filter_map(|var| env.get(var));
        for v in values {
            if kubeconfig {
                // Only the credentials in it: masking a whole kubeconfig masks each of its lines
                // (`kind: Config`) for the rest of the job.
                out.extend(crate::inputs::kubeconfig::secret_values(v));
            } else {
                out.push(v.to_string());
            }
        }
    }
    for var in [
        "GITHUB_TOKEN",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "ACTIONS_RUNTIME_TOKEN",
        "SYSTEM_ACCESSTOKEN",
        "AZURE_CLIENT_SECRET",
        "AZURE_FEDERATED_TOKEN",
    ] {
        if let Some(v) = env.get(var) {
            out.push(v.to_string());
        }
    }
    // Azure DevOps service connections: the key, token or certificate parameters, and the
    // ENDPOINT_AUTH_<id> JSON that holds them all.
    for (name, value) in env.vars() {
        let upper = name.to_ascii_uppercase();
        let credential = upper.starts_with("ENDPOINT_AUTH_PARAMETER_")
            && ["KEY", "ACCESSTOKEN", "CERTIFICATE", "PASSWORD", "SECRET"]
                .iter()
                .any(|suffix| upper.ends_with(suffix));
        let blob = upper.starts_with("ENDPOINT_AUTH_")
            && !upper.starts_with("ENDPOINT_AUTH_PARAMETER_")
            && !upper.starts_with("ENDPOINT_AUTH_SCHEME_");
        if credential || blob {
            out.push(value.to_string());
        }
    }
    // The user and password of a proxy URL (HTTPS_PROXY=http://user:password@host:port).
    out.extend(crate::proxy::credentials(env));
    out.retain(|s| !s.trim().is_empty());
    out.sort();
    out.dedup();
    out
}

/// Tells the CI log to mask each secret from now on: `::add-mask::` on GitHub,
/// `##vso[task.setsecret]` on Azure DevOps, nothing locally (nothing masks a terminal; the
/// renderers redact instead). Call it before anything else is printed, and again for each token
/// the run obtains.
pub fn mask_secrets(
    platform: Platform,
    secrets: &[String],
    out: &mut dyn Write,
) -> std::io::Result<()> {
    for secret in secrets {
        for form in text::secret_forms(secret) {
            match platform {
                Platform::GithubActions => writeln!(out, "::add-mask::{}", text::gh_data(&form))?,
                Platform::AzureDevops => {
                    writeln!(out, "##vso[task.setsecret]{}", text::ado_data(&form))?
                }
                Platform::Local => {}
            }
        }
    }
    out.flush()
}

/// Masks each token the run obtains the moment it exists (the ARM token, a GitHub or Azure DevOps
/// OIDC token), on the same output as the first masks, and keeps it so the final report redacts
/// it too. The Azure layer hands tokens over through [`crate::azure::TokenObserver`] and never
/// prints.
pub struct RunMasks {
    platform: Platform,
    out: std::sync::Mutex<Box<dyn Write + Send>>,
    seen: std::sync::Mutex<Vec<String>>,
}

impl RunMasks {
    pub fn new(platform: Platform, out: Box<dyn Write + Send>) -> RunMasks {
        RunMasks {
            platform,
            out: std::sync::Mutex::new(out),
            seen: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Every token masked so far, for [`EmitOptions::extra_secrets`].
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl crate::azure::TokenObserver for RunMasks {
    fn token(&self, token: &crate::inputs::Secret) {
        let value = token.expose().trim();
        if value.is_empty() {
            return;
        }
        // A poisoned lock only means another thread panicked mid-push; the list is still usable.
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.iter().any(|s| s == value) {
            return;
        }
        seen.push(value.to_string());
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        // Standard output gone: the final report fails on it and says so.
        let _ = mask_secrets(self.platform, &[value.to_string()], &mut **out);
    }
}

/// Reports the verdict on the inputs' platform: masks first, then the log, outputs, summary and,
/// on GitHub, the check run and pull-request comment. Failures to deliver (other than a broken
/// standard output) are printed and folded into [`ReportOutcome::exit`].
pub async fn emit(
    verdict: &Verdict,
    inputs: &Inputs,
    env: &Env,
    out: &mut dyn Write,
    options: &EmitOptions<'_>,
) -> Result<ReportOutcome, ReportError> {
    let mut all_secrets = secrets(env, Some(inputs));
    all_secrets.extend(options.extra_secrets.iter().cloned());
    let platform = inputs.platform();
    mask_secrets(platform, &all_secrets, out).map_err(ReportError::Stdout)?;
    let clean = Cleaner::new(&all_secrets);
    let style = Style::new(inputs, env, options);
    let mut outcome = ReportOutcome {
        exit: verdict.exit,
        warnings: Vec::new(),
        failures: Vec::new(),
        check_run_url: None,
        comment_url: None,
    };
    match platform {
        Platform::GithubActions => {
            github::emit(verdict, inputs, env, &clean, style, out, &mut outcome).await?
        }
        Platform::AzureDevops => azure_devops::emit(
            verdict,
            env,
            &clean,
            style,
            out,
            &mut outcome,
            options.summary_file,
        )?,
        Platform::Local => {
            out.write_all(local::render(verdict, &clean, style).as_bytes())
                .map_err(ReportError::Stdout)?;
        }
    }
    if platform != Platform::AzureDevops
        && let Some(path) = options.summary_file
    {
        let md = markdown::summary(verdict, &clean, markdown::JOB_SUMMARY_BUDGET, None);
        if let Err(e) = std::fs::write(path, md) {
            outcome.failures.push(format!(
                "cannot write the summary to {}: {e}",
                path.display()
            ));
        }
    }
    if !outcome.failures.is_empty() && verdict.exit == Exit::Passed {
        outcome.exit = Exit::Reporting;
    }
    out.flush().map_err(ReportError::Stdout)?;
    Ok(outcome)
}

/// Every finding of a verdict, ungrouped, as JSON: what the `findings-file` input writes.
/// `{"service", "verdict", "exit", "breaking", "findings": [{"source", "id", "level",
/// "operation", "path", "message"}]}`, errors first.
pub fn findings_json(verdict: &Verdict) -> Result<String, serde_json::Error> {
    #[derive(serde::Serialize)]
    struct File<'a> {
        service: &'a str,
        verdict: &'a str,
        exit: u8,
        breaking: bool,
        findings: Vec<&'a SourcedFinding>,
    }
    let findings = sorted_findings(verdict);
    serde_json::to_string_pretty(&File {
        service: &verdict.service,
        verdict: verdict.outcome.as_str(),
        exit: verdict.exit.code(),
        breaking: findings
            .iter()
            .any(|f| f.finding.level == crate::spec::Level::Error),
        findings,
    })
}

/// Writes [`findings_json`] to `path` (`findings-file`) as `output-spec` is written: directory
/// created, written beside and renamed.
pub fn write_findings_file(path: &Path, verdict: &Verdict) -> Result<String, ReportError> {
    let json = findings_json(verdict).map_err(|e| ReportError::File {
        what: "the findings (findings-file)",
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    write_file_whole(path, json.as_bytes(), "the findings (findings-file)")
}

/// Writes the published document to `path` (`output-spec`), creating its directory; written
/// beside the target and renamed, so an artifact step never picks up half a file. Returns the
/// path as the `spec-path` output reports it.
pub fn write_output_spec(path: &Path, document: &[u8]) -> Result<String, ReportError> {
    write_file_whole(path, document, "the published document (output-spec)")
}

fn write_file_whole(path: &Path, bytes: &[u8], what: &'static str) -> Result<String, ReportError> {
    let err = |source| ReportError::File {
        what,
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(e)
    })?;
    Ok(path.display().to_string())
}

/// `0.4s`, `12.3s`, `2m05s`: what a person reads in a log.
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        let whole = d.as_secs();
        format!("{}m{:02}s", whole / 60, whole % 60)
    }
}

/// Findings, errors first (stable within a level, so the gate's order is kept).
pub(crate) fn sorted_findings(verdict: &Verdict) -> Vec<&SourcedFinding> {
    let mut v: Vec<&SourcedFinding> = verdict.findings.iter().collect();
    v.sort_by_key(|f| std::cmp::Reverse(f.finding.level));
    v
}

/// One line that says how the run ended.
pub(crate) fn verdict_line(verdict: &Verdict, clean: &Cleaner) -> String {
    let what = match verdict.outcome {
        Outcome::Passed if verdict.is_check() => "found no drift",
        Outcome::Refused if verdict.is_check() => "found drift",
        Outcome::Passed => "passed",
        Outcome::Refused => "refused the release",
        Outcome::Failed => "failed",
    };
    format!(
        "apim-gate {what} for {} (exit {})",
        clean.line(&verdict.service),
        verdict.exit.code()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_come_from_the_environment_before_inputs_load() {
        let env = Env::from_pairs([
            (
                "INPUT_CLIENTSECRET".to_string(),
                "from-ado-1234".to_string(),
            ),
            (
                "APIM_GATE_KUBECONFIG".to_string(),
                "users:\n- user:\n    token: kube-token-5678\n".to_string(),
            ),
            ("GITHUB_TOKEN".to_string(), "ghs_abcdef".to_string()),
            (
                "APIM_GATE_NAMESPACE".to_string(),
                "not-a-secret".to_string(),
            ),
        ]);
        let found = secrets(&env, None);
        assert!(found.contains(&"from-ado-1234".to_string()));
        assert!(found.contains(&"ghs_abcdef".to_string()));
        assert!(found.contains(&"kube-token-5678".to_string()));
        assert!(!found.iter().any(|s| s.contains("not-a-secret")));
        // Only the credential: the lines around it are no secret.
        assert!(!found.iter().any(|s| s.contains("user:")));
        let clean = Cleaner::new(&found);
        assert_eq!(clean.line("token: kube-token-5678"), "token: ***");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(Duration::from_millis(420)), "0.4s");
        assert_eq!(duration(Duration::from_secs(125)), "2m05s");
    }

    #[test]
    fn masks_each_line_of_a_multiline_secret() {
        let mut out = Vec::new();
        mask_secrets(
            Platform::GithubActions,
            &["first-line\nsecond-line 100%".into()],
            &mut out,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("::add-mask::first-line%0Asecond-line 100%25\n"));
        assert!(text.contains("::add-mask::second-line 100%25\n"));
        let mut out = Vec::new();
        mask_secrets(Platform::AzureDevops, &["a%b;c]".into()], &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "##vso[task.setsecret]a%AZP25b;c]\n"
        );
    }
}

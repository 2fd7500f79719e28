//! `apim-gate` without a subcommand: the whole gate from the inputs, for one service or the
//! `services` list, then the report for the platform it runs on.

use std::path::Path;
use std::sync::Arc;

use super::progress::StderrProgress;
use super::{EnvFile, error, fail, load_env, with_runtime};
use crate::exit::Exit;
use crate::gate;
use crate::inputs::{Env, Inputs, Need, Platform, RunMode};
use crate::report;

/// `verbose` is `-v`: it turns the `verbose` input on.
pub fn run(file: &EnvFile, summary: Option<&Path>, verbose: bool) -> Exit {
    run_as(file, summary, verbose, None)
}

/// `apim-gate check`: the drift check whatever `mode` says; `repair` is `--repair` (the
/// `repair` input turns it on too).
pub fn check(file: &EnvFile, summary: Option<&Path>, verbose: bool, repair: bool) -> Exit {
    run_as(file, summary, verbose, Some(repair))
}

/// `check`: `Some(--repair)` for `apim-gate check`, `None` to follow the `mode` input.
fn run_as(file: &EnvFile, summary: Option<&Path>, verbose: bool, check: Option<bool>) -> Exit {
    let env = match load_env(file) {
        Ok(e) => e,
        Err(exit) => return exit,
    };
    // Mask what the environment holds before the first line is printed, even if inputs are bad.
    let early = report::secrets(&env, None);
    let platform = Platform::detect(&env);
    let _ = report::mask_secrets(platform, &early, &mut std::io::stdout().lock());
    let mut inputs = match Inputs::load(&env, Need::Run) {
        Ok(i) => i,
        Err(e) => {
            let message = report::Cleaner::new(&early).text(&e.to_string());
            annotate_input_error(platform, &message);
            return fail(Exit::Input, message);
        }
    };
    inputs.verbose |= verbose;
    if check.is_some() || inputs.mode == RunMode::Check {
        let repair = inputs.repair || check == Some(true);
        return super::check::check_loaded(&inputs, &env, summary, repair);
    }
    if inputs.repair {
        inputs.warnings.push(
            "repair applies only to mode: check (apim-gate check); this run is a release, so repair: true does nothing. Set mode: check to repair drift, or drop repair."
                .to_string(),
        );
    }
    if let Some(list) = inputs.services.as_deref() {
        return run_services(&inputs, &env, list, summary);
    }
    if inputs.api_versions.is_some() {
        if let Err(e) = gate::versions::Versioning::from_inputs(&inputs) {
            return fail(Exit::Input, e);
        }
        let progress: Arc<dyn gate::Progress> = Arc::new(StderrProgress::new(&inputs, &env));
        return run_set(&inputs, &env, vec![(inputs.clone(), progress)], summary);
    }
    let masks = Arc::new(report::RunMasks::new(platform, Box::new(std::io::stdout())));
    with_runtime(async {
        let progress = StderrProgress::new(&inputs, &env);
        let session = gate::Session::new(&inputs, &env).with_token_observer(masks.clone());
        let verdict = gate::run_service(&session, &inputs, &env, &progress).await;
        let tokens = masks.seen();
        let options = report::EmitOptions {
            summary_file: summary,
            extra_secrets: &tokens,
            progress_in_log: super::progress::shares_log(inputs.platform()),
        };
        let mut stdout = std::io::stdout().lock();
        match report::emit(&verdict, &inputs, &env, &mut stdout, &options).await {
            Ok(outcome) => outcome.exit,
            Err(e) => {
                error(&e);
                e.exit_for(&verdict)
            }
        }
    })
}

/// Bad inputs stop the run before any report exists; the CI still shows why where users look.
fn annotate_input_error(platform: Platform, message: &str) {
    let line = match platform {
        Platform::GithubActions => report::github::command(
            "error",
            &[("title", "apim-gate: bad inputs")],
            message.trim_end(),
        ),
        Platform::AzureDevops => format!(
            "{}\n##vso[task.complete result=Failed;]apim-gate: bad inputs",
            report::azure_devops::logissue("error", Some("inputs"), message.trim_end())
        ),
        Platform::Local => return,
    };
    println!("{line}");
}

/// The `services` input: every service on one session, `parallelism` at a time, one report.
fn run_services(inputs: &Inputs, env: &Env, list: &str, summary: Option<&Path>) -> Exit {
    let cwd = std::env::current_dir().unwrap_or_default();
    let specs = match gate::services::parse(list, &inputs.namespace, &cwd) {
        Ok(s) => s,
        Err(e) => return fail(Exit::Input, e),
    };
    let runs: Vec<(Inputs, Arc<dyn gate::Progress>)> = specs
        .iter()
        .map(|s| {
            let progress: Arc<dyn gate::Progress> =
                Arc::new(StderrProgress::for_service(inputs, env, &s.label()));
            (s.inputs(inputs), progress)
        })
        .collect();
    run_set(inputs, env, runs, summary)
}

/// Several runs (services, or the versions of `api-versions`) on one session, one report.
fn run_set(
    inputs: &Inputs,
    env: &Env,
    runs: Vec<(Inputs, Arc<dyn gate::Progress>)>,
    summary: Option<&Path>,
) -> Exit {
    let parallelism = usize::try_from(inputs.parallelism).unwrap_or(1);
    let masks = Arc::new(report::RunMasks::new(
        inputs.platform(),
        Box::new(std::io::stdout()),
    ));
    with_runtime(async {
        let session = Arc::new(gate::Session::new(inputs, env).with_token_observer(masks.clone()));
        let progress_for = |i: &Inputs, label: &str| -> Arc<dyn gate::Progress> {
            Arc::new(StderrProgress::for_service(i, env, label))
        };
        let verdicts =
            gate::versions::run_all(session, env, runs, parallelism, &progress_for).await;
        let tokens = masks.seen();
        let options = report::EmitOptions {
            summary_file: summary,
            extra_secrets: &tokens,
            progress_in_log: super::progress::shares_log(inputs.platform()),
        };
        let mut stdout = std::io::stdout().lock();
        match report::emit_many(&verdicts, inputs, env, &mut stdout, &options).await {
            Ok(outcome) => outcome.exit,
            Err(e) => {
                error(&e);
                match gate::overall_exit(&verdicts) {
                    Exit::Passed => Exit::Reporting,
                    other => other,
                }
            }
        }
    })
}

//! `apim-gate check` (and `mode: check`): the drift check for one service or the `services`
//! list, reported like the gate on the platform it runs on. `--repair` (the `repair` input)
//! fixes address drift in place.

use std::path::Path;
use std::sync::Arc;

use futures_util::StreamExt;

use super::progress::StderrProgress;
use super::{error, fail, with_runtime};
use crate::drift;
use crate::exit::Exit;
use crate::gate;
use crate::inputs::{Env, Inputs};
use crate::report;

/// The check on loaded inputs (`run` loads them and sends `mode: check` here).
pub fn check_loaded(inputs: &Inputs, env: &Env, summary: Option<&Path>, repair: bool) -> Exit {
    let labelled: Vec<(Inputs, String)> = match inputs.services.as_deref() {
        Some(list) => {
            let cwd = std::env::current_dir().unwrap_or_default();
            match gate::services::parse(list, &inputs.namespace, &cwd) {
                Ok(specs) => specs
                    .iter()
                    .map(|s| (s.inputs(inputs), s.label()))
                    .collect(),
                Err(e) => return fail(Exit::Input, e),
            }
        }
        None => vec![(inputs.clone(), String::new())],
    };
    let several = inputs.services.is_some();
    let masks = Arc::new(report::RunMasks::new(
        inputs.platform(),
        Box::new(std::io::stdout()),
    ));
    with_runtime(async {
        let session = drift::Session::open(inputs, env, Some(masks.clone())).await;
        let progress: Vec<StderrProgress> = labelled
            .iter()
            .map(|(_, label)| match several {
                true => StderrProgress::for_service(inputs, env, label),
                false => StderrProgress::new(inputs, env),
            })
            .collect();
        // `parallelism` services at a time on the one session; verdicts in the order given.
        let checks = labelled
            .iter()
            .zip(&progress)
            .map(|((service_inputs, _), p)| {
                drift::check_service(&session, service_inputs, repair, p)
            });
        let parallelism = usize::try_from(inputs.parallelism).unwrap_or(1).max(1);
        let verdicts: Vec<gate::Verdict> = futures_util::stream::iter(checks)
            .buffered(parallelism)
            .collect()
            .await;
        let tokens = masks.seen();
        let options = report::EmitOptions {
            summary_file: summary,
            extra_secrets: &tokens,
            progress_in_log: super::progress::shares_log(inputs.platform()),
        };
        let mut stdout = std::io::stdout().lock();
        if several {
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
        } else {
            let Some(verdict) = verdicts.first() else {
                return Exit::Passed;
            };
            match report::emit(verdict, inputs, env, &mut stdout, &options).await {
                Ok(outcome) => outcome.exit,
                Err(e) => {
                    error(&e);
                    e.exit_for(verdict)
                }
            }
        }
    })
}

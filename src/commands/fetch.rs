//! `apim-gate fetch`: the cluster half of the gate. Says on standard error which address APIM
//! will call and why, and writes the rewritten document. Its lines are cleaned like every
//! command's, without masking the inputs' secrets: an error names the kubeconfig file it could
//! not read, and the kubeconfig input counts as a secret.

use std::path::Path;

use super::progress::StderrProgress;
use super::{EnvFile, fail, load_inputs, warn, write_json_output};
use crate::exit::Exit;
use crate::gate::cluster_side;
use crate::inputs::Need;
use crate::report::Cleaner;

pub async fn fetch(file: &EnvFile, output: Option<&Path>) -> Exit {
    let (env, inputs) = match load_inputs(file, Need::Cluster) {
        Ok(loaded) => loaded,
        Err(exit) => return exit,
    };
    let outcome = match cluster_side::run(&inputs, &env, &StderrProgress::new(&inputs, &env)).await
    {
        Ok(o) => o,
        Err(e) => return fail(e.exit(), e),
    };
    for w in &outcome.warnings {
        warn(w);
    }
    let found = &outcome.found;
    let clean = Cleaner::default();
    let say = |line: String| eprintln!("{}", clean.line(&line));
    say(format!("address: {}", found.address.address));
    say(format!("why: {}", found.address.why));
    say(format!(
        "document: {} from pod {} ({}, {} bytes)",
        found.document.path,
        found.document.pod,
        outcome.rewritten.version,
        found.document.bytes.len()
    ));
    write_json_output(output, &outcome.rewritten.text)
}

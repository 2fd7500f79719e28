//! `apim-gate fetch`: the cluster half of the gate. Says on standard error which address APIM
//! will call and why, and writes the rewritten document.

use std::path::Path;

use super::progress::StderrProgress;
use super::{EnvFile, fail, load_inputs, write_json_output};
use crate::exit::Exit;
use crate::gate::cluster_side;
use crate::inputs::Need;
use crate::report::{self, Cleaner};

pub async fn fetch(file: &EnvFile, output: Option<&Path>) -> Exit {
    let (env, inputs) = match load_inputs(file, Need::Cluster) {
        Ok(loaded) => loaded,
        Err(exit) => return exit,
    };
    let clean = Cleaner::new(&report::secrets(&env, Some(&inputs)));
    let outcome = match cluster_side::run(&inputs, &env, &StderrProgress::new(&inputs, &env)).await
    {
        Ok(o) => o,
        Err(e) => return fail(e.exit(), clean.text(&e.to_string())),
    };
    for w in &outcome.warnings {
        eprintln!("apim-gate: warning: {}", clean.text(w));
    }
    let found = &outcome.found;
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

//! What each subcommand does and says: the top layer, above `gate` and `report`. `main.rs` parses
//! the arguments and calls one of these; each returns the process's [`Exit`].
//!
//! - `run.rs`: the whole gate, for one service or the `services` list, then its report;
//! - `check.rs`: the drift check (`apim-gate check`, `mode: check`) and its report;
//! - `config.rs`: the resolved inputs;
//! - `fetch.rs`: the cluster half of the gate;
//! - `spec.rs`: the offline document commands `fix`, `diff` and `lint`;
//! - `progress.rs`: the progress lines of the commands that reach a cluster or Azure.
//!
//! The lower layers never print: they return values and typed errors, and these functions say
//! them on standard output and standard error. They live together, not beside the layers they
//! drive, so that `spec`, `cluster` and `gate` stay free of printing.
//!
//! Everything printed goes through the gate's cleaning ([`crate::report::text`]), whatever the
//! platform: an Azure DevOps agent or a GitHub runner reads `##vso[…]` and `::command::` in any
//! script step's output, so a document's path, a pod's answer or an error must not be able to set
//! a pipeline variable. JSON (documents, `--format json`, `config`) is made inert without
//! changing what it says; a file written with `-o` is written as it is.

pub mod check;
pub mod config;
pub mod fetch;
pub mod progress;
pub mod run;
pub mod spec;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

pub use config::config;
pub use fetch::fetch;
pub use run::{check, run};
pub use spec::{DiffOptions, FixOptions, Format, diff, fix, lint};

use crate::exit::Exit;
use crate::inputs::{Env, Inputs, Need};
use crate::report::Cleaner;
use crate::report::text::json_commands;

/// Where inputs come from besides the process environment: `--env-file` and
/// `--env-file-override`.
#[derive(Clone, Debug, Default)]
pub struct EnvFile {
    pub path: Option<PathBuf>,
    /// The file's values win over real environment variables.
    pub overrides: bool,
}

/// Runs `work` on the multi-threaded runtime the cluster and Azure clients need.
pub fn with_runtime(work: impl std::future::Future<Output = Exit>) -> Exit {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(work),
        Err(e) => fail(
            Exit::Input,
            format_args!("cannot start the async runtime: {e}"),
        ),
    }
}

/// Says what went wrong on standard error, cleaned, and gives back the exit code.
pub fn fail(exit: Exit, message: impl std::fmt::Display) -> Exit {
    error(message);
    exit
}

/// An error on standard error, cleaned.
fn error(message: impl std::fmt::Display) {
    eprintln!(
        "apim-gate: error: {}",
        Cleaner::default().text(&message.to_string())
    );
}

/// A warning on standard error, cleaned.
fn warn(message: impl std::fmt::Display) {
    eprintln!(
        "apim-gate: warning: {}",
        Cleaner::default().text(&message.to_string())
    );
}

fn load_env(file: &EnvFile) -> Result<Env, Exit> {
    let env = Env::from_process();
    match &file.path {
        Some(path) => env
            .with_file(path, file.overrides)
            .map_err(|e| fail(Exit::Input, e)),
        None => Ok(env),
    }
}

fn load_inputs(file: &EnvFile, need: Need) -> Result<(Env, Inputs), Exit> {
    let env = load_env(file)?;
    let inputs = Inputs::load(&env, need).map_err(|e| fail(Exit::Input, e))?;
    for w in &inputs.warnings {
        warn(w);
    }
    Ok((env, inputs))
}

/// Writes a JSON document to `path` as it is, or to standard output made inert for CI logs.
fn write_json_output(path: Option<&Path>, json: &str) -> Exit {
    let written = match path {
        Some(path) => {
            std::fs::write(path, json).map_err(|e| format!("cannot write {}: {e}", path.display()))
        }
        None => std::io::stdout()
            .lock()
            .write_all(json_commands(json).as_bytes())
            .map_err(|e| format!("cannot write to standard output: {e}")),
    };
    match written {
        Ok(()) => Exit::Passed,
        Err(e) => fail(Exit::Input, e),
    }
}

/// The bytes of `path` (standard input for `-` or none) and the name to show for it.
fn read_input(path: Option<&Path>) -> Result<(Vec<u8>, String), String> {
    match path {
        None => read_stdin(),
        Some(p) if p == Path::new("-") => read_stdin(),
        Some(p) => std::fs::read(p)
            .map(|b| (b, p.display().to_string()))
            .map_err(|e| format!("cannot read {}: {e}", p.display())),
    }
}

fn read_stdin() -> Result<(Vec<u8>, String), String> {
    let mut buf = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read standard input: {e}"))?;
    Ok((buf, "standard input".to_string()))
}

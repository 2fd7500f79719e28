//! Progress for a person watching a local run or a CI log, on standard error so standard output
//! stays the report. Untrusted text (pod answers, Azure messages) is cleaned first.

use crate::cluster::{Event, Observer};
use crate::gate::verdict::{Step, StepName};
use crate::inputs::{Env, Inputs, Platform};
use crate::{apim, gate, report};

/// Whether the progress lines (standard error) and the report (standard output) end up in one
/// log that is not a terminal, so the report need not repeat the steps. True on GitHub Actions
/// and Azure Pipelines: both runners read the two streams into the one step log (as separate
/// pipes, so comparing them would not tell). Elsewhere: when both streams are the same file or
/// pipe (`> log 2>&1`, a container's log) — the same device and inode — and not a terminal,
/// where a person watching wants the steps again under the progress that scrolled by.
pub fn shares_log(platform: Platform) -> bool {
    if platform != Platform::Local {
        return true;
    }
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        return false;
    }
    same_file("/proc/self/fd/1", "/proc/self/fd/2")
        .or_else(|| same_file("/dev/fd/1", "/dev/fd/2"))
        .unwrap_or(false)
}

/// Whether two paths name one file (following links: `/proc/self/fd/N` links to the pipe or
/// file); `None` when either cannot be read.
#[cfg(unix)]
fn same_file(a: &str, b: &str) -> Option<bool> {
    use std::os::unix::fs::MetadataExt;
    let (a, b) = (std::fs::metadata(a).ok()?, std::fs::metadata(b).ok()?);
    Some(a.dev() == b.dev() && a.ino() == b.ino())
}

#[cfg(not(unix))]
fn same_file(_: &str, _: &str) -> Option<bool> {
    None
}

pub struct StderrProgress {
    clean: report::Cleaner,
    /// `namespace/service: ` when several services interleave their lines.
    prefix: String,
}

impl StderrProgress {
    pub fn new(inputs: &Inputs, env: &Env) -> StderrProgress {
        StderrProgress {
            clean: report::Cleaner::new(&report::secrets(env, Some(inputs))),
            prefix: String::new(),
        }
    }

    pub fn for_service(inputs: &Inputs, env: &Env, label: &str) -> StderrProgress {
        let mut p = StderrProgress::new(inputs, env);
        p.prefix = format!("{}: ", p.clean.line(label));
        p
    }

    fn say(&self, line: &str) {
        eprintln!("apim-gate: {}{}", self.prefix, self.clean.line(line));
    }
}

impl Observer for StderrProgress {
    fn event(&self, event: Event) {
        match event {
            Event::WaitingForPod { service, status } => self.say(&format!(
                "waiting for a ready pod behind {service}: {status}"
            )),
            Event::Retrying {
                what,
                error,
                attempt,
            } => self.say(&format!(
                "{what} failed ({error}); retrying (attempt {})",
                attempt + 1
            )),
        }
    }
}

impl apim::Observer for StderrProgress {
    fn event(&self, event: apim::Event) {
        let line = match event {
            apim::Event::Found { what } => what,
            apim::Event::Writing { what } => format!("{what} …"),
            apim::Event::Polling { what, poll } => format!("{what}: still running (poll {poll})"),
            apim::Event::Retrying(r) => format!(
                "{} answered {}; retrying in {} (attempt {})",
                r.what,
                r.reason,
                report::duration(r.wait),
                r.attempt + 1
            ),
            apim::Event::Fixed { what } => format!("corrected: {what}"),
            apim::Event::Verified {
                revision,
                operations,
            } => format!(
                "verified{}: {operations} operations match the document",
                revision
                    .map(|r| format!(" revision {r}"))
                    .unwrap_or_default()
            ),
            apim::Event::Released {
                revision,
                release_id,
            } => format!("released revision {revision} ({release_id})"),
            apim::Event::AddedToProduct { product } => format!("added to product {product}"),
            apim::Event::CleanedUp { what } => format!("cleaned up: {what}"),
        };
        self.say(&line);
    }
}

impl gate::Progress for StderrProgress {
    fn step_started(&self, name: StepName) {
        self.say(&format!("{} …", name.title()));
    }

    fn step_finished(&self, step: &Step) {
        self.say(&format!(
            "{}: {:?} in {} ({})",
            step.name.title(),
            step.outcome,
            report::duration(step.duration),
            step.detail
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_file_under_two_names_is_the_same_log() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, "").unwrap();
        std::fs::write(&b, "").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&a, &link).unwrap();
        let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
        assert_eq!(same_file(&s(&a), &s(&link)), Some(true));
        assert_eq!(same_file(&s(&a), &s(&b)), Some(false));
        assert_eq!(same_file(&s(&a), &s(&dir.path().join("none"))), None);
        assert!(shares_log(Platform::GithubActions));
        assert!(shares_log(Platform::AzureDevops));
    }
}

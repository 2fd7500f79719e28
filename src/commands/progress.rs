//! Progress for a person watching a local run or a CI log, on standard error so standard output
//! stays the report. Untrusted text (pod answers, Azure messages) is cleaned first.

use crate::cluster::{Event, Observer};
use crate::gate::verdict::{Step, StepName};
use crate::inputs::{Env, Inputs};
use crate::{apim, gate, report};

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

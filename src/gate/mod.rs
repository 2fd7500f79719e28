//! The gate: runs inputs → cluster → rewrite → lint → breaking changes → publish, times each
//! step, and turns what happened into one [`Verdict`].

pub mod checks;
pub mod cluster_side;
pub mod pool;
pub mod run;
pub mod services;
pub mod verdict;

pub use verdict::{
    AddressReport, FindingSource, Outcome, PublishReport, SourcedFinding, Step, StepName,
    StepOutcome, Verdict,
};

pub use run::{Progress, Session, Silent, overall_exit, run, run_many, run_service};

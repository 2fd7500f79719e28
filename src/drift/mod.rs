//! The drift check (`apim-gate check`, `mode: check`): compares what APIM serves with the
//! cluster it fronts, between releases, and with `repair` fixes the address in place.
//!
//! - `run.rs`: one check: the cluster side, the live API, the findings, the repair; a [`Verdict`]
//!   the reporters render like the gate's (rule ids `drift-*`, source `drift`);
//! - `address.rs`: `drift-node-gone`, `drift-node-not-ready`, `drift-node-port-changed`,
//!   `drift-service-url`; the nodes' health comes from the cluster side
//!   ([`crate::cluster::survey`]), which needs no ready pod;
//! - `document.rs`: `drift-document`, `drift-operations`;
//! - `pool.rs`: `drift-pool-members` and the address rules for each member (`backend: pool`);
//! - `policy.rs`: `drift-policy`;
//! - `repair.rs`: PATCH of the current revision's serviceUrl, read back, no new revision (the
//!   pool's repair is in `pool.rs`).
//!
//! Nothing here prints; the check writes nothing unless `repair` is asked for, and then only the
//! current revision's serviceUrl (and its document record) or the pool's backends.
//!
//! [`Verdict`]: crate::gate::Verdict

mod address;
mod document;
mod policy;
mod pool;
mod repair;
mod run;

pub use address::{LiveAddress, shown};
pub use document::DocumentCheck;
pub use pool::PoolCheck;
pub use repair::{RepairError, Repaired};
pub use run::{Session, check_service};

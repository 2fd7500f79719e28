//! Injectable faults, named as on the command line (`--fault NAME=VALUE`) and at
//! `POST /_sandbox/faults`.
//!
//! Count faults (`arm-429=N`) fire on the next N matching requests; setting faults
//! (`token-ttl=S`) hold a value until changed.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::Error;

/// Every fault name the sandbox understands.
pub const FAULT_NAMES: &[&str] = &[
    "arm-429",
    "arm-5xx",
    "arm-409",
    "arm-409-conflict",
    "arm-export-link-500",
    "arm-release-lost",
    "arm-import-422",
    "arm-policy-500",
    "kube-5xx",
    "kube-503",
    "kube-429",
    "lro-fail",
    "token-ttl",
    "pod-ready-after",
    "portforward-cut",
    "pod-latency",
];

#[derive(Default)]
pub struct Faults {
    values: Mutex<BTreeMap<String, u64>>,
}

impl Faults {
    /// Arms (or, with 0, disarms) the fault `name`.
    pub fn set(&self, name: &str, value: u64) -> Result<(), Error> {
        if !FAULT_NAMES.contains(&name) {
            return Err(Error::UnknownFault(name.to_string()));
        }
        self.lock().insert(name.to_string(), value);
        Ok(())
    }

    /// Parses `NAME=VALUE` as given on the command line.
    pub fn set_from_arg(&self, arg: &str) -> Result<(), Error> {
        let (name, value) = arg
            .split_once('=')
            .ok_or_else(|| Error::BadFault(arg.to_string()))?;
        let value = value
            .trim()
            .parse()
            .map_err(|_| Error::BadFault(arg.to_string()))?;
        self.set(name.trim(), value)
    }

    /// For count faults: true (and one fewer left) when the fault should fire on this request.
    pub fn take(&self, name: &str) -> bool {
        let mut values = self.lock();
        match values.get_mut(name) {
            Some(left) if *left > 0 => {
                *left -= 1;
                true
            }
            _ => false,
        }
    }

    /// For setting faults: the value, when armed and non-zero.
    pub fn value(&self, name: &str) -> Option<u64> {
        self.lock().get(name).copied().filter(|v| *v > 0)
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, u64>> {
        // A poisoned lock only means a handler panicked mid-update of a counter; the map is still usable.
        self.values.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_faults_fire_exactly_n_times() {
        let f = Faults::default();
        f.set_from_arg("arm-429=2").unwrap();
        assert!(f.take("arm-429"));
        assert!(f.take("arm-429"));
        assert!(!f.take("arm-429"));
        assert!(!f.take("arm-5xx"));
    }

    #[test]
    fn unknown_and_malformed_faults_are_refused() {
        let f = Faults::default();
        assert!(matches!(
            f.set_from_arg("arm-430=1"),
            Err(Error::UnknownFault(_))
        ));
        assert!(matches!(f.set_from_arg("arm-429"), Err(Error::BadFault(_))));
        assert!(matches!(
            f.set_from_arg("arm-429=x"),
            Err(Error::BadFault(_))
        ));
    }
}

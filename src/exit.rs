//! Exit codes, the same on every platform and documented in the README.

/// How a run ended. The numeric values are a contract with pipelines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The gate passed (or the command did its job).
    Passed = 0,
    /// The gate refused: a breaking change, a lint error, or verification failed.
    Refused = 1,
    /// Bad input or configuration.
    Input = 2,
    /// A Kubernetes problem: cluster unreachable, Service unusable, no ready pod, no document.
    Kubernetes = 3,
    /// An Azure or APIM problem: sign-in, ARM error, import failed.
    Azure = 4,
    /// The gate finished but its verdict could not be reported.
    Reporting = 5,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

//! Why a plan was not used, as a type: what plans do not support is
//! decided before anything runs and the interpreter runs it by design;
//! any other failure is a bug in retap that must be seen (a strict run
//! stops on it, any other run says so on stderr and falls back).

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;

#[derive(Debug)]
pub enum PlanError {
    /// What plans do not reproduce: found by the analysis (`it divides`),
    /// or only in their results (an array over its limit, elements first
    /// seen at one time). The interpreter runs the program instead.
    Unsupported(String),
    /// The cluster the plans were sent to failed or did not answer: not
    /// a bug, and not replaced by a local run the user did not ask for.
    Cluster(String),
    /// Anything else: DataFusion, Arrow or the plans' own code failed.
    Failed(String),
}

/// Why plans do not compute something (the interpreter will).
pub fn unsupported(why: impl Into<String>) -> PlanError {
    PlanError::Unsupported(why.into())
}

/// A failure of the plans' own code: a bug.
pub fn failed(what: impl Into<String>) -> PlanError {
    PlanError::Failed(what.into())
}

impl From<DataFusionError> for PlanError {
    fn from(e: DataFusionError) -> Self {
        PlanError::Failed(e.to_string())
    }
}

impl From<ArrowError> for PlanError {
    fn from(e: ArrowError) -> Self {
        PlanError::Failed(e.to_string())
    }
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanError::Unsupported(s) | PlanError::Cluster(s) | PlanError::Failed(s) => {
                f.write_str(s)
            }
        }
    }
}

impl std::error::Error for PlanError {}

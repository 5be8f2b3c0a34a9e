//! What can stop `retap diff` before it has a comparison to show.

use crate::sql::SqlError;
use retap_schema::ManifestError;

#[derive(Debug)]
pub enum DiffError {
    /// Options that do not fit the traces (`--by` a column the table lacks).
    Usage(String),
    /// A trace that cannot be opened.
    Trace(ManifestError),
    /// The aggregation over the traces failed.
    Sql(SqlError),
    /// `--script` failed over one of the traces: its message as a run
    /// would print it.
    Script {
        script: String,
        trace: String,
        message: String,
    },
    /// Arrow failed reading the aggregates back: a bug.
    Engine(String),
}

impl std::fmt::Display for DiffError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DiffError::Usage(s) => f.write_str(s),
            DiffError::Engine(s) => write!(f, "{s} (a bug in retap: please report it)"),
            DiffError::Trace(e) => write!(f, "{e}"),
            DiffError::Sql(e) => write!(f, "{e}"),
            DiffError::Script {
                script,
                trace,
                message,
            } => write!(f, "{script} over {trace}: {message}"),
        }
    }
}

impl std::error::Error for DiffError {}

impl From<ManifestError> for DiffError {
    fn from(e: ManifestError) -> Self {
        DiffError::Trace(e)
    }
}

impl From<SqlError> for DiffError {
    fn from(e: SqlError) -> Self {
        match e {
            SqlError::Trace(t) => DiffError::Trace(t),
            other => DiffError::Sql(other),
        }
    }
}

impl From<datafusion::arrow::error::ArrowError> for DiffError {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        DiffError::Engine(e.to_string())
    }
}

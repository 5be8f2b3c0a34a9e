//! What can go wrong in `retap sql`, by whose it is: the command line's,
//! a trace's, the query's, or writing its results.

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use retap_schema::ManifestError;

#[derive(Debug)]
pub enum SqlError {
    /// Traces and SQL that do not make sense together (`a: no such trace
    /// directory`, two traces of one name, a bad `.schema` argument).
    Usage(String),
    /// A trace that cannot be opened.
    Trace(ManifestError),
    /// The statement failed: one clear line (DataFusion's root cause,
    /// unknown tables listed with what exists).
    Query(String),
    /// The statement failed reading a damaged trace: its message and a
    /// `DAMAGED: ...` line for each damaged part.
    Damaged {
        message: String,
        damage: Vec<String>,
    },
    /// The results could not be written (the path, when a file).
    Output(String),
    /// Arrow or DataFusion failed outside a statement (setting up the
    /// session's tables, formatting results): a bug.
    Engine(String),
}

impl std::fmt::Display for SqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SqlError::Usage(s) | SqlError::Query(s) | SqlError::Output(s) => f.write_str(s),
            SqlError::Engine(s) => write!(f, "{s} (a bug in retap: please report it)"),
            SqlError::Trace(e) => write!(f, "{e}"),
            SqlError::Damaged { message, damage } => {
                write!(f, "{message}: the trace is damaged")?;
                for d in damage {
                    write!(f, "\nDAMAGED: {d}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for SqlError {}

impl From<ManifestError> for SqlError {
    fn from(e: ManifestError) -> Self {
        SqlError::Trace(e)
    }
}

impl From<DataFusionError> for SqlError {
    fn from(e: DataFusionError) -> Self {
        SqlError::Engine(super::clean_error(&e))
    }
}

/// Arrow's writers report the output's I/O errors as theirs.
impl From<ArrowError> for SqlError {
    fn from(e: ArrowError) -> Self {
        match e {
            ArrowError::IoError(_, io) => SqlError::Output(io.to_string()),
            other => SqlError::Engine(other.to_string()),
        }
    }
}

impl From<std::io::Error> for SqlError {
    fn from(e: std::io::Error) -> Self {
        SqlError::Output(e.to_string())
    }
}

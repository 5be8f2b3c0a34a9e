//! Why an interpreter run ended without a result. A script's own run-time
//! errors (division by zero, an array over its limit) are not these: they
//! are [`super::interp::RtError`], printed as stap prints them, and part
//! of the output.

use std::path::PathBuf;

/// A trace file that could not be read: which, and what went wrong.
#[derive(Debug, Clone)]
pub struct ReadError {
    pub path: PathBuf,
    pub what: String,
}

impl ReadError {
    pub fn new(path: &std::path::Path, what: impl std::fmt::Display) -> ReadError {
        ReadError {
            path: path.to_path_buf(),
            what: what.to_string(),
        }
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.what)
    }
}

impl std::error::Error for ReadError {}

#[derive(Debug)]
pub enum RunError {
    /// The probes need what the trace does not have (a recording, a table).
    Trace(String),
    /// A file failed part-way with no damage found to explain it.
    Read(ReadError),
    /// The output could not be written.
    Output(std::io::Error),
    /// The program could not be set up to run (a regular expression).
    Setup(String),
    /// The projection the caller handed in ([`super::Projector`]) failed:
    /// its error, which is the caller's to classify.
    Projection(Box<dyn std::error::Error + Send + Sync>),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Trace(s) | RunError::Setup(s) => f.write_str(s),
            RunError::Read(e) => write!(f, "{e}"),
            RunError::Output(e) => write!(f, "cannot write output: {e}"),
            RunError::Projection(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for RunError {}

impl From<ReadError> for RunError {
    fn from(e: ReadError) -> Self {
        RunError::Read(e)
    }
}

impl From<std::io::Error> for RunError {
    fn from(e: std::io::Error) -> Self {
        RunError::Output(e)
    }
}

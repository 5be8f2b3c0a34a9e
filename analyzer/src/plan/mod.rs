//! Passes 3 and 4: event probes whose effects on globals are commutative
//! aggregations (`a[k]++`, `a[k] += e`, `s[k] <<< e`, `n++`, running
//! maxima `if (e > m[k]) m[k] = e` and minima `if (!(k in m) || e < m[k])
//! m[k] = e`, under `if` guards over event data)
//! become DataFusion plans: a scan of the probe's
//! table with the point's filter and the guards pushed down, GROUP BY the
//! keys, count/sum/min/max and histogram buckets. The results are the
//! globals' final state; `end` probes then run in the interpreter over it.
//! Everything else runs in the interpreter, and `-v` says why.

mod analysis;
mod dictionaries;
mod error;
mod exec;
mod firing_order;
mod hits;
mod projection;
mod rollups;
mod shown;
mod translate;

pub use analysis::{analyse, Compiled, Projection, Update, UpdateKind, ValueSort};
pub use error::PlanError;
pub use exec::{build_plans, run_plans, FromRollups, Plan, PlanSession};
pub use hits::probe_hits;
pub use projection::{build_projection, Projected, ProjectionPlans};

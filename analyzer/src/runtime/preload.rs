//! What plans hand the interpreter: the final state of the globals they
//! computed, in the interpreter's own terms (keys as its values, elements
//! in the order it would have made them). The interpreter merges them
//! without knowing how they were computed.

use super::value::Value;

/// What one global ends up holding, per key.
#[derive(Clone, Debug)]
pub enum Acc {
    Int(i64),
    /// A running maximum (merged by max, not by addition).
    Max(i64),
    /// A running minimum: a missing element takes the value, else min.
    Min(i64),
    Stat {
        count: i64,
        sum: i64,
        min: i64,
        max: i64,
        hists: Vec<Vec<i64>>,
    },
}

/// One array element (or a scalar's value, with no key).
pub type Element = (Vec<Value>, Acc);

/// A global and its elements.
pub type GlobalElements = (u32, Vec<Element>);

/// Results of plans, keyed by global, in the order the interpreter would have
/// created the elements (first firing time).
#[derive(Debug, Default)]
pub struct Preload {
    /// Per timer interval (tick k covers events up to start + k*period;
    /// 0 when there are no timers): each global's elements in that interval.
    pub ticks: Vec<(i64, Vec<GlobalElements>)>,
    /// The timers' period when results are per interval.
    pub period: Option<i64>,
}

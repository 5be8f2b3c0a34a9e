//! `retap diff`'s log-linear histogram buckets (32 sub-buckets per power
//! of two: a value is within 1.6% of its bucket's midpoint), and the
//! function that computes them in a query: a named DataFusion function
//! without state, so every process of a cluster can know it
//! ([`super::cluster::functions`]).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{create_udf, ColumnarValue, ScalarUDF, Volatility};

/// Values below this are their own bucket.
const EXACT: i64 = 32;
const SUB_BITS: u32 = 5;

/// The bucket of a non-negative value (negative values count as 0).
pub fn bucket(v: i64) -> i64 {
    if v < EXACT {
        return v.max(0);
    }
    let e = 63 - v.leading_zeros(); // floor(log2 v) >= SUB_BITS
    let shift = e - SUB_BITS;
    let sub = (v >> shift) & (EXACT - 1);
    EXACT + (shift as i64) * EXACT + sub
}

/// The bucket's lower bound and width.
pub fn bucket_range(b: i64) -> (i64, i64) {
    if b < EXACT {
        return (b, 1);
    }
    let shift = (b - EXACT) / EXACT;
    let sub = (b - EXACT) % EXACT;
    let lo = (EXACT + sub) << shift;
    (lo, 1i64 << shift)
}

/// `log_linear_bucket(v)`: [`bucket`] of an integer column (null stays null).
pub fn udf() -> Arc<ScalarUDF> {
    Arc::new(create_udf(
        "log_linear_bucket",
        vec![DataType::Int64],
        DataType::Int64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| -> Result<ColumnarValue> {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let a = cast(&arrays[0], &DataType::Int64)?;
            let a = a
                .as_any()
                .downcast_ref::<Int64Array>()
                .expect("Int64 input");
            let out: Int64Array = a.iter().map(|v| v.map(bucket)).collect();
            Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
        }),
    ))
}

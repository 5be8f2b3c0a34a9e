//! stap's log2 histogram bucket as a DataFusion function. SQL's f64
//! `log2` would misplace values next to large powers of two, so the
//! bucket is computed on integers exactly as the interpreter does
//! ([`log_bucket`]).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, ArrowPrimitiveType, AsArray, Int64Array};
use datafusion::arrow::datatypes::{
    DataType, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type, UInt8Type,
};
use datafusion::common::{exec_err, Result};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::runtime::stats::log_bucket;

/// Integer types whose every value is also an i64: the function takes
/// them as they are stored, so a plan need not widen a column to Int64
/// (a pass over every row and a new array) only to bucket it.
const EXACT_IN_I64: [DataType; 7] = [
    DataType::Int64,
    DataType::Int32,
    DataType::Int16,
    DataType::Int8,
    DataType::UInt32,
    DataType::UInt16,
    DataType::UInt8,
];

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct LogBucket {
    signature: Signature,
}

/// The function, to call in plans (`udf.call(vec![value])`).
pub fn log_bucket_udf() -> Arc<ScalarUDF> {
    Arc::new(ScalarUDF::new_from_impl(LogBucket {
        signature: Signature::uniform(1, EXACT_IN_I64.to_vec(), Volatility::Immutable),
    }))
}

fn buckets<T: ArrowPrimitiveType>(a: &ArrayRef) -> ArrayRef
where
    T::Native: Into<i64>,
{
    // unary keeps the null mask and loops over the plain values.
    let out: Int64Array = a.as_primitive::<T>().unary(|v| log_bucket(v.into()) as i64);
    Arc::new(out)
}

impl ScalarUDFImpl for LogBucket {
    fn name(&self) -> &str {
        "stap_log_bucket"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let a = &arrays[0];
        let out = match a.data_type() {
            DataType::Int64 => buckets::<Int64Type>(a),
            DataType::Int32 => buckets::<Int32Type>(a),
            DataType::Int16 => buckets::<Int16Type>(a),
            DataType::Int8 => buckets::<Int8Type>(a),
            DataType::UInt32 => buckets::<UInt32Type>(a),
            DataType::UInt16 => buckets::<UInt16Type>(a),
            DataType::UInt8 => buckets::<UInt8Type>(a),
            t => return exec_err!("stap_log_bucket of {t}"),
        };
        Ok(ColumnarValue::Array(out))
    }
    /// `stap_log_bucket(CAST(length AS Int64))` (values are stap longs in
    /// the translated expressions) buckets the column as stored instead.
    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        if let [Expr::Cast(c)] = args.as_slice() {
            if *c.field.data_type() == DataType::Int64
                && EXACT_IN_I64.contains(&info.get_data_type(&c.expr)?)
            {
                let inner = (*c.expr).clone();
                return Ok(ExprSimplifyResult::Simplified(
                    ScalarUDF::new_from_impl(LogBucket {
                        signature: self.signature.clone(),
                    })
                    .call(vec![inner]),
                ));
            }
        }
        Ok(ExprSimplifyResult::Original(args))
    }
}

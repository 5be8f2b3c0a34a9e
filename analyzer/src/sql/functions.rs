//! SQL helpers a stap user expects, so that `errno_str(ret)` or
//! `hist_log_bucket(len)` in SQL mean exactly what they mean in a script:
//! both call the interpreter's own functions, never a re-implementation.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, Float64Array, Int64Array, StringArray, TimestampNanosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{exec_err, plan_err, Result as DfResult};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};

use crate::runtime::argstr::errno_name;
use crate::runtime::stats::{log_bucket, log_bucket_value};

/// Per-trace facts the time helpers need, by the name the trace has in
/// the session (its schema).
#[derive(Clone, Debug)]
pub struct TraceClock {
    pub name: String,
    pub start_ns: i64,
    pub wall_clock_offset_ns: i64,
    pub arch: String,
}

type Body = dyn Fn(&[ArrayRef], &[TraceClock]) -> DfResult<ArrayRef> + Send + Sync;

/// One helper: a name, the argument shapes it takes, its result type and
/// the body over whole arrays.
struct Helper {
    name: &'static str,
    signature: Signature,
    ret: DataType,
    clocks: Arc<Vec<TraceClock>>,
    body: Arc<Body>,
}

impl std::fmt::Debug for Helper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl PartialEq for Helper {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && Arc::ptr_eq(&self.clocks, &other.clocks)
    }
}
impl Eq for Helper {}
impl std::hash::Hash for Helper {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}

impl ScalarUDFImpl for Helper {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(self.ret.clone())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let out = (self.body)(&arrays, &self.clocks)?;
        if scalar {
            Ok(ColumnarValue::Scalar(
                datafusion::common::ScalarValue::try_from_array(&out, 0)?,
            ))
        } else {
            Ok(ColumnarValue::Array(out))
        }
    }
}

fn int64s(a: &ArrayRef) -> DfResult<Int64Array> {
    let c = cast(a, &DataType::Int64)?;
    Ok(c.as_any()
        .downcast_ref::<Int64Array>()
        .expect("cast to Int64")
        .clone())
}

/// The trace a time helper is asked about: its optional second argument
/// names it; without one there must be exactly one trace.
fn clock_for<'c>(args: &[ArrayRef], clocks: &'c [TraceClock], f: &str) -> DfResult<&'c TraceClock> {
    if args.len() < 2 {
        return match clocks {
            [one] => Ok(one),
            _ => plan_err!(
                "{f}(ts) is ambiguous with {} traces: name one, e.g. {f}(ts, '{}')",
                clocks.len(),
                clocks.first().map(|c| c.name.as_str()).unwrap_or("base")
            ),
        };
    }
    let names = cast(&args[1], &DataType::Utf8)?;
    let names = names.as_any().downcast_ref::<StringArray>().expect("utf8");
    let want = if names.is_empty() || names.is_null(0) {
        ""
    } else {
        names.value(0)
    };
    match clocks.iter().find(|c| c.name == want) {
        Some(c) => Ok(c),
        None => exec_err!(
            "{f}: no trace named '{want}' (traces: {})",
            clocks
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn ts_signature() -> Signature {
    Signature::one_of(
        vec![
            TypeSignature::Uniform(1, vec![DataType::Int64]),
            TypeSignature::Exact(vec![DataType::Int64, DataType::Utf8]),
        ],
        Volatility::Immutable,
    )
}

/// The traces `f` is bound to, if it is one of these helpers (what a
/// cluster ships with it: `sql::codec`).
pub fn clocks_of(f: &ScalarUDF) -> Option<&[TraceClock]> {
    let any: &dyn std::any::Any = f.inner().as_ref();
    any.downcast_ref::<Helper>().map(|h| h.clocks.as_slice())
}

/// All helpers, bound to the session's traces.
pub fn helpers(clocks: Vec<TraceClock>) -> Vec<ScalarUDF> {
    let clocks = Arc::new(clocks);
    let one_int = || Signature::uniform(1, vec![DataType::Int64], Volatility::Immutable);
    let mk = |name: &'static str, signature: Signature, ret: DataType, body: Arc<Body>| {
        ScalarUDF::new_from_impl(Helper {
            name,
            signature,
            ret,
            clocks: clocks.clone(),
            body,
        })
    };
    vec![
        // errno_str(-2) = 'ENOENT', as stap's errno_str; '' for non-errors.
        mk(
            "errno_str",
            one_int(),
            DataType::Utf8,
            Arc::new(|a, _| {
                let v = int64s(&a[0])?;
                let out: StringArray = v.iter().map(|x| x.map(errno_name)).collect();
                Ok(Arc::new(out) as ArrayRef)
            }),
        ),
        // The label of the @hist_log row a value lands in (0, 1, 2, 4, 8 …;
        // negatives mirror), so GROUP BY hist_log_bucket(x) is stap's histogram.
        mk(
            "hist_log_bucket",
            one_int(),
            DataType::Int64,
            Arc::new(|a, _| {
                let v = int64s(&a[0])?;
                let out: Int64Array = v
                    .iter()
                    .map(|x| x.map(|x| log_bucket_value(log_bucket(x))))
                    .collect();
                Ok(Arc::new(out) as ArrayRef)
            }),
        ),
        // The name of syscall number nr on the recorded machine's arch.
        mk(
            "syscall_name",
            one_int(),
            DataType::Utf8,
            Arc::new(|a, clocks| {
                let arch = clocks.first().map(|c| c.arch.as_str()).unwrap_or("x86_64");
                let v = int64s(&a[0])?;
                // Unknown numbers are named as the recorder names them.
                let out: StringArray = v
                    .iter()
                    .map(|x| {
                        x.map(|nr| match retap_schema::syscalls::name(arch, nr) {
                            Some(n) => n.to_string(),
                            None => format!("syscall_{nr}"),
                        })
                    })
                    .collect();
                Ok(Arc::new(out) as ArrayRef)
            }),
        ),
        // A recorded CLOCK_MONOTONIC ns value as wall-clock time (UTC).
        mk(
            "wall_time",
            ts_signature(),
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            Arc::new(|a, clocks| {
                let c = clock_for(a, clocks, "wall_time")?;
                let v = int64s(&a[0])?;
                let out: TimestampNanosecondArray = v
                    .iter()
                    .map(|x| x.map(|t| t.saturating_add(c.wall_clock_offset_ns)))
                    .collect();
                Ok(Arc::new(out.with_timezone("UTC")) as ArrayRef)
            }),
        ),
        // Seconds since the recording started.
        mk(
            "trace_secs",
            ts_signature(),
            DataType::Float64,
            Arc::new(|a, clocks| {
                let c = clock_for(a, clocks, "trace_secs")?;
                let v = int64s(&a[0])?;
                let out: Float64Array = v
                    .iter()
                    .map(|x| x.map(|t| (t - c.start_ns) as f64 / 1e9))
                    .collect();
                Ok(Arc::new(out) as ArrayRef)
            }),
        ),
    ]
}

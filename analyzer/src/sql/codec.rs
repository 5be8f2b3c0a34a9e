//! What a cluster needs to ship a `retap sql` session's plans besides
//! Ballista's own codecs: the SQL helpers are bound to the session's
//! traces (their clocks and arch, [`TraceClock`]), and the manifest tables
//! and tables without files are in memory. Both travel inside the plan
//! (the clocks as JSON, a table as Arrow IPC), so the scheduler and every
//! executor rebuild the same function and table; everything else is
//! Ballista's codecs' work. Every process of a cluster and its clients use
//! these ([`LogicalCodec`], [`PhysicalCodec`]).

use std::sync::Arc;

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::catalog::TableProvider;
use datafusion::common::{DataFusionError, Result, TableReference};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::datasource::MemTable;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{AggregateUDF, Extension, LogicalPlan, ScalarUDF, WindowUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};

use super::functions::{self, TraceClock};

/// Marks a helper's definition in a plan: its traces' clocks follow.
const HELPER: &[u8] = b"retap-sql-helper\n";
/// Marks an in-memory table in a plan: its batches follow, as Arrow IPC.
const MEMORY: &[u8] = b"retap-memory-table\n";

/// A helper's traces, when `f` is one of retap's SQL helpers.
fn encode_helper(f: &ScalarUDF, buf: &mut Vec<u8>) -> bool {
    let Some(clocks) = functions::clocks_of(f) else {
        return false;
    };
    let list: Vec<serde_json::Value> = clocks
        .iter()
        .map(|c| {
            serde_json::json!({
                "name": c.name,
                "start_ns": c.start_ns,
                "wall_clock_offset_ns": c.wall_clock_offset_ns,
                "arch": c.arch,
            })
        })
        .collect();
    buf.extend_from_slice(HELPER);
    buf.extend_from_slice(serde_json::Value::Array(list).to_string().as_bytes());
    true
}

fn decode_helper(name: &str, buf: &[u8]) -> Option<Result<Arc<ScalarUDF>>> {
    let json = buf.strip_prefix(HELPER)?;
    let bad = |what: &str| DataFusionError::Internal(format!("retap helper {name}: {what}"));
    let parsed = (|| {
        let v: serde_json::Value = serde_json::from_slice(json).map_err(|e| bad(&e.to_string()))?;
        let clocks = v
            .as_array()
            .ok_or_else(|| bad("no clocks"))?
            .iter()
            .map(|c| {
                Some(TraceClock {
                    name: c["name"].as_str()?.to_string(),
                    start_ns: c["start_ns"].as_i64()?,
                    wall_clock_offset_ns: c["wall_clock_offset_ns"].as_i64()?,
                    arch: c["arch"].as_str()?.to_string(),
                })
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("a clock lacks a field"))?;
        functions::helpers(clocks)
            .into_iter()
            .find(|f| f.name() == name)
            .map(Arc::new)
            .ok_or_else(|| bad("no helper of that name"))
    })();
    Some(parsed)
}

fn encode_memory(table: &Arc<dyn TableProvider>, buf: &mut Vec<u8>) -> Result<bool> {
    let any: &dyn std::any::Any = table.as_ref();
    let Some(mem) = any.downcast_ref::<MemTable>() else {
        return Ok(false);
    };
    let mut batches = vec![];
    for partition in &mem.batches {
        // (Written once when the session registered it: never locked now.)
        let partition = partition
            .try_read()
            .map_err(|e| DataFusionError::Internal(format!("an in-memory table: {e}")))?;
        batches.extend(partition.iter().cloned());
    }
    buf.extend_from_slice(MEMORY);
    let mut w = StreamWriter::try_new(&mut *buf, &mem.schema())?;
    for b in &batches {
        w.write(b)?;
    }
    w.finish()?;
    Ok(true)
}

fn decode_memory(buf: &[u8], schema: SchemaRef) -> Option<Result<Arc<dyn TableProvider>>> {
    let ipc = buf.strip_prefix(MEMORY)?;
    let read = || -> Result<Arc<dyn TableProvider>> {
        let batches = StreamReader::try_new(ipc, None)?.collect::<Result<Vec<_>, _>>()?;
        Ok(Arc::new(MemTable::try_new(schema, vec![batches])?))
    };
    Some(read())
}

/// The functions' half of both codecs, which the two traits declare
/// alike: retap's helpers with their clocks, the rest Ballista's.
macro_rules! functions_of_both {
    () => {
        fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
            decode_helper(name, buf).unwrap_or_else(|| self.0.try_decode_udf(name, buf))
        }

        fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
            if encode_helper(node, buf) {
                return Ok(());
            }
            self.0.try_encode_udf(node, buf)
        }

        fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
            self.0.try_decode_udaf(name, buf)
        }

        fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
            self.0.try_encode_udaf(node, buf)
        }

        fn try_decode_udwf(&self, name: &str, buf: &[u8]) -> Result<Arc<WindowUDF>> {
            self.0.try_decode_udwf(name, buf)
        }

        fn try_encode_udwf(&self, node: &WindowUDF, buf: &mut Vec<u8>) -> Result<()> {
            self.0.try_encode_udwf(node, buf)
        }
    };
}

/// Ballista's logical codec, and retap's helpers and in-memory tables.
#[derive(Debug, Default)]
pub struct LogicalCodec(BallistaLogicalExtensionCodec);

impl LogicalExtensionCodec for LogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        self.0.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.0.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        match decode_memory(buf, schema.clone()) {
            Some(t) => t,
            None => self
                .0
                .try_decode_table_provider(buf, table_ref, schema, ctx),
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        if encode_memory(&node, buf)? {
            return Ok(());
        }
        self.0.try_encode_table_provider(table_ref, node, buf)
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn FileFormatFactory>> {
        self.0.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> Result<()> {
        self.0.try_encode_file_format(buf, node)
    }

    functions_of_both!();
}

/// Ballista's physical codec, and retap's helpers.
#[derive(Debug, Default)]
pub struct PhysicalCodec(BallistaPhysicalExtensionCodec);

impl PhysicalExtensionCodec for PhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.0.try_decode(buf, inputs, ctx, proto_converter)
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        self.0.try_encode(node, buf, proto_converter)
    }

    functions_of_both!();
}

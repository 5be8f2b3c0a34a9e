//! The live stream (`retap-record --stream`): what the recorder reads, as
//! it reads it, for `retap run` to run a script on as events happen. A
//! sequence of frames on a pipe:
//!
//! - a batch: `b'B'`, the table's name (u16 LE length + UTF-8), whether its
//!   rows are syscall *entries* (u8: 1 for rows sent when a syscall is
//!   entered, with no return value yet; the same syscall comes again, whole,
//!   in the `syscalls` table when it returns), then one Arrow IPC stream
//!   (u32 LE length + bytes: the schema and one record batch), its columns
//!   those of the table's Parquet files;
//! - the end of a round: `b'R'` and an i64 LE *watermark*, after everything
//!   the recorder drained from the ring buffer in one wake-up (at most
//!   ~50 ms apart): every event stamped before the watermark has been sent,
//!   in this round or an earlier one. An event's stamp is the monotonic
//!   clock when its record was sent: its `ts`, or `ts + dur_ns` for a row
//!   sent whole when it completed (a syscall's return, a block request's
//!   completion). A reader can then act on events in time order, and fire
//!   a timer due at T only once nothing stamped before T can still come,
//!   as stap's timers and probes, run in the kernel, are ordered. The last
//!   round, at the recording's stop, has `i64::MAX`.
//!
//! The recording's losses are in its manifest, as for any trace.

use std::io::{self, Read, Write};

use arrow_array::RecordBatch;

/// The name of the batch of in-kernel syscall counts (`--count`), sent
/// once, when the recording stops: per slot and key, the count and the
/// first count's time. Its columns: [`COUNT_COLUMNS`].
pub const COUNTS: &str = "syscall_counts";

/// The columns of the counts batch, by name: slot (u32), comm (utf8),
/// pid, tid, uid, cpu, count, first (i64; the fields a slot does not
/// count by are 0 / "").
pub mod count_column {
    pub const SLOT: &str = "slot";
    pub const COMM: &str = "comm";
    pub const PID: &str = "pid";
    pub const TID: &str = "tid";
    pub const UID: &str = "uid";
    pub const CPU: &str = "cpu";
    pub const COUNT: &str = "count";
    pub const FIRST: &str = "first";
}

/// [`count_column`] in the batch's order.
pub const COUNT_COLUMNS: [&str; 8] = {
    use count_column::*;
    [SLOT, COMM, PID, TID, UID, CPU, COUNT, FIRST]
};

/// One frame.
#[derive(Debug)]
pub enum Frame {
    Batch {
        table: String,
        entries: bool,
        batch: RecordBatch,
    },
    RoundEnd {
        /// Every event stamped before it has been sent.
        watermark: i64,
    },
}

const BATCH: u8 = b'B';
const ROUND: u8 = b'R';

/// Writes a batch frame.
pub fn write_batch(
    out: &mut impl Write,
    table: &str,
    entries: bool,
    batch: &RecordBatch,
) -> io::Result<()> {
    let mut ipc = Vec::with_capacity(batch.get_array_memory_size() / 2 + 1024);
    {
        let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut ipc, &batch.schema())
            .map_err(io::Error::other)?;
        w.write(batch).map_err(io::Error::other)?;
        w.finish().map_err(io::Error::other)?;
    }
    let name = table.as_bytes();
    let mut head = Vec::with_capacity(8 + name.len());
    head.push(BATCH);
    head.extend((name.len() as u16).to_le_bytes());
    head.extend(name);
    head.push(u8::from(entries));
    head.extend((ipc.len() as u32).to_le_bytes());
    out.write_all(&head)?;
    out.write_all(&ipc)
}

/// Writes the end of a round and its watermark.
pub fn write_round_end(out: &mut impl Write, watermark: i64) -> io::Result<()> {
    let mut f = [ROUND; 9];
    f[1..].copy_from_slice(&watermark.to_le_bytes());
    out.write_all(&f)
}

/// The next frame, or None at the end of the stream. A stream cut inside a
/// frame (the recorder killed while writing) is an error.
pub fn read_frame(input: &mut impl Read) -> io::Result<Option<Frame>> {
    let mut kind = [0u8; 1];
    if input.read(&mut kind)? == 0 {
        return Ok(None);
    }
    match kind[0] {
        ROUND => {
            let mut w = [0u8; 8];
            input.read_exact(&mut w)?;
            Ok(Some(Frame::RoundEnd {
                watermark: i64::from_le_bytes(w),
            }))
        }
        BATCH => {
            let mut n = [0u8; 2];
            input.read_exact(&mut n)?;
            let mut name = vec![0u8; u16::from_le_bytes(n) as usize];
            input.read_exact(&mut name)?;
            let table = String::from_utf8(name)
                .map_err(|_| bad("a table name that is not UTF-8".into()))?;
            let mut flag = [0u8; 1];
            input.read_exact(&mut flag)?;
            let mut len = [0u8; 4];
            input.read_exact(&mut len)?;
            let mut ipc = vec![0u8; u32::from_le_bytes(len) as usize];
            input.read_exact(&mut ipc)?;
            let mut r = arrow_ipc::reader::StreamReader::try_new(io::Cursor::new(ipc), None)
                .map_err(|e| bad(format!("{table}: {e}")))?;
            let batch = r
                .next()
                .ok_or_else(|| bad(format!("{table}: a frame without a batch")))?
                .map_err(|e| bad(format!("{table}: {e}")))?;
            Ok(Some(Frame::Batch {
                table,
                entries: flag[0] == 1,
                batch,
            }))
        }
        k => Err(bad(format!("unknown frame kind {k:#x}"))),
    }
}

fn bad(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("live stream: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};
    use std::sync::Arc;

    #[test]
    fn frames_round_trip_and_a_cut_stream_is_an_error() {
        let b = RecordBatch::try_from_iter([
            ("ts", Arc::new(Int64Array::from(vec![1, 2])) as _),
            ("comm", Arc::new(StringArray::from(vec!["a", "b"])) as _),
        ])
        .unwrap();
        let mut out = vec![];
        write_batch(&mut out, "syscalls", true, &b).unwrap();
        write_round_end(&mut out, 12_345).unwrap();
        write_batch(&mut out, "sched.sched_switch", false, &b).unwrap();
        let mut r = io::Cursor::new(out.clone());
        match read_frame(&mut r).unwrap() {
            Some(Frame::Batch {
                table,
                entries,
                batch,
            }) => {
                assert_eq!((table.as_str(), entries), ("syscalls", true));
                assert_eq!(batch, b);
            }
            f => panic!("{f:?}"),
        }
        assert!(matches!(
            read_frame(&mut r).unwrap(),
            Some(Frame::RoundEnd { watermark: 12_345 })
        ));
        assert!(
            matches!(read_frame(&mut r).unwrap(), Some(Frame::Batch { table, entries: false, .. }) if table == "sched.sched_switch")
        );
        assert!(read_frame(&mut r).unwrap().is_none());
        let mut cut = io::Cursor::new(&out[..out.len() / 3]);
        assert!(read_frame(&mut cut).is_err());
        let mut junk = io::Cursor::new(b"X".to_vec());
        assert!(read_frame(&mut junk)
            .unwrap_err()
            .to_string()
            .contains("unknown frame kind"));
    }
}

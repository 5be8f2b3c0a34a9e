"""Where the benchmarks keep the traces they make, named by the format's
version that benchmarks see, so that a change of format is never measured
over files written in the old one (v2: syscalls files' rollups after their
rows, not in their footers), and how they write Parquet files of their
own: as the recorder writes them, so that a bench over copies of a
recording reads what a recording holds."""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(ROOT, "target/bench-traces-v2")


def recorder_writer(where, schema, page_index=True):
    """A pyarrow writer with `schema::files::writer_properties`' settings:
    zstd 3 (the recorder's default), `ts` delta-packed without dictionary,
    pages of at most 20k rows (parquet-rs's default), page statistics and
    checksums, sorted by `ts`. pyarrow's own defaults (a dictionary for
    `ts`, falling back to plain values, 1 MB pages) made each copy's `ts`
    one 392 kB page where the recorder writes 99 kB in two. Without
    `page_index` for files that get bytes of their own after the rows
    (rollups): pyarrow counts its offsets itself, so the page index it
    writes after them would be misplaced."""
    import pyarrow.parquet as pq
    names = [f.name for f in schema]
    return pq.ParquetWriter(
        where, schema, compression="zstd", compression_level=3,
        use_dictionary=[n for n in names if n != "ts"],
        column_encoding={"ts": "DELTA_BINARY_PACKED"} if "ts" in names else None,
        max_rows_per_page=20_000, write_page_index=page_index, write_page_checksum=True,
        sorting_columns=[pq.SortingColumn(names.index("ts"))] if "ts" in names else None)

//! How far a live round vouches that the stream is complete: no record
//! stamped before its watermark is still to come. A BPF program stamps
//! its record's time, then reserves the record in the ring, then commits
//! it; the reader takes records in reservation order and stops at the
//! first one reserved and not yet committed. Between the stamp and the
//! commit a program can be preempted (syscall tracepoints are faultable
//! on this kernel) or its virtual CPU stalled by the host, for as long as
//! the scheduler likes, so no fixed slack is safe. Two facts make it
//! exact instead: the programs mark themselves in progress per CPU
//! (bpf/retap.bpf.c `live_marks`), and the ring's positions say whether
//! every record reserved before the round began was taken.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{bail, Result};

/// A round cut short by its record limit trails its latest stamp by this
/// much: what is left in the ring was reserved after what was taken and
/// stamped, as a rule, within moments of it. It is a rule, not a bound;
/// such a round comes only while the ring is never empty, and the next
/// round that empties it is exact again.
pub const CUT_SHORT_SLACK_NS: i64 = 10_000_000;

/// What one round saw, in the order it must be read: the clock, then
/// the marks, then the producer's position, then the records, then the
/// consumer's position.
#[derive(Clone, Copy, Debug)]
pub struct Round {
    pub clock: i64,
    /// When the oldest program in progress began (None: none was).
    pub oldest_in_progress: Option<i64>,
    /// The ring's producer position before the records were taken.
    pub producer_before: u64,
    /// The ring's consumer position after.
    pub consumer_after: u64,
    /// Whether the round stopped at its record limit.
    pub cut_short: bool,
    /// The latest time among the records taken so far.
    pub latest_ts: i64,
}

/// The round's watermark, or None when it vouches for nothing new.
///
/// A record stamped before `clock` and not taken this round was either
/// reserved before `producer_before` was read (then taken, unless the
/// round was cut short or stopped at a record not yet committed, which
/// `consumer_after` tells), or reserved after: then its program was in
/// progress when the marks were read, having stamped before `clock` and
/// reserved after, and its mark is at or before its stamp.
pub fn vouched(r: Round) -> Option<i64> {
    let held = |t: i64| Some(r.oldest_in_progress.map_or(t, |o| o.min(t)));
    if r.cut_short {
        held(r.latest_ts.saturating_sub(CUT_SHORT_SLACK_NS))
    } else if r.consumer_after >= r.producer_before {
        held(r.clock)
    } else {
        None
    }
}

/// The ring buffer's producer and consumer positions, read from its own
/// pages (libbpf-rs keeps libbpf's ring to itself): the first page holds
/// the consumer's position, the next the producer's, both `unsigned long`.
pub struct RingPositions {
    base: *mut libc::c_void,
    page: usize,
}

impl RingPositions {
    pub fn map(ring: BorrowedFd) -> Result<Self> {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        // SAFETY: a read-only shared mapping of the ring map's first two
        // pages, which the kernel allows to anyone holding its fd; it is
        // unmapped in Drop and only read through atomics.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                2 * page,
                libc::PROT_READ,
                libc::MAP_SHARED,
                ring.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            bail!(
                "mapping the ring buffer's positions: {}",
                std::io::Error::last_os_error()
            );
        }
        Ok(RingPositions { base, page })
    }

    fn at(&self, offset: usize) -> u64 {
        // SAFETY: `offset` is 0 or one page into the live mapping; the
        // kernel and libbpf write these words atomically.
        let w = unsafe { &*(self.base.cast::<u8>().add(offset) as *const AtomicU64) };
        w.load(Ordering::Acquire)
    }

    pub fn consumer(&self) -> u64 {
        self.at(0)
    }

    pub fn producer(&self) -> u64 {
        self.at(self.page)
    }
}

impl Drop for RingPositions {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what `map` mapped.
        unsafe { libc::munmap(self.base, 2 * self.page) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round() -> Round {
        Round {
            clock: 1_000_000_000,
            oldest_in_progress: None,
            producer_before: 4096,
            consumer_after: 4096,
            cut_short: false,
            latest_ts: 990_000_000,
        }
    }

    #[test]
    fn an_emptied_ring_with_nothing_in_progress_vouches_for_the_clock() {
        assert_eq!(vouched(round()), Some(1_000_000_000));
    }

    #[test]
    fn a_program_in_progress_holds_the_watermark_at_its_start() {
        // Preempted between its stamp and its commit, however long ago.
        let r = Round {
            oldest_in_progress: Some(400_000_000),
            ..round()
        };
        assert_eq!(vouched(r), Some(400_000_000));
    }

    #[test]
    fn a_record_reserved_and_not_committed_vouches_for_nothing_new() {
        // Records committed after it wait behind it, stamped at any time.
        let r = Round {
            consumer_after: 2048,
            ..round()
        };
        assert_eq!(vouched(r), None);
    }

    #[test]
    fn records_reserved_after_the_round_began_need_not_be_taken() {
        let r = Round {
            consumer_after: 8192,
            ..round()
        };
        assert_eq!(vouched(r), Some(1_000_000_000));
    }

    #[test]
    fn a_round_cut_short_trails_its_latest_stamp_and_the_marks() {
        let r = Round {
            cut_short: true,
            consumer_after: 2048,
            ..round()
        };
        assert_eq!(vouched(r), Some(990_000_000 - CUT_SHORT_SLACK_NS));
        let r = Round {
            oldest_in_progress: Some(100),
            ..r
        };
        assert_eq!(vouched(r), Some(100));
    }
}

//! perf_event_open for the CPU sampling timer. libbpf attaches a BPF
//! program to a perf event fd but does not open one; the attr struct is
//! declared here because the libc crate does not carry it.

use std::io;

const PERF_TYPE_SOFTWARE: u32 = 1;
const PERF_COUNT_SW_CPU_CLOCK: u64 = 0;
const ATTR_FLAG_FREQ: u64 = 1 << 10;
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 8;

/// `struct perf_event_attr` up to PERF_ATTR_SIZE_VER8 (136 bytes); fields
/// retap does not set stay zero.
#[repr(C)]
#[derive(Default)]
struct PerfEventAttr {
    type_: u32,
    size: u32,
    config: u64,
    sample_freq: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
    config2: u64,
    branch_sample_type: u64,
    sample_regs_user: u64,
    sample_stack_user: u32,
    clockid: i32,
    sample_regs_intr: u64,
    aux_watermark: u32,
    sample_max_stack: u16,
    reserved2: u16,
    aux_sample_size: u32,
    reserved3: u32,
    sig_data: u64,
    config3: u64,
}

/// Owned perf event fd, closed on drop.
pub struct PerfFd(pub i32);

impl Drop for PerfFd {
    fn drop(&mut self) {
        // SAFETY: we own this fd.
        unsafe { libc::close(self.0) };
    }
}

/// A cpu-clock sampling event at `hz` samples per second on `cpu`, for all
/// processes on it.
pub fn open_cpu_clock(cpu: u32, hz: u64) -> io::Result<PerfFd> {
    let attr = PerfEventAttr {
        type_: PERF_TYPE_SOFTWARE,
        size: std::mem::size_of::<PerfEventAttr>() as u32,
        config: PERF_COUNT_SW_CPU_CLOCK,
        sample_freq: hz,
        flags: ATTR_FLAG_FREQ,
        ..Default::default()
    };
    // SAFETY: attr is a valid perf_event_attr that outlives the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &attr as *const PerfEventAttr,
            -1 as libc::pid_t,
            cpu as libc::c_int,
            -1 as libc::c_int,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(PerfFd(fd as i32))
}

#[cfg(test)]
mod tests {
    #[test]
    fn attr_has_the_kernel_size() {
        assert_eq!(std::mem::size_of::<super::PerfEventAttr>(), 136);
    }
}

//! The running kernel's build configuration, as both halves read it: its
//! CONFIG_HZ (the recorder keeps it in the manifest; live runs and
//! `retap record --for` elaborate `timer.jiffies` with it).

use std::io::Read;

/// The running kernel's CONFIG_HZ, from /proc/config.gz (CONFIG_IKCONFIG_PROC)
/// or /boot/config-RELEASE; None when neither can be read.
pub fn hz() -> Option<u32> {
    let mut text = String::new();
    let gz = std::fs::File::open("/proc/config.gz").ok().and_then(|f| {
        flate2::read::GzDecoder::new(f)
            .read_to_string(&mut text)
            .ok()
    });
    if gz.is_none() {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
        text = std::fs::read_to_string(format!("/boot/config-{}", release.trim())).ok()?;
    }
    config_hz(&text)
}

/// CONFIG_HZ's value in a kernel build configuration.
fn config_hz(config: &str) -> Option<u32> {
    config
        .lines()
        .find_map(|l| l.strip_prefix("CONFIG_HZ="))
        .and_then(|v| v.trim().parse().ok())
        .filter(|&hz| hz > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hz_is_read_from_the_build_configuration() {
        let cfg =
            "# CONFIG_HZ_100 is not set\nCONFIG_HZ_250=y\nCONFIG_HZ=250\nCONFIG_HZ_PERIODIC=y\n";
        assert_eq!(config_hz(cfg), Some(250));
        assert_eq!(config_hz("CONFIG_HZ_1000=y\n"), None);
        assert_eq!(config_hz("CONFIG_HZ=0\n"), None);
        // Where this kernel has /proc/config.gz (the CI machine's does):
        // the value it states, as zcat reads it.
        if let Ok(out) = std::process::Command::new("sh")
            .args(["-c", "zcat /proc/config.gz | grep '^CONFIG_HZ='"])
            .output()
        {
            let want = String::from_utf8_lossy(&out.stdout);
            if let Some(v) = want.trim().strip_prefix("CONFIG_HZ=") {
                assert_eq!(hz(), v.parse().ok());
            }
        }
    }
}

//! vendor/parquet replaces the registry's parquet only while Cargo.lock
//! resolves parquet to that exact version: after a dependency bump Cargo
//! would use the registry's crate and only warn ("patch not used"),
//! silently dropping the changes. This test makes that a failure.

use std::path::Path;

/// Why `lock` does not build vendor/parquet at `version`, if it does not.
fn vendored_parquet_is_built(lock: &str, version: &str) -> Result<(), String> {
    if lock.contains("[[patch.unused]]") {
        return Err("Cargo.lock lists an unused patch: vendor/ no longer applies".into());
    }
    let parquets: Vec<&str> = lock
        .split("[[package]]")
        .filter(|p| p.contains("\nname = \"parquet\"\n"))
        .collect();
    match parquets.as_slice() {
        // (A path dependency has no source line.)
        [p] if p.contains(&format!("\nversion = \"{version}\"\n"))
            && !p.contains("\nsource = ") =>
        {
            Ok(())
        }
        _ => Err(format!(
            "Cargo.lock's parquet is not vendor/parquet {version}: {parquets:?}"
        )),
    }
}

#[test]
fn the_vendored_parquet_is_the_one_built() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).expect("Cargo.lock");
    let vendored = std::fs::read_to_string(root.join("vendor/parquet/Cargo.toml")).unwrap();
    let version = vendored
        .lines()
        .skip_while(|l| l.trim() != "[package]")
        .find_map(|l| l.strip_prefix("version = "))
        .expect("vendor/parquet's version")
        .trim_matches('"');
    if let Err(e) = vendored_parquet_is_built(&lock, version) {
        panic!("{e} (see vendor/README.md)");
    }
    // Each change is also kept as a patch against the published crate.
    let patches = std::fs::read_dir(root.join("vendor/patches"))
        .expect("vendor/patches")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "patch"))
        })
        .count();
    assert!(patches >= 2, "{patches} patches in vendor/patches");
}

/// What `cargo generate-lockfile` wrote after the workspace asked for
/// parquet =59.3.1 (tried by hand): the registry's crate, the patch unused.
#[test]
fn a_bump_past_the_vendored_version_is_caught() {
    let bumped = "[[package]]\nname = \"parquet\"\nversion = \"59.3.1\"\n\
                  source = \"registry+https://github.com/rust-lang/crates.io-index\"\n\n\
                  [[patch.unused]]\nname = \"parquet\"\nversion = \"59.3.2\"\n";
    assert!(vendored_parquet_is_built(bumped, "59.3.2").is_err());
    let registry = "[[package]]\nname = \"parquet\"\nversion = \"59.3.2\"\n\
                    source = \"registry+https://github.com/rust-lang/crates.io-index\"\n";
    assert!(vendored_parquet_is_built(registry, "59.3.2").is_err());
    let vendored = "[[package]]\nname = \"parquet\"\nversion = \"59.3.2\"\ndependencies = [\n";
    assert!(vendored_parquet_is_built(vendored, "59.3.2").is_ok());
}

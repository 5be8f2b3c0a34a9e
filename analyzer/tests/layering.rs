//! The arrows between the analyzer's parts point one way, and this test
//! holds them: the interpreter (`runtime`), the reference semantics, knows
//! nothing of plans or of the query engine; the engine (DataFusion glue)
//! knows nothing of stap scripts or plans; the front end (`stap`) knows
//! nothing of what runs its output; reading files from object stores
//! (`store`) knows nothing of what reads them. A `use crate::plan` in the interpreter
//! fails here, naming the file and line.

use std::path::Path;

/// (module directory, the crate modules and crates it must not name)
const RULES: &[(&str, &[&str])] = &[
    (
        "runtime",
        &[
            "crate::plan",
            "crate::engine",
            "crate::sql",
            "crate::diff",
            "crate::run",
            "datafusion",
        ],
    ),
    (
        "engine",
        &[
            "crate::plan",
            "crate::stap",
            "crate::sql",
            "crate::diff",
            "crate::run",
        ],
    ),
    (
        "stap",
        &[
            "crate::runtime",
            "crate::plan",
            "crate::engine",
            "crate::sql",
            "crate::diff",
            "crate::run",
            "datafusion",
        ],
    ),
    ("plan", &["crate::sql", "crate::diff", "crate::run"]),
    (
        "store",
        &[
            "crate::runtime",
            "crate::plan",
            "crate::engine",
            "crate::stap",
            "crate::sql",
            "crate::diff",
            "crate::run",
            "datafusion",
        ],
    ),
];

/// Whether `code` names the path `bad` itself (not a longer name that
/// starts like it: `crate::run` is not `crate::runtime`).
fn names(code: &str, bad: &str) -> bool {
    code.match_indices(bad).any(|(i, _)| {
        let before = code[..i].chars().next_back();
        let after = code[i + bad.len()..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
            && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn dependencies_point_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut broken = vec![];
    let mut checked = 0;
    for (module, forbidden) in RULES {
        let mut files = vec![];
        rust_files(&src.join(module), &mut files);
        assert!(!files.is_empty(), "no files under src/{module}");
        for f in files {
            checked += 1;
            let text = std::fs::read_to_string(&f).unwrap();
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for bad in *forbidden {
                    if names(code, bad) {
                        broken.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
                    }
                }
            }
        }
    }
    assert!(checked > 40, "{checked} files");
    assert!(
        broken.is_empty(),
        "arrows pointing the wrong way:\n{}",
        broken.join("\n")
    );
}

/// The interpreter, the plans and the engine name trace columns only
/// through `retap_schema::Column`, so a column renamed in the format is
/// renamed for them or fails to compile. This holds them to it: a string
/// literal naming a column (`col("dur_ns")`) outside tests fails here.
#[test]
fn columns_are_named_through_the_schema() {
    use retap_schema::Column;
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![];
    for module in ["plan", "runtime", "engine"] {
        rust_files(&src.join(module), &mut files);
    }
    let mut literals = 0;
    let mut spelled = vec![];
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        // Tests may spell names: they hold the format to them.
        let code = text.split("#[cfg(test)]").next().unwrap();
        for (n, line) in code.lines().enumerate() {
            let line = line.split("//").next().unwrap_or("");
            for lit in line.split('"').skip(1).step_by(2) {
                literals += 1;
                if Column::from_name(lit).is_some() {
                    spelled.push(format!("{}:{}: \"{lit}\"", f.display(), n + 1));
                }
            }
        }
    }
    assert!(literals > 100, "{literals} string literals");
    assert!(
        spelled.is_empty(),
        "columns spelled as strings, not as retap_schema::Column:\n{}",
        spelled.join("\n")
    );
}

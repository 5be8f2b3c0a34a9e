//! The arrows between the analyzer's parts point one way, and this test
//! holds them: the interpreter (`runtime`), the reference semantics, knows
//! nothing of plans or of the query engine; the engine (DataFusion glue)
//! knows nothing of stap scripts or plans; the front end (`stap`) knows
//! nothing of what runs its output. A `use crate::plan` in the interpreter
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

/// The columns plans name as literals (`col("dur_ns")`) are the format's
/// (schema's tables): a column renamed in the format and not in a plan
/// would fail only when a script reached that plan.
#[test]
fn columns_plans_name_are_the_formats() {
    use retap_schema::Table;
    let known = Table::all_column_names();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/plan");
    let mut files = vec![];
    rust_files(&src, &mut files);
    let mut seen = 0;
    let mut unknown = vec![];
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for (n, line) in text.lines().enumerate() {
            for call in ["col(\"", "int_col(\""] {
                for (i, _) in line.match_indices(call) {
                    let rest = &line[i + call.len()..];
                    let name = &rest[..rest.find('"').unwrap()];
                    seen += 1;
                    if !known.contains(name) {
                        unknown.push(format!("{}:{}: {name}", f.display(), n + 1));
                    }
                }
            }
        }
    }
    assert!(seen >= 20, "{seen} column literals");
    assert!(
        unknown.is_empty(),
        "not columns of the format:\n{}",
        unknown.join("\n")
    );
}

use super::*;
use crate::stap::elaborate::catalog::Family;
use crate::stap::elaborate::{context, elaborate, ElabOptions};

fn env(args: &[&str]) -> PpEnv {
    PpEnv {
        macros: Default::default(),
        kernel_release: "6.18.0".into(),
        arch: "x86_64".into(),
        args: args.iter().map(|s| s.to_string()).collect(),
    }
}

/// Links `text` against `lib` and elaborates it: (files linked, pass 2's
/// errors rendered).
fn linked(text: &str, lib: &Library, args: &[&str]) -> (Vec<String>, String) {
    let env = env(args);
    let (mut parsed, diags) = crate::stap::parse("t.stp", text, &env);
    assert!(diags.is_empty(), "{diags:?}");
    let files = match link(&mut parsed, lib, &env) {
        Ok(f) => f,
        Err(d) => return (vec![], crate::stap::source::render_all(&d, &parsed.map)),
    };
    let opts = ElabOptions::no_trace("x86_64");
    let (_, errors, _) = elaborate(&parsed.script, &opts);
    (files, crate::stap::source::render_all(&errors, &parsed.map))
}

fn built_in_only() -> Library {
    Library::new(&[]).unwrap()
}

#[test]
fn the_built_in_files_parse_and_redefine_no_native() {
    let files = built_in();
    assert_eq!(files.len(), BUILT_IN.len());
    for f in files {
        // Indexed by a token scan: it must find what the parse finds.
        let parsed = LibraryFile::new(f.name.clone(), f.text.clone())
            .unwrap_or_else(|e| panic!("the built-in library does not parse:\n{e}"));
        let sorted = |s: &HashSet<String>| {
            let mut v: Vec<String> = s.iter().cloned().collect();
            v.sort();
            v
        };
        assert_eq!(
            sorted(&f.defines.functions),
            sorted(&parsed.defines.functions),
            "{}",
            f.name
        );
        assert_eq!(
            sorted(&f.defines.globals),
            sorted(&parsed.defines.globals),
            "{}",
            f.name
        );
        assert_eq!(
            sorted(&f.defines.aliases),
            sorted(&parsed.defines.aliases),
            "{}",
            f.name
        );
        for name in &f.defines.functions {
            assert!(
                tapset::lookup(name).is_none() && !tapset::is_print_family(name),
                "{} redefines the native {name}()",
                f.name
            );
        }
    }
}

/// A library global named like a context variable would take its place
/// (globals resolve first) in every script that reads that variable.
#[test]
fn no_library_global_shadows_a_context_variable() {
    let families = [
        Family::Syscall { ret: true },
        Family::SyscallAny { ret: true },
        Family::NetReceive,
        Family::BlockRequest,
        Family::ProcExec,
        Family::Profile,
    ];
    for f in built_in() {
        for g in &f.defines.globals {
            for fam in families {
                assert!(
                    !context::names(fam).contains(&g.as_str()),
                    "{}: global {g} is a context variable of {fam:?}",
                    f.name
                );
            }
        }
    }
}

#[test]
fn what_a_script_uses_and_does_not_define_is_linked() {
    let lib = built_in_only();
    let (files, errors) = linked("probe oneshot { println(\"hi\") }", &lib, &[]);
    assert_eq!(files, ["<tapset>/oneshot.stp"]);
    assert_eq!(errors, "");
    // Functions, in turn what they call (ansi_reset_color calls the
    // three-argument ansi_set_color of the same file).
    let (files, errors) = linked("probe begin { ansi_reset_color() }", &lib, &[]);
    assert_eq!(
        (files, errors.as_str()),
        (vec!["<tapset>/ansi.stp".into()], "")
    );
    // Globals: argv and argc, filled from the script's arguments.
    let (files, errors) = linked(
        "probe begin { printf(\"%d %s %s\\n\", argc, argv[1], argv_2) }",
        &lib,
        &["a", "b"],
    );
    assert_eq!(
        (files, errors.as_str()),
        (vec!["<tapset>/argv.stp".into()], "")
    );
    // Several files; private helpers come with their file.
    let (files, errors) = linked(
        "probe begin { start_stopwatch(\"x\"); println(thread_indent(1)) }",
        &lib,
        &[],
    );
    assert_eq!(
        (files, errors.as_str()),
        (
            vec![
                "<tapset>/indent.stp".into(),
                "<tapset>/stopwatch.stp".into()
            ],
            ""
        )
    );
}

#[test]
fn what_the_script_defines_or_assigns_is_not_linked() {
    let lib = built_in_only();
    // Its own function of that name.
    let (files, errors) = linked(
        "function indent(n) { return n } probe begin { println(indent(2)) }",
        &lib,
        &[],
    );
    assert_eq!((files, errors.as_str()), (vec![], ""));
    // A local it assigns, its own global, a context variable.
    let (files, _) = linked(
        "global argc probe begin { argv_1 = 3; println(argv_1 + argc) }",
        &lib,
        &[],
    );
    assert!(files.is_empty(), "{files:?}");
    // Natives and nothing unknown: nothing to link, and unknown names are
    // still pass 2's errors.
    let (files, errors) = linked("probe begin { println(nosuch(1)) }", &lib, &[]);
    assert!(files.is_empty());
    assert!(errors.contains("unresolved function 'nosuch'"), "{errors}");
}

#[test]
fn include_directories_come_first_and_their_errors_point_into_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mine.stp"),
        "function double(x) { return 2 * x }\nfunction ansi_new_line() { print(\"|\\n\") }\n",
    )
    .unwrap();
    let lib = Library::new(&[dir.path().to_path_buf()]).unwrap();
    let (files, errors) = linked(
        "probe begin { println(double(4)); ansi_new_line() }",
        &lib,
        &[],
    );
    let mine = dir.path().join("mine.stp").display().to_string();
    assert_eq!((files, errors.as_str()), (vec![mine.clone()], ""));

    std::fs::write(dir.path().join("bad.stp"), "function broken( { }\n").unwrap();
    let err = Library::new(&[dir.path().to_path_buf()]).unwrap_err();
    let bad = dir.path().join("bad.stp").display().to_string();
    assert!(err.contains(&format!("{bad}:1:")), "{err}");

    let missing = dir.path().join("nope");
    let err = Library::new(std::slice::from_ref(&missing)).err().unwrap();
    assert!(
        err.starts_with(&format!(
            "-I {}: cannot read the directory",
            missing.display()
        )),
        "{err}"
    );
}

//! Macro libraries (`.stpm`): `@define`s any script may use without
//! defining them, as stap's tapset macros (`@prometheus_dump_array1`,
//! `@json_output_data_start`). Pass 1's preprocessor loads a file the
//! first time a script names a macro it defines and does not define
//! itself; the file's text joins the program's source map, so
//! diagnostics point into it and `-p2 -v` can say it was used.

use std::sync::{Arc, OnceLock};

use super::super::lexer::{lex, TokKind};

/// The macro files built into retap: (name, text).
const BUILT_IN: &[(&str, &str)] = tapset_files![
    "json.stpm",
    "print_stats.stpm",
    "prometheus.stpm",
    "sizeof.stpm",
];

/// One `.stpm` file and the macro names it defines.
#[derive(Debug)]
pub struct MacroFile {
    /// `<tapset>/x.stpm` for a built-in file, the path for `-I`'s.
    pub name: String,
    pub text: String,
    pub defines: Vec<String>,
}

impl MacroFile {
    pub fn new(name: String, text: String) -> MacroFile {
        let toks = lex(0, &text, &mut vec![]);
        let defines = toks
            .windows(2)
            .filter(|w| w[0].is_ident("@define") && w[1].kind == TokKind::Ident)
            .map(|w| w[1].text.clone())
            .collect();
        MacroFile {
            name,
            text,
            defines,
        }
    }
}

/// The macro files a run may load: `-I` directories' first, then the
/// built-in ones. Cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct MacroLibrary {
    files: Arc<Vec<MacroFile>>,
}

impl Default for MacroLibrary {
    /// The built-in files only.
    fn default() -> Self {
        static BUILT: OnceLock<MacroLibrary> = OnceLock::new();
        BUILT
            .get_or_init(|| MacroLibrary {
                files: Arc::new(
                    BUILT_IN
                        .iter()
                        .map(|(n, t)| MacroFile::new(format!("<tapset>/{n}"), t.to_string()))
                        .collect(),
                ),
            })
            .clone()
    }
}

impl MacroLibrary {
    /// `extra` (searched first) and the built-in files.
    pub fn with(extra: Vec<MacroFile>) -> MacroLibrary {
        if extra.is_empty() {
            return MacroLibrary::default();
        }
        let built = MacroLibrary::default();
        let files = extra
            .into_iter()
            .chain(built.files.iter().map(|f| MacroFile {
                name: f.name.clone(),
                text: f.text.clone(),
                defines: f.defines.clone(),
            }))
            .collect();
        MacroLibrary {
            files: Arc::new(files),
        }
    }

    /// The file that defines `name`, by its index, first in search order.
    pub fn find(&self, name: &str) -> Option<(usize, &MacroFile)> {
        self.files
            .iter()
            .enumerate()
            .find(|(_, f)| f.defines.iter().any(|d| d == name))
    }

    pub fn files(&self) -> &[MacroFile] {
        &self.files
    }
}

/// Whether a source-map file name is a macro library's (for `-v`).
pub fn is_macro_file(name: &str) -> bool {
    name.ends_with(".stpm")
}

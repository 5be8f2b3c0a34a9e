//! What only a person at a terminal sees: the SQL shell's line editor and
//! `retap diff`'s progress bar. The library reports; this draws.

use std::sync::Arc;

use retap_analyzer::diff::Progress;
use retap_analyzer::sql::shell::{Control, Shell};

/// The interactive shell on a terminal: line editing, history in
/// ~/.retap_history, Ctrl-C drops the statement being typed, Ctrl-D leaves.
pub fn sql_shell(shell: &mut Shell) -> Result<(), String> {
    use rustyline::error::ReadlineError;
    let mut rl = rustyline::DefaultEditor::new().map_err(|e| e.to_string())?;
    let history =
        std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".retap_history"));
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
    let names: Vec<&str> = shell.sess.traces.iter().map(|(n, _)| n.as_str()).collect();
    println!(
        "retap sql over {} — statements end with ';', .help for commands, Ctrl-D to leave",
        names.join(", ")
    );
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    loop {
        let prompt = if shell.in_statement() {
            "   ...> "
        } else {
            "retap> "
        };
        match rl.readline(prompt) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = rl.add_history_entry(line.as_str());
                }
                if let Control::Quit =
                    shell.feed_line(&line, &mut stdout.lock(), &mut stderr.lock())
                {
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => shell.reset(),
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.to_string()),
        }
    }
    if let Some(h) = &history {
        let _ = rl.save_history(h);
    }
    Ok(())
}

/// `retap diff`'s scan as a bar on stderr, gone when the scan ends.
pub struct Bar(indicatif::ProgressBar);

impl Bar {
    pub fn new() -> Arc<Bar> {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} scanning {human_pos}/{human_len} events [{bar:30}] {percent}%",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        Arc::new(Bar(b))
    }
}

impl Progress for Bar {
    fn start(&self, rows: u64) {
        self.0.set_length(rows);
    }
    fn advance(&self, rows: u64) {
        self.0.inc(rows);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

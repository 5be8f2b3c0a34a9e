//! The statement loop shared by the interactive shell, `-f FILE`, piped
//! input and the SQL given on the command line: statements end at `;`,
//! lines starting with `.` are shell commands, and an error is reported
//! and the session goes on.

use std::io::Write;
use std::time::Instant;

use super::render::{self, Format};
use super::split::split;
use super::{SqlError, SqlSession};

pub struct Shell<'s> {
    pub sess: &'s SqlSession,
    pub format: Format,
    /// Rows shown by the table format before it elides (0: all).
    pub max_rows: usize,
    pub timer: bool,
    /// Where `--format parquet` writes (also used by -o for other formats).
    pub output: Option<std::path::PathBuf>,
    pending: String,
    /// Statements that failed.
    pub errors: usize,
}

pub enum Control {
    Continue,
    Quit,
}

const HELP: &str = "\
.tables            list the tables (and the traces they come from)
.schema TABLE      columns, types and nullability of TABLE
.format FORMAT     table, csv or json
.maxrows N         rows the table format shows before eliding (0: all)
.timer on|off      print each statement's run time
.help              this text
.quit              leave (also Ctrl-D)
SQL statements end with ';' and may span lines. Helpers: errno_str(ret),
hist_log_bucket(v), syscall_name(nr), wall_time(ts), trace_secs(ts).
";

impl<'s> Shell<'s> {
    pub fn new(sess: &'s SqlSession, format: Format, max_rows: usize) -> Shell<'s> {
        Shell {
            sess,
            format,
            max_rows,
            timer: false,
            output: None,
            pending: String::new(),
            errors: 0,
        }
    }

    /// True while a statement has begun but not ended.
    pub fn in_statement(&self) -> bool {
        !self.pending.trim().is_empty()
    }

    /// Forgets a half-typed statement (Ctrl-C).
    pub fn reset(&mut self) {
        self.pending.clear();
    }

    /// One line of input. Finished statements run as soon as their `;` arrives.
    pub fn feed_line(&mut self, line: &str, out: &mut dyn Write, err: &mut dyn Write) -> Control {
        if !self.in_statement() && line.trim_start().starts_with('.') {
            return self.dot(line.trim(), out, err);
        }
        self.pending.push_str(line);
        self.pending.push('\n');
        let (stmts, rest) = split(&self.pending);
        self.pending = rest;
        for s in stmts {
            self.statement(&s, out, err);
        }
        Control::Continue
    }

    /// End of input: a last statement without `;` still runs.
    pub fn finish(&mut self, out: &mut dyn Write, err: &mut dyn Write) {
        let rest = std::mem::take(&mut self.pending);
        if !rest.trim().is_empty() {
            self.statement(rest.trim(), out, err);
        }
    }

    /// Runs every statement in `text`.
    pub fn run_text(&mut self, text: &str, out: &mut dyn Write, err: &mut dyn Write) {
        for line in text.lines() {
            if let Control::Quit = self.feed_line(line, out, err) {
                return;
            }
        }
        self.finish(out, err);
    }

    fn statement(&mut self, sql: &str, out: &mut dyn Write, err: &mut dyn Write) {
        let t0 = Instant::now();
        let r = self
            .sess
            .query(sql)
            .and_then(|r| match (self.format, &self.output) {
                (Format::Parquet, Some(p)) => render::parquet(&r, p),
                (Format::Parquet, None) => Err(SqlError::Usage(
                    "--format parquet writes a file: give it with -o FILE".into(),
                )),
                (f, Some(p)) => {
                    let mut file = std::fs::File::create(p)
                        .map_err(|e| SqlError::Output(format!("{}: {e}", p.display())))?;
                    write_result(&r, f, self.max_rows, &mut file)
                }
                (f, None) => write_result(&r, f, self.max_rows, out),
            });
        if let Err(e) = r {
            self.errors += 1;
            let _ = writeln!(err, "Error: {e}");
        }
        if self.timer {
            let _ = writeln!(out, "Run Time (s): real {:.3}", t0.elapsed().as_secs_f64());
        }
        let _ = out.flush();
    }

    fn dot(&mut self, cmd: &str, out: &mut dyn Write, err: &mut dyn Write) -> Control {
        let mut words = cmd.split_whitespace();
        let name = words.next().unwrap_or("");
        let arg = words.next();
        let usage = |s: String| Err(SqlError::Usage(s));
        let r: Result<(), SqlError> = match (name, arg) {
            (".quit" | ".exit" | ".q", _) => return Control::Quit,
            (".help", _) => out.write_all(HELP.as_bytes()).map_err(output),
            (".tables", _) => {
                let mut names = self.sess.table_names();
                names.sort();
                writeln!(out, "{}", names.join("  ")).map_err(output)
            }
            (".schema", Some(t)) => match self.sess.describe(t) {
                Ok(r) => write_result(&r, self.format_for_text(), 0, out),
                Err(e) => Err(e),
            },
            (".format" | ".mode", Some(f)) => match Format::parse(f) {
                Ok(Format::Parquet) => {
                    usage(".format parquet needs a file: use retap sql -o".into())
                }
                Ok(f) => {
                    self.format = f;
                    Ok(())
                }
                Err(e) => Err(e),
            },
            (".maxrows", Some(n)) => match n.parse() {
                Ok(n) => {
                    self.max_rows = n;
                    Ok(())
                }
                Err(_) => usage(format!(".maxrows takes a number, not {n:?}")),
            },
            (".timer", Some("on")) => {
                self.timer = true;
                Ok(())
            }
            (".timer", Some("off")) => {
                self.timer = false;
                Ok(())
            }
            (".schema" | ".format" | ".mode" | ".maxrows" | ".timer", _) => {
                usage(format!("{name} needs an argument (.help lists them)"))
            }
            _ => usage(format!("unknown command {name} (.help lists them)")),
        };
        if let Err(e) = r {
            self.errors += 1;
            let _ = writeln!(err, "Error: {e}");
        }
        let _ = out.flush();
        Control::Continue
    }

    fn format_for_text(&self) -> Format {
        match self.format {
            Format::Parquet => Format::Table,
            f => f,
        }
    }
}

pub fn write_result(
    r: &super::QueryResult,
    f: Format,
    max_rows: usize,
    out: &mut dyn Write,
) -> Result<(), SqlError> {
    match f {
        Format::Table => {
            let s = render::table(r, max_rows)?;
            out.write_all(s.as_bytes()).map_err(output)
        }
        Format::Csv => render::csv(r, out),
        Format::Json => render::json(r, out),
        Format::Parquet => Err(SqlError::Usage("parquet results go to a file (-o)".into())),
    }
}

fn output(e: std::io::Error) -> SqlError {
    SqlError::Output(e.to_string())
}

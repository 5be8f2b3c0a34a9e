//! User-space probes (uprobes and USDT marks) as a recording names them.
//! One description serves the recorder (its `--uprobe` option, what it
//! attaches), the manifest (which probes a trace holds) and the analyzer
//! (which rows a script's `process(...)` point takes: the `probe` column
//! holds [`Uprobe::probe`]).

use serde::{Deserialize, Serialize};

/// What a user-space probe fires on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UprobeKind {
    /// Function entry: the argument registers.
    Function,
    /// Function return: the return value, the time since entry, and the
    /// argument registers as they were at entry (paired in the kernel).
    Return,
    /// A USDT (SDT) mark: its arguments, decoded from the note's specs.
    Mark,
}

impl UprobeKind {
    pub fn name(self) -> &'static str {
        match self {
            UprobeKind::Function => "function",
            UprobeKind::Return => "return",
            UprobeKind::Mark => "mark",
        }
    }
}

/// Which user string a probe records with each firing (`user_string` of
/// an argument or of the return value, read where the probe fires).
pub const STRING_OF_RETURN: u8 = 0;
/// The most arguments a row holds: a function's six registers, or a
/// mark's arguments (stap's limit too).
pub const MAX_ARGS: usize = 12;

/// One user-space probe of a recording.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Uprobe {
    pub kind: UprobeKind,
    /// The binary or library, absolute, as attached.
    pub path: String,
    /// The function, or the mark's name.
    pub name: String,
    /// A mark's provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The user string kept with each firing: argument N (1-6) or, with
    /// [`STRING_OF_RETURN`], the return value, read as a C string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string: Option<u8>,
    /// The 8 bytes of user memory kept with each firing (`user_long` and
    /// kin): at argument N (1-6) or, with [`STRING_OF_RETURN`], at the
    /// return value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub word: Option<u8>,
    /// Each firing also keeps the user stack (the `ustack` column).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stack: bool,
}

impl Uprobe {
    /// The `probe` column's value for this probe's rows: stap's pp() of it.
    pub fn probe(&self) -> String {
        let p = &self.path;
        let n = &self.name;
        match (self.kind, &self.provider) {
            (UprobeKind::Function, _) => format!("process(\"{p}\").function(\"{n}\")"),
            (UprobeKind::Return, _) => format!("process(\"{p}\").function(\"{n}\").return"),
            (UprobeKind::Mark, Some(pr)) => {
                format!("process(\"{p}\").provider(\"{pr}\").mark(\"{n}\")")
            }
            (UprobeKind::Mark, None) => format!("process(\"{p}\").mark(\"{n}\")"),
        }
    }

    /// [`Uprobe::probe`]'s text read back (without the string choice,
    /// which the text does not say); None for other text.
    pub fn parse_probe(text: &str) -> Option<Uprobe> {
        let rest = text.strip_prefix("process(\"")?;
        let (path, rest) = rest.split_once("\").")?;
        let quoted = |s: &str, what: &str| -> Option<(String, String)> {
            let r = s.strip_prefix(what)?.strip_prefix("(\"")?;
            let (v, after) = r.split_once("\")")?;
            Some((v.to_string(), after.to_string()))
        };
        let (kind, provider, name) = if let Some((name, after)) = quoted(rest, "function") {
            match after.as_str() {
                "" => (UprobeKind::Function, None, name),
                ".return" => (UprobeKind::Return, None, name),
                _ => return None,
            }
        } else if let Some((provider, after)) = quoted(rest, "provider") {
            let (name, end) = quoted(after.strip_prefix('.')?, "mark")?;
            if !end.is_empty() {
                return None;
            }
            (UprobeKind::Mark, Some(provider), name)
        } else {
            let (name, end) = quoted(rest, "mark")?;
            if !end.is_empty() {
                return None;
            }
            (UprobeKind::Mark, None, name)
        };
        Some(Uprobe {
            kind,
            path: path.to_string(),
            name,
            provider,
            string: None,
            word: None,
            stack: false,
        })
    }

    /// The recorder's `--uprobe` spelling: `function:PATH:NAME`,
    /// `return:PATH:NAME`, `mark:PATH:PROVIDER:NAME`, each optionally
    /// followed by `:string=argN` or `:string=return`, then `:stack`.
    pub fn spec(&self) -> String {
        let mut s = match &self.provider {
            Some(pr) => format!("{}:{}:{pr}:{}", self.kind.name(), self.path, self.name),
            None => format!("{}:{}:{}", self.kind.name(), self.path, self.name),
        };
        for (what, sel) in [("string", self.string), ("long", self.word)] {
            match sel {
                Some(STRING_OF_RETURN) => s.push_str(&format!(":{what}=return")),
                Some(n) => s.push_str(&format!(":{what}=arg{n}")),
                None => {}
            }
        }
        if self.stack {
            s.push_str(":stack");
        }
        s
    }

    /// Reads [`Uprobe::spec`]'s spelling; the error says what is wrong.
    pub fn parse_spec(spec: &str) -> Result<Uprobe, String> {
        let mut parts: Vec<&str> = spec.split(':').collect();
        let stack = parts.last() == Some(&"stack");
        if stack {
            parts.pop();
        }
        // `:string=...` then `:long=...`, each optional, read from the end.
        let sel = |key: &str, parts: &mut Vec<&str>| -> Result<Option<u8>, String> {
            let Some(what) = parts.last().and_then(|l| l.strip_prefix(key)) else {
                return Ok(None);
            };
            let v = match what {
                "return" => STRING_OF_RETURN,
                a => match a.strip_prefix("arg").and_then(|n| n.parse::<u8>().ok()) {
                    Some(n @ 1..=6) => n,
                    _ => return Err(format!("{spec}: {key}{what}: say argN (1-6) or return")),
                },
            };
            parts.pop();
            Ok(Some(v))
        };
        let word = sel("long=", &mut parts)?;
        let string = sel("string=", &mut parts)?;
        let usage = || {
            format!(
                "{spec}: a user probe is function:PATH:NAME, return:PATH:NAME or \
                 mark:PATH:PROVIDER:NAME (optionally :string=argN or :string=return, then \
                 :long=argN or :long=return, then :stack)"
            )
        };
        let (kind, path, provider, name) = match parts.as_slice() {
            ["function", p, n] => (UprobeKind::Function, *p, None, *n),
            ["return", p, n] => (UprobeKind::Return, *p, None, *n),
            ["mark", p, pr, n] => (UprobeKind::Mark, *p, Some(pr.to_string()), *n),
            _ => return Err(usage()),
        };
        if !path.starts_with('/') {
            return Err(format!("{spec}: the binary's path must be absolute"));
        }
        if name.is_empty() || provider.as_deref() == Some("") {
            return Err(usage());
        }
        if (string == Some(STRING_OF_RETURN) || word == Some(STRING_OF_RETURN))
            && kind != UprobeKind::Return
        {
            return Err(format!(
                "{spec}: only a return probe has a return value to read"
            ));
        }
        Ok(Uprobe {
            kind,
            path: path.to_string(),
            name: name.to_string(),
            provider,
            string,
            word,
            stack,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_round_trip_and_name_their_rows_as_stap_does() {
        for s in [
            "function:/bin/bash:readline",
            "return:/bin/bash:readline:string=return",
            "mark:/usr/lib/libc.so.6:libc:setjmp:string=arg2",
            "function:/bin/bash:readline:stack",
            "return:/bin/bash:readline:string=return:stack",
            "function:/bin/x:f:string=arg1:long=arg2",
            "return:/bin/x:f:long=return:stack",
        ] {
            let u = Uprobe::parse_spec(s).unwrap();
            assert_eq!(u.spec(), s);
        }
        let r = Uprobe::parse_spec("return:/bin/bash:readline").unwrap();
        assert_eq!(
            r.probe(),
            "process(\"/bin/bash\").function(\"readline\").return"
        );
        let m = Uprobe::parse_spec("mark:/x:p:m").unwrap();
        assert_eq!(m.probe(), "process(\"/x\").provider(\"p\").mark(\"m\")");
        for u in [&r, &m] {
            let mut plain = u.clone();
            plain.string = None;
            plain.word = None;
            plain.stack = false;
            assert_eq!(Uprobe::parse_probe(&u.probe()), Some(plain));
        }
        assert_eq!(Uprobe::parse_probe("syscall.read"), None);
        assert_eq!(
            Uprobe::parse_probe("process(\"/x\").function(\"f\").call"),
            None
        );
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        for (s, says) in [
            ("function:bash:readline", "absolute"),
            ("entry:/bin/bash:readline", "a user probe is"),
            ("function:/bin/bash:f:string=arg7", "argN (1-6)"),
            ("function:/bin/bash:f:string=return", "only a return probe"),
            ("mark:/x::m", "a user probe is"),
        ] {
            let e = Uprobe::parse_spec(s).unwrap_err();
            assert!(e.contains(says), "{s}: {e}");
        }
    }
}

//! Splitting SQL text into statements at top-level `;`, so that files,
//! `-e`-style strings and the shell can hold several statements. Quotes
//! and comments are respected; what remains after the last `;` is
//! returned as the unfinished rest (the shell keeps reading).

/// Complete statements (without their `;`, trimmed, empty ones dropped)
/// and the unfinished remainder.
pub fn split(text: &str) -> (Vec<String>, String) {
    let b = text.as_bytes();
    let mut out = vec![];
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"') => {
                i += 1;
                while i < b.len() {
                    if b[i] == q {
                        // a doubled quote is an escaped quote
                        if i + 1 < b.len() && b[i + 1] == q {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            b';' => {
                let stmt = text[start..i].trim();
                if !only_comments(stmt) {
                    out.push(stmt.to_string());
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    let rest = if start < text.len() {
        &text[start..]
    } else {
        ""
    };
    let rest = if only_comments(rest.trim()) { "" } else { rest };
    (out, rest.trim().to_string())
}

/// True when nothing but whitespace and comments is left.
fn only_comments(s: &str) -> bool {
    let mut t = s.trim();
    loop {
        if let Some(r) = t.strip_prefix("--") {
            t = r.split_once('\n').map(|x| x.1).unwrap_or("").trim();
        } else if let Some(r) = t.strip_prefix("/*") {
            t = r.split_once("*/").map(|x| x.1).unwrap_or("").trim();
        } else {
            return t.is_empty();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn statements_split_at_top_level_semicolons_only() {
        let (s, rest) = split("select ';' as a; -- x;y\nselect \"a;b\" from t /* ; */ ;select 1");
        assert_eq!(
            s,
            vec!["select ';' as a", "-- x;y\nselect \"a;b\" from t /* ; */"]
        );
        assert_eq!(rest, "select 1");
        let (s, rest) = split("select 'it''s;' ; -- done\n");
        assert_eq!(s, vec!["select 'it''s;'"]);
        assert_eq!(rest, "");
        let (s, rest) = split(";; \n-- only a comment\n;");
        assert!(s.is_empty() && rest.is_empty());
    }
}

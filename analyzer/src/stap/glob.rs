//! Shell-style patterns as stap uses them in probe points and preprocessor
//! conditions: `*`, `?`, `[...]`, and `{a,b}` brace expansion.

/// Does `text` match the glob `pat`?
pub fn matches(pat: &str, text: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let t: Vec<char> = text.chars().collect();
    match_from(&p, &t)
}

fn match_from(p: &[char], t: &[char]) -> bool {
    // Iterative with one backtrack point for the last `*`: linear enough for
    // the short names probe points hold, and no recursion to blow up.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                '[' => {
                    if let Some((ok, next)) = class(&p[pi..], t[ti]) {
                        if ok {
                            pi += next;
                            ti += 1;
                            continue;
                        }
                    } else if t[ti] == '[' {
                        pi += 1;
                        ti += 1;
                        continue;
                    }
                }
                c if c == t[ti] => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, st)) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Matches one character against a `[...]` class at the start of `p`;
/// returns (matched, length of the class) or None if the class is unclosed.
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(1), Some('!') | Some('^'));
    if negate {
        i += 1;
    }
    let mut found = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == ']' && !first {
            return Some((found != negate, i + 1));
        }
        first = false;
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            if p[i] <= c && c <= p[i + 2] {
                found = true;
            }
            i += 3;
        } else {
            if p[i] == c {
                found = true;
            }
            i += 1;
        }
    }
    None
}

pub fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Expands `{a,b}` alternatives (nested too): `sys_{open,close}at` gives
/// `sys_openat`, `sys_closeat`. Unbalanced braces come back unchanged.
pub fn expand_braces(s: &str) -> Vec<String> {
    let b: Vec<char> = s.chars().collect();
    let Some(open) = b.iter().position(|&c| c == '{') else {
        return vec![s.to_string()];
    };
    let mut depth = 0;
    let mut close = None;
    let mut commas = vec![];
    for (i, &c) in b.iter().enumerate().skip(open) {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(i);
                    break;
                }
            }
            ',' if depth == 1 => commas.push(i),
            _ => {}
        }
    }
    let Some(close) = close else {
        return vec![s.to_string()];
    };
    let prefix: String = b[..open].iter().collect();
    let suffix: String = b[close + 1..].iter().collect();
    let mut bounds = vec![open];
    bounds.extend(&commas);
    bounds.push(close);
    let mut out = vec![];
    for w in bounds.windows(2) {
        let alt: String = b[w[0] + 1..w[1]].iter().collect();
        for e in expand_braces(&format!("{prefix}{alt}{suffix}")) {
            out.push(e);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globbing() {
        assert!(matches("*", "read"));
        assert!(matches("read*", "readv"));
        assert!(matches("*at", "openat"));
        assert!(!matches("*at", "open"));
        assert!(matches("s?s_*", "sys_read"));
        assert!(matches("[rw]*", "write"));
        assert!(!matches("[!rw]*", "write"));
        assert!(matches("6.*", "6.18.4"));
        assert!(matches("a*b*c", "aXXbYYc"));
        assert!(!matches("a*b*c", "aXXbYY"));
    }

    #[test]
    fn braces() {
        assert_eq!(expand_braces("{open,openat}"), ["open", "openat"]);
        assert_eq!(expand_braces("x{a,b{c,d}}y"), ["xay", "xbcy", "xbdy"]);
        assert_eq!(expand_braces("plain"), ["plain"]);
    }
}

//! Closeness of names users type (tracepoints to record, symbols in a
//! script), for "did you mean" in both halves; here because it is the one
//! crate both depend on.

/// Levenshtein distance.
pub fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    #[test]
    fn distances() {
        assert_eq!(super::distance("sched_swtich", "sched_switch"), 2);
        assert_eq!(super::distance("", "abc"), 3);
        assert_eq!(super::distance("same", "same"), 0);
    }
}

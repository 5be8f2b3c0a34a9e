//! The syscall signatures a trace carries: the kernel's own names and C
//! types of each syscall's arguments (from its syscall trace events), so
//! that `$fd` reads the right raw argument of the recorded machine. Saved
//! beside the manifest as JSON, `{"read": [["unsigned int", "fd"], ...]}`.

use std::collections::BTreeMap;

/// The file beside `trace.json`.
pub const FILE: &str = "syscall_signatures.json";

/// syscall name → [(C type, argument name)], in argument order.
pub type Signatures = BTreeMap<String, Vec<(String, String)>>;

pub fn to_json(s: &Signatures) -> String {
    serde_json::to_string(s).expect("string maps serialise")
}

/// Parses the file's text; Err says what is wrong with it.
pub fn from_json(text: &str) -> Result<Signatures, String> {
    serde_json::from_str(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let mut s = Signatures::new();
        s.insert(
            "read".into(),
            vec![
                ("unsigned int".into(), "fd".into()),
                ("char *".into(), "buf".into()),
            ],
        );
        let text = to_json(&s);
        assert_eq!(text, r#"{"read":[["unsigned int","fd"],["char *","buf"]]}"#);
        assert_eq!(from_json(&text).unwrap(), s);
        assert!(from_json(&text[..text.len() - 3]).is_err());
        assert!(from_json(r#"{"read":[["int"]]}"#).is_err());
    }
}

//! Which rows of a table a probe point takes, in the format's own terms:
//! a dictionary column holding one of some values, and a column that must
//! be set. The analysis half selects rows only through this description:
//! the interpreter evaluates it per row, plans turn it into a filter, and
//! `retap run -p2` prints it, so the three cannot drift apart.

use std::fmt;

use crate::Column;

/// Rows whose `one_of.0` column holds one of `one_of.1`, and whose
/// `not_null` column is set. The default takes every row.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RowFilter {
    pub one_of: Option<(Column, Vec<String>)>,
    pub not_null: Option<Column>,
}

impl RowFilter {
    /// Rows whose `column` holds one of `values`.
    pub fn one_of(column: Column, values: &[&str]) -> RowFilter {
        RowFilter {
            one_of: Some((column, values.iter().map(|v| v.to_string()).collect())),
            not_null: None,
        }
    }

    /// These rows, of those whose `column` is set too.
    pub fn and_not_null(mut self, column: Option<Column>) -> RowFilter {
        self.not_null = column;
        self
    }
}

/// As SQL: `ret IS NOT NULL AND syscall IN ('read', 'write')`, long lists
/// cut after 8 values. Empty for every row.
impl fmt::Display for RowFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = vec![];
        if let Some(c) = self.not_null {
            parts.push(format!("{c} IS NOT NULL"));
        }
        if let Some((c, values)) = &self.one_of {
            parts.push(match values.as_slice() {
                [v] => format!("{c} = '{v}'"),
                vs => {
                    let shown: Vec<String> = vs.iter().take(8).map(|v| format!("'{v}'")).collect();
                    let more = if vs.len() > 8 {
                        format!(", ... {} more", vs.len() - 8)
                    } else {
                        String::new()
                    };
                    format!("{c} IN ({}{more})", shown.join(", "))
                }
            });
        }
        f.write_str(&parts.join(" AND "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_as_sql() {
        assert_eq!(RowFilter::default().to_string(), "");
        assert_eq!(
            RowFilter::one_of(Column::Syscall, &["read"])
                .and_not_null(Some(Column::Ret))
                .to_string(),
            "ret IS NOT NULL AND syscall = 'read'"
        );
        let many: Vec<String> = (0..10).map(|i| format!("s{i}")).collect();
        let many: Vec<&str> = many.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            RowFilter::one_of(Column::Syscall, &many).to_string(),
            "syscall IN ('s0', 's1', 's2', 's3', 's4', 's5', 's6', 's7', ... 2 more)"
        );
    }
}

//! SQL written once for both backends: text with the few places where SQLite and PostgreSQL
//! differ asked of a [`Dialect`] (placeholders, `MIN` against `LEAST`, reading a field of the
//! JSON body, row locks), the values to bind in order, and what comes back read by column
//! name ([`Record`]): a column that is missing or of another type is an error, never a zero.

use super::{Result, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The smaller of two values: `MIN(a, b)` in SQLite, `LEAST(a, b)` in PostgreSQL.
    pub fn least(self) -> &'static str {
        match self {
            Dialect::Sqlite => "MIN",
            Dialect::Postgres => "LEAST",
        }
    }

    /// The larger of two values: `MAX(a, b)` in SQLite, `GREATEST(a, b)` in PostgreSQL.
    pub fn greatest(self) -> &'static str {
        match self {
            Dialect::Sqlite => "MAX",
            Dialect::Postgres => "GREATEST",
        }
    }

    /// Case-insensitive `LIKE` (SQLite's is, for ASCII).
    pub fn like(self) -> &'static str {
        match self {
            Dialect::Sqlite => "LIKE",
            Dialect::Postgres => "ILIKE",
        }
    }

    /// Locks the rows a `SELECT` reads until the transaction ends; SQLite's one writer needs
    /// none (its transactions begin `IMMEDIATE`).
    pub fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }

    /// A field of the event's JSON body, as text (the expressions the indexes are on).
    pub fn body_field(self, name: &str) -> String {
        match (self, name) {
            (Dialect::Sqlite, "PrimaryKey") => {
                "CAST(json_extract(body, '$.PrimaryKey') AS TEXT)".into()
            }
            (Dialect::Sqlite, _) => format!("json_extract(body, '$.{name}')"),
            (Dialect::Postgres, _) => format!("((COALESCE(doc, body)::jsonb) ->> '{name}')"),
        }
    }
}

/// A value to bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    Int(i64),
    Text(String),
    MaybeInt(Option<i64>),
    MaybeText(Option<String>),
}

/// SQL text and its values, in order.
#[derive(Debug, Clone, Default)]
pub struct Sql {
    pub text: String,
    pub params: Vec<Param>,
}

impl Sql {
    /// A statement written with SQLite's numbered placeholders (`?1`, `?2`…), which
    /// PostgreSQL gets as `$1`, `$2`…
    pub fn fixed(dialect: Dialect, text: &str, params: Vec<Param>) -> Sql {
        let text = match dialect {
            Dialect::Sqlite => text.to_string(),
            Dialect::Postgres => numbered_for_postgres(text),
        };
        Sql { text, params }
    }

    pub(super) fn new(dialect: Dialect, text: &str) -> (Sql, Dialect) {
        (
            Sql {
                text: text.to_string(),
                params: Vec::new(),
            },
            dialect,
        )
    }

    /// Appends text, then a placeholder for `param`.
    pub(super) fn bind(&mut self, dialect: Dialect, text: &str, param: Param) {
        self.text.push_str(text);
        self.params.push(param);
        match dialect {
            Dialect::Sqlite => self.text.push('?'),
            Dialect::Postgres => self.text.push_str(&format!("${}", self.params.len())),
        }
    }

    /// Appends ` (?, ?, …)`: a placeholder for each of `params`.
    pub(super) fn bind_list(&mut self, dialect: Dialect, params: impl IntoIterator<Item = Param>) {
        let mut sep = " (";
        for p in params {
            self.bind(dialect, sep, p);
            sep = ", ";
        }
        self.text.push(')');
    }
}

/// `?N` → `$N`; the statements are herald's own, with no `?` inside a string.
fn numbered_for_postgres(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

/// A column to read, and as what.
#[derive(Debug, Clone, Copy)]
pub enum Col {
    Int(&'static str),
    Text(&'static str),
}

impl Col {
    pub(super) fn name(self) -> &'static str {
        match self {
            Col::Int(n) | Col::Text(n) => n,
        }
    }
}

/// A cell read: an integer or text, or nothing (NULL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Int(Option<i64>),
    Text(Option<String>),
}

/// One row, its cells by column name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record(pub(super) Vec<(&'static str, Cell)>);

impl Record {
    fn cell(&self, name: &str) -> Result<&Cell> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, c)| c)
            .ok_or_else(|| decode(format!("column `{name}` was not read")))
    }

    pub fn opt_int(&self, name: &str) -> Result<Option<i64>> {
        match self.cell(name)? {
            Cell::Int(i) => Ok(*i),
            Cell::Text(_) => Err(decode(format!("column `{name}` is text, not a number"))),
        }
    }

    pub fn int(&self, name: &str) -> Result<i64> {
        self.opt_int(name)?
            .ok_or_else(|| decode(format!("column `{name}` is NULL")))
    }

    pub fn opt_text(&self, name: &str) -> Result<Option<String>> {
        match self.cell(name)? {
            Cell::Text(t) => Ok(t.clone()),
            Cell::Int(_) => Err(decode(format!("column `{name}` is a number, not text"))),
        }
    }

    pub fn text(&self, name: &str) -> Result<String> {
        self.opt_text(name)?
            .ok_or_else(|| decode(format!("column `{name}` is NULL")))
    }
}

fn decode(why: String) -> StoreError {
    StoreError::Decode(why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_placeholders_become_postgres_ones() {
        let sql = Sql::fixed(
            Dialect::Postgres,
            "SELECT a FROM t WHERE b = ?1 AND c < ?12",
            vec![],
        );
        assert_eq!(sql.text, "SELECT a FROM t WHERE b = $1 AND c < $12");
        let same = Sql::fixed(Dialect::Sqlite, "x = ?1", vec![]);
        assert_eq!(same.text, "x = ?1");
    }

    #[test]
    fn a_missing_or_mistyped_column_is_an_error_not_a_zero() {
        let r = Record(vec![("id", Cell::Int(Some(7))), ("name", Cell::Text(None))]);
        assert_eq!(r.int("id").unwrap(), 7);
        assert_eq!(r.opt_text("name").unwrap(), None);
        assert!(r.text("name").is_err());
        assert!(r.int("nope").is_err());
        assert!(r.text("id").is_err());
    }
}

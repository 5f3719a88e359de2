//! What one caller may see unmasked: everything (an admin, or streamq running open), or the
//! personal-data columns its token is granted.

use crate::ident::TableName;
use crate::store::personal::PiiClass;

/// One grant: `<schema>.<table>.<column>` with `*` for any one part, or a class name
/// (`email`) for every column of that class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grant {
    Column([String; 3]),
    Class(PiiClass),
}

impl Grant {
    /// Parses a grant as `streamq token create --grant` takes it.
    pub fn parse(s: &str) -> Result<Grant, String> {
        let s = s.trim().to_ascii_lowercase();
        if let Some(class) = PiiClass::parse(&s) {
            return Ok(Grant::Class(class));
        }
        let parts: Vec<&str> = s.split('.').collect();
        match parts.as_slice() {
            [a, b, c] if parts.iter().all(|p| !p.is_empty()) => {
                Ok(Grant::Column([a.to_string(), b.to_string(), c.to_string()]))
            }
            _ => Err(format!(
                "grant {s:?}: want <schema>.<table>.<column> (\"*\" for any one part) or a class ({})",
                PiiClass::ALL.map(|c| c.as_str()).join(", ")
            )),
        }
    }

    fn covers(&self, table: &TableName, column: &str, class: PiiClass) -> bool {
        let part = |pat: &str, v: &str| pat == "*" || pat == v;
        match self {
            Grant::Class(c) => *c == class,
            Grant::Column([s, t, c]) => {
                part(s, &table.schema) && part(t, &table.table) && part(c, column)
            }
        }
    }
}

/// What a caller sees unmasked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sight {
    /// Every column (admins; everyone while streamq runs open).
    All,
    /// Personal-data columns only as granted (none for viewers).
    Granted(Vec<Grant>),
}

impl Sight {
    /// A caller with no grants: every personal-data column masked.
    pub fn masked() -> Sight {
        Sight::Granted(Vec::new())
    }

    /// Whether this caller sees `column` of `table`, a personal-data column of `class`.
    pub fn sees(&self, table: &TableName, column: &str, class: PiiClass) -> bool {
        match self {
            Sight::All => true,
            Sight::Granted(grants) => grants.iter().any(|g| g.covers(table, column, class)),
        }
    }

    pub fn is_all(&self) -> bool {
        matches!(self, Sight::All)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_name_columns_with_wildcards_or_a_whole_class() {
        let t = TableName::parse("shop.customers");
        let g = |s: &str| Sight::Granted(vec![Grant::parse(s).unwrap()]);
        assert!(g("shop.customers.email").sees(&t, "email", PiiClass::Email));
        assert!(g("*.*.email").sees(&t, "email", PiiClass::Email));
        assert!(!g("shop.orders.email").sees(&t, "email", PiiClass::Email));
        assert!(g("email").sees(&t, "contact", PiiClass::Email));
        assert!(!g("phone").sees(&t, "email", PiiClass::Email));
        assert!(!Sight::masked().sees(&t, "email", PiiClass::Email));
        assert!(Sight::All.sees(&t, "email", PiiClass::Email));
        assert!(Grant::parse("shop.customers").is_err());
        assert!(Grant::parse("shop..email").is_err());
    }
}

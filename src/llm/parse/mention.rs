//! The typed mention: a span of the question linked to tables, columns or values.

/// A column: (table index, column index) in the schema.
pub(super) type ColAt = (usize, usize);

#[derive(Clone, Debug)]
pub(super) enum Kind {
    Table(Vec<usize>),
    Col(Vec<ColAt>, bool),
    Val(Vec<(usize, usize, String)>),
    Text(Vec<ColAt>, String),
    Id(Vec<ColAt>, String),
    /// A column with no value (`true`) or with one (`false`).
    Null(Vec<ColAt>, bool),
    /// No row of these tables relates to the row ("with no invoices").
    Absent(Vec<usize>),
}

#[derive(Clone, Debug)]
pub(super) struct Mention {
    pub start: usize,
    pub end: usize,
    pub kind: Kind,
    pub negated: bool,
    pub semantic: bool,
    /// A value named together with its column ("status created").
    pub qualified: bool,
}

impl Mention {
    pub fn new(start: usize, end: usize, kind: Kind) -> Self {
        Self {
            start,
            end,
            kind,
            negated: false,
            semantic: false,
            qualified: false,
        }
    }
}

//! What a kind tells the console about one of its sources beyond the
//! counts: titled sections of labelled values, each with a health level,
//! and tables (a redb node's tables, a job's per-table results). The
//! console's one details pane draws them; it knows no kind.

/// How a value reads: plain, good news, worth a look, or wrong.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Health {
    /// Neutral.
    #[default]
    Plain,
    /// Done, verified, saved.
    Good,
    /// Needs the operator's eye (rolled back, slow, unknown).
    Warn,
    /// Failed or damaged.
    Bad,
}

/// `label  value`, e.g. `packages  18 · 11 done`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Short label (an empty label continues the field above).
    pub label: String,
    /// The value, as the operator reads it.
    pub value: String,
    /// How it reads.
    pub health: Health,
}

impl Field {
    /// A plain field.
    pub fn new(label: &str, value: impl Into<String>) -> Field {
        Field::with(label, value, Health::Plain)
    }

    /// A field with a health level.
    pub fn with(label: &str, value: impl Into<String>, health: Health) -> Field {
        Field {
            label: label.to_string(),
            value: value.into(),
            health,
        }
    }
}

/// A titled group of fields (`store`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Section {
    /// Its title.
    pub title: String,
    /// Its fields, in order.
    pub fields: Vec<Field>,
}

impl Section {
    /// A section titled `title` with `fields`.
    pub fn new(title: &str, fields: Vec<Field>) -> Section {
        Section {
            title: title.to_string(),
            fields,
        }
    }
}

/// One column of a [`Table`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Header.
    pub name: String,
    /// Numbers align right.
    pub right: bool,
}

impl Column {
    /// A text column (left-aligned).
    pub fn text(name: &str) -> Column {
        Column {
            name: name.to_string(),
            right: false,
        }
    }

    /// A number column (right-aligned).
    pub fn number(name: &str) -> Column {
        Column {
            name: name.to_string(),
            right: true,
        }
    }
}

/// One row of a [`Table`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRow {
    /// One cell per column.
    pub cells: Vec<String>,
    /// How the row reads.
    pub health: Health,
}

/// A titled table (`state.redb · format v3 · 1.5 MiB`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// Its title.
    pub title: String,
    /// Its columns.
    pub columns: Vec<Column>,
    /// Its rows.
    pub rows: Vec<TableRow>,
}

/// Everything the details pane shows of a source beyond its counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Details {
    /// Sections, in order.
    pub sections: Vec<Section>,
    /// Tables, after the sections.
    pub tables: Vec<Table>,
}

impl Details {
    /// Whether there is nothing to show.
    pub fn is_empty(&self) -> bool {
        self.sections.is_empty() && self.tables.is_empty()
    }
}

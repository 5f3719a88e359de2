//! What the decode stage refuses before a record can change anything: an offset no real log
//! could have, a value of the wrong kind for a column whose type is established, and one that
//! cannot be read as the type configuration fixes. Each refusal is a reason for the
//! quarantine; the records after it are applied as usual.

use std::collections::{BTreeMap, HashMap};

use crate::config::ColumnType;
use crate::ident::{Offset, normalize_column};
use crate::ingest::change::Cell;
use crate::store::schema::TableSchema;
use crate::store::value::{DType, Value};

/// The columns of `table` whose type `ingest.column_types` fixes, by SQL column name.
pub(super) fn fixed_types(
    configured: &BTreeMap<String, ColumnType>,
    table: &str,
) -> HashMap<String, DType> {
    configured
        .iter()
        .filter_map(|(key, t)| {
            let (tbl, col) = key.rsplit_once('.')?;
            (tbl.eq_ignore_ascii_case(table)).then(|| {
                let d = match t {
                    ColumnType::Varchar => DType::Utf8,
                    ColumnType::Bigint => DType::Int64,
                    ColumnType::Double => DType::Float64,
                    ColumnType::Boolean => DType::Bool,
                };
                (normalize_column(col), d)
            })
        })
        .collect()
}

/// Reads each cell of a fixed column as its configured type (and marks the type as given), or
/// says which value cannot be.
pub(super) fn fix_types(fixed: &HashMap<String, DType>, cells: &mut [Cell]) -> Result<(), String> {
    if fixed.is_empty() {
        return Ok(());
    }
    for c in cells {
        let name = normalize_column(&c.original);
        let Some(&t) = fixed.get(&name) else {
            continue;
        };
        c.value = read_as(&c.value, t).ok_or_else(|| {
            format!(
                "{name}: configured as {} (ingest.column_types), got {}",
                t.sql_name(),
                shown(&c.value)
            )
        })?;
        c.declared = Some(t);
    }
    Ok(())
}

/// `v` as a value of type `t`, if it can be read as one without losing anything.
fn read_as(v: &Value, t: DType) -> Option<Value> {
    Some(match (t, v) {
        (_, Value::Null) => Value::Null,
        (DType::Utf8, Value::Str(_)) => v.clone(),
        (DType::Utf8, other) => Value::Str(other.to_text()?),
        (DType::Int64, Value::Int(_)) => v.clone(),
        (DType::Int64, Value::Float(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
            Value::Int(*f as i64)
        }
        (DType::Int64, Value::Str(s)) => Value::Int(s.trim().parse().ok()?),
        (DType::Float64, Value::Float(_)) => v.clone(),
        (DType::Float64, Value::Int(_) | Value::Decimal { .. }) => Value::Float(v.as_f64()?),
        (DType::Float64, Value::Str(s)) => {
            Value::Float(s.trim().parse::<f64>().ok().filter(|f| f.is_finite())?)
        }
        (DType::Bool, Value::Bool(_)) => v.clone(),
        (DType::Bool, Value::Int(i @ (0 | 1))) => Value::Bool(*i == 1),
        (DType::Bool, Value::Str(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return None,
        },
        _ => return None,
    })
}

/// Why an offset cannot be trusted, given the partition's last applied offset.
pub(super) fn offset_refusal(
    offset: Offset,
    applied: Option<Offset>,
    max_jump: u64,
) -> Option<String> {
    if offset.get() < 0 {
        return Some(format!("offset {offset} is negative: no log has it"));
    }
    let last = applied?;
    // At or below the applied offset is a redelivery, which decode counts and skips.
    let jump = u64::try_from(offset.get().saturating_sub(last.get())).ok()?;
    (jump > max_jump).then(|| {
        format!(
            "offset {offset} is {jump} past the partition's last applied offset {last} \
             (more than ingest.max_offset_jump = {max_jump}): not a position of this log"
        )
    })
}

/// The first cell whose value would turn an established column into text, as a reason.
/// Numbers widen among themselves (integer → bigint → double); a string, object, array or
/// boolean where numbers were, or a number where timestamps were, is refused. A type the
/// source declares (schema-enabled JSON, Avro) is an explicit change and passes.
pub(super) fn type_refusal(schema: &TableSchema, cells: &[Cell]) -> Option<String> {
    for c in cells {
        if c.declared.is_some() {
            continue;
        }
        let Some(got) = c.value.dtype(false) else {
            continue;
        };
        let Some(col) = schema.index_of(&c.original).map(|i| &schema.columns[i]) else {
            continue;
        };
        let Some(known) = col.dtype else { continue };
        if known != DType::Utf8 && known.merge(got) == DType::Utf8 {
            return Some(format!(
                "{}: expected {}, got {}",
                col.name,
                kind(known),
                shown(&c.value)
            ));
        }
    }
    None
}

/// What a column of this type holds, for a reason.
fn kind(t: DType) -> &'static str {
    match t {
        DType::Bool => "a boolean",
        DType::Int32 | DType::Int64 | DType::Float64 | DType::Decimal { .. } => "a number",
        DType::Timestamp | DType::TimestampNs => "a timestamp",
        DType::Date => "a date",
        DType::Time => "a time of day",
        DType::Utf8 => "text",
    }
}

/// The offending value as the record spelled it, cut short.
fn shown(v: &Value) -> String {
    const MAX: usize = 60;
    let s = match v {
        Value::Str(s) => serde_json::to_string(s).unwrap_or_default(),
        other => other.to_json().to_string(),
    };
    if s.chars().count() > MAX {
        format!("{}…", s.chars().take(MAX).collect::<String>())
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ident::TableName;

    fn cell(name: &str, value: Value) -> Cell {
        Cell {
            original: name.into(),
            value,
            declared: None,
        }
    }

    fn schema_with(name: &str, t: DType) -> TableSchema {
        let mut s = TableSchema::new(TableName::parse("shop.orders"), "shop.orders");
        let i = s.ensure_column(name);
        s.widen(i, t);
        s
    }

    #[test]
    fn negative_and_far_offsets_are_refused_and_ordinary_gaps_pass() {
        assert!(
            offset_refusal(Offset(-3), None, 10)
                .unwrap()
                .contains("negative")
        );
        let far = offset_refusal(Offset(1 << 62), Some(Offset(5)), 1_000).unwrap();
        assert!(far.contains("max_offset_jump = 1000"), "{far}");
        assert_eq!(offset_refusal(Offset(900), Some(Offset(5)), 1_000), None);
        assert_eq!(
            offset_refusal(Offset(3), Some(Offset(5)), 1_000),
            None,
            "a redelivery is not refused here"
        );
        assert_eq!(
            offset_refusal(Offset(1 << 62), None, 1_000),
            None,
            "a first record sets the start"
        );
    }

    #[test]
    fn configured_types_read_values_as_that_type_or_refuse_them() {
        let configured: BTreeMap<String, ColumnType> = [
            ("shop.orders.ZIP".to_string(), ColumnType::Varchar),
            ("shop.orders.amount".to_string(), ColumnType::Double),
            ("shop.other.amount".to_string(), ColumnType::Boolean),
        ]
        .into();
        let fixed = fixed_types(&configured, "shop.orders");
        assert_eq!(fixed.len(), 2, "{fixed:?}");
        let mut cells = vec![
            cell("ZIP", Value::Int(1010)),
            cell("AMOUNT", Value::Str("12.50".into())),
            cell("NOTE", Value::Int(3)),
        ];
        fix_types(&fixed, &mut cells).unwrap();
        assert_eq!(cells[0].value, Value::Str("1010".into()));
        assert_eq!(cells[0].declared, Some(DType::Utf8));
        assert_eq!(cells[1].value, Value::Float(12.5));
        assert_eq!(
            cells[2].declared, None,
            "a column not configured is left alone"
        );
        let mut bad = vec![cell("AMOUNT", Value::Str("twelve".into()))];
        assert_eq!(
            fix_types(&fixed, &mut bad).unwrap_err(),
            r#"amount: configured as DOUBLE (ingest.column_types), got "twelve""#
        );
    }

    #[test]
    fn numbers_widen_but_other_kinds_do_not_turn_a_column_into_text() {
        let s = schema_with("AMOUNT", DType::Float64);
        assert_eq!(type_refusal(&s, &[cell("AMOUNT", Value::Int(3))]), None);
        assert_eq!(
            type_refusal(&s, &[cell("AMOUNT", Value::Str("12.50".into()))]).as_deref(),
            Some(r#"amount: expected a number, got "12.50""#)
        );
        assert!(type_refusal(&s, &[cell("AMOUNT", Value::Bool(true))]).is_some());
        assert_eq!(type_refusal(&s, &[cell("AMOUNT", Value::Null)]), None);
        let t = schema_with("CREATED_AT", DType::Timestamp);
        let r = type_refusal(
            &t,
            &[cell("CREATED_AT", Value::Int(9_200_000_000_000_000_000))],
        );
        assert!(r.unwrap().contains("expected a timestamp"));
        let text = schema_with("NOTE", DType::Utf8);
        assert_eq!(type_refusal(&text, &[cell("NOTE", Value::Int(1))]), None);
        let mut declared = cell("AMOUNT", Value::Str("x".into()));
        declared.declared = Some(DType::Utf8);
        assert_eq!(
            type_refusal(&s, &[declared]),
            None,
            "a declared type is a schema change"
        );
    }
}

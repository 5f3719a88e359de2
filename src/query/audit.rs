//! `streamq.audit`: the audit trail as a table, for admins (and everyone while streamq runs
//! open). Read from the log's files when a statement is planned.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, Float64Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{MemTable, SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result};

use crate::audit::{AuditLog, Entry};

/// The schema holding `audit`.
pub const SCHEMA: &str = "streamq";

#[derive(Debug)]
pub struct AuditSchema {
    pub log: Arc<AuditLog>,
    /// Whether the caller may read it.
    pub allowed: bool,
}

#[async_trait]
impl SchemaProvider for AuditSchema {
    fn table_names(&self) -> Vec<String> {
        if self.allowed {
            vec!["audit".into()]
        } else {
            Vec::new()
        }
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if name != "audit" {
            return Ok(None);
        }
        if !self.allowed {
            return Err(DataFusionError::Plan(
                "streamq.audit is readable by admin tokens only".into(),
            ));
        }
        let entries = self
            .log
            .read(None, None)
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let batch = batch_of(&entries)?;
        Ok(Some(Arc::new(MemTable::try_new(
            batch.schema(),
            vec![vec![batch]],
        )?)))
    }

    fn table_exist(&self, name: &str) -> bool {
        name == "audit" && self.allowed
    }
}

fn schema() -> SchemaRef {
    let text = |n: &str| Field::new(n, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        Field::new(
            "at",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ),
        text("who"),
        text("name"),
        text("role"),
        text("door"),
        text("method"),
        text("route"),
        text("path"),
        Field::new("status", DataType::Int32, false),
        text("outcome"),
        text("code"),
        Field::new("ms", DataType::Float64, false),
        text("sql"),
        text("question"),
        text("tool"),
        text("filter"),
        text("tables"),
        Field::new("rows", DataType::Int64, true),
        text("masked"),
        text("peer"),
    ]))
}

fn batch_of(entries: &[Entry]) -> Result<RecordBatch> {
    let n = entries.len();
    let mut at = TimestampMicrosecondBuilder::with_capacity(n);
    let mut texts: Vec<StringBuilder> = (0..16).map(|_| StringBuilder::new()).collect();
    let mut status = Int32Builder::with_capacity(n);
    let mut ms = Float64Builder::with_capacity(n);
    let mut rows = Int64Builder::with_capacity(n);
    let join = |v: &[String]| (!v.is_empty()).then(|| v.join(","));
    for e in entries {
        at.append_value(
            chrono::DateTime::parse_from_rfc3339(&e.at)
                .map(|t| t.timestamp_micros())
                .unwrap_or_default(),
        );
        let d = &e.detail;
        let cells: [Option<String>; 16] = [
            e.who.clone(),
            e.name.clone(),
            e.role.clone(),
            Some(e.door.clone()),
            Some(e.method.clone()),
            Some(e.route.clone()),
            Some(e.path.clone()),
            Some(e.outcome.clone()),
            e.code.clone(),
            d.sql.clone(),
            d.question.clone(),
            d.tool.clone(),
            d.filter.clone(),
            join(&d.tables),
            join(&d.masked),
            e.peer.clone(),
        ];
        for (b, c) in texts.iter_mut().zip(cells) {
            b.append_option(c);
        }
        status.append_value(i32::from(e.status));
        ms.append_value(e.ms);
        rows.append_option(d.rows.map(|r| r as i64));
    }
    let mut t = texts
        .into_iter()
        .map(|mut b| Arc::new(b.finish()) as ArrayRef);
    let mut next = || t.next().expect("16 text columns");
    let columns: Vec<ArrayRef> = vec![
        Arc::new(at.finish()),
        next(),
        next(),
        next(),
        next(),
        next(),
        next(),
        next(),
        Arc::new(status.finish()),
        next(),
        next(),
        Arc::new(ms.finish()),
        next(),
        next(),
        next(),
        next(),
        next(),
        Arc::new(rows.finish()),
        next(),
        next(),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}

//! DataFusion sees the live catalog through these providers: schema `db2` holds table
//! `transactions`, and so on. Each planning asks for a fresh table provider, which snapshots
//! the table's schema, so planning and scanning agree even while columns are being added.
//!
//! Masking happens here: a caller who may not see a personal-data column gets a table whose
//! column is text and holds masked values, so every filter, join, aggregate and result of
//! any statement sees only those ([`crate::privacy`]).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{
    CatalogProvider, CatalogProviderList, MemTable, SchemaProvider, Session, TableProvider,
};
use datafusion::datasource::TableType;
use datafusion::error::Result;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use parking_lot::Mutex;

use crate::ident::TableName;
use crate::privacy::sight::Sight;
use crate::privacy::{Privacy, TableMask};
use crate::store::catalog::Catalog;
use crate::store::table::{LiveTable, arrow_schema_of};

/// `_op`, `_ts`, `_partition`, `_offset` follow a table's own columns.
const METADATA_COLUMNS: usize = 4;

/// The masked columns a statement's tables had (`schema.table.column`), filled in planning.
pub type MaskedSeen = Arc<Mutex<std::collections::BTreeSet<String>>>;

/// The live tables as one caller sees them.
#[derive(Debug, Clone)]
pub struct View {
    pub privacy: Arc<Privacy>,
    pub audit: Arc<crate::audit::AuditLog>,
    pub sight: Sight,
    pub seen: MaskedSeen,
}

/// The SQL catalogs: `streamq` (the default: two-level names, `db2.transactions`) and one per
/// prefix of three-level names (`db2server.db2inst1.transactions`), as tables appear.
#[derive(Debug)]
pub struct LiveCatalogList {
    pub catalog: Arc<Catalog>,
    pub view: View,
}

impl LiveCatalogList {
    fn provider(&self, name: Option<String>) -> Arc<dyn CatalogProvider> {
        Arc::new(LiveCatalogProvider {
            catalog: self.catalog.clone(),
            name,
            view: self.view.clone(),
        })
    }
}

impl CatalogProviderList for LiveCatalogList {
    fn register_catalog(
        &self,
        _name: String,
        _catalog: Arc<dyn CatalogProvider>,
    ) -> Option<Arc<dyn CatalogProvider>> {
        // The catalogs are the live tables' own; nothing else is registered.
        None
    }

    fn catalog_names(&self) -> Vec<String> {
        let mut names = vec![super::DEFAULT_CATALOG.to_string()];
        names.extend(self.catalog.catalog_names());
        names
    }

    fn catalog(&self, name: &str) -> Option<Arc<dyn CatalogProvider>> {
        if name == super::DEFAULT_CATALOG {
            return Some(self.provider(None));
        }
        let name = name.to_ascii_lowercase();
        self.catalog
            .catalog_names()
            .contains(&name)
            .then(|| self.provider(Some(name)))
    }
}

#[derive(Debug)]
pub struct LiveCatalogProvider {
    pub catalog: Arc<Catalog>,
    /// `None`: the default catalog.
    pub name: Option<String>,
    pub view: View,
}

impl CatalogProvider for LiveCatalogProvider {
    fn schema_names(&self) -> Vec<String> {
        let mut names = self.catalog.schema_names(self.name.as_deref());
        if self.name.is_none()
            && self.view.sight.is_all()
            && !names.iter().any(|n| n == super::audit::SCHEMA)
        {
            names.push(super::audit::SCHEMA.into());
        }
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        // `streamq.audit` (only admins see everything, so only they read it).
        if self.name.is_none() && name == super::audit::SCHEMA {
            return Some(Arc::new(super::audit::AuditSchema {
                log: self.view.audit.clone(),
                allowed: self.view.sight.is_all(),
            }));
        }
        Some(Arc::new(LiveSchemaProvider {
            catalog: self.catalog.clone(),
            catalog_name: self.name.clone(),
            schema: name.to_string(),
            view: self.view.clone(),
        }))
    }
}

#[derive(Debug)]
pub struct LiveSchemaProvider {
    catalog: Arc<Catalog>,
    catalog_name: Option<String>,
    schema: String,
    view: View,
}

impl LiveSchemaProvider {
    fn name_of(&self, table: &str) -> TableName {
        TableName::new(self.catalog_name.clone(), &self.schema, table)
    }
}

#[async_trait]
impl SchemaProvider for LiveSchemaProvider {
    fn table_names(&self) -> Vec<String> {
        self.catalog
            .table_names(self.catalog_name.as_deref(), &self.schema)
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let tn = self.name_of(name);
        Ok(self.catalog.get(&tn).map(|t| {
            let raw = t.arrow_schema();
            let mask = self.view.privacy.mask_for(&t, &self.view.sight);
            let schema = match &mask {
                Some(m) => {
                    let columns = t.schema.read().columns.clone();
                    let mut seen = self.view.seen.lock();
                    for c in m.names(&columns) {
                        seen.insert(format!("{}.{c}", m.table));
                    }
                    // By name, so a column added since `raw` was taken changes nothing.
                    let masked = m.columns(&columns);
                    let masked = arrow_schema_of(&masked);
                    Arc::new(datafusion::arrow::datatypes::Schema::new(
                        raw.fields()
                            .iter()
                            .map(|f| {
                                masked
                                    .field_with_name(f.name())
                                    .cloned()
                                    .unwrap_or_else(|_| f.as_ref().clone())
                            })
                            .collect::<Vec<_>>(),
                    ))
                }
                None => raw.clone(),
            };
            Arc::new(LiveTableProvider {
                table: t,
                raw,
                schema,
                mask,
            }) as Arc<dyn TableProvider>
        }))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.catalog.get(&self.name_of(name)).is_some()
    }
}

pub struct LiveTableProvider {
    table: Arc<LiveTable>,
    /// The table's schema when planned.
    raw: SchemaRef,
    /// As this caller sees it (masked columns are text).
    schema: SchemaRef,
    mask: Option<Arc<TableMask>>,
}

impl std::fmt::Debug for LiveTableProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LiveTable({})", self.table.schema.read().name)
    }
}

#[async_trait]
impl TableProvider for LiveTableProvider {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let batches = self.table.batches(&self.raw);
        let batches = match &self.mask {
            None => batches,
            Some(m) => {
                // Only the columns read are masked; the others are left out of the batch.
                let wanted: Vec<usize> = match projection {
                    Some(p) => p.clone(),
                    None => (0..self.schema.fields().len()).collect(),
                };
                let schema = Arc::new(self.schema.project(&wanted)?);
                // The table's own columns come first; the metadata columns are never masked.
                let own = self.raw.fields().len().saturating_sub(METADATA_COLUMNS);
                let masked = batches
                    .into_iter()
                    .map(|b| {
                        let columns = wanted
                            .iter()
                            .map(|&i| {
                                if i < own {
                                    m.array(i, b.column(i))
                                } else {
                                    b.column(i).clone()
                                }
                            })
                            .collect();
                        RecordBatch::try_new_with_options(
                            schema.clone(),
                            columns,
                            &RecordBatchOptions::new().with_row_count(Some(b.num_rows())),
                        )
                    })
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                let partitions: Vec<_> = masked.into_iter().map(|b| vec![b]).collect();
                let mem = MemTable::try_new(schema, partitions)?;
                return mem.scan(state, None, filters, limit).await;
            }
        };
        // One partition of the plan per table partition: DataFusion scans them in parallel.
        let partitions: Vec<_> = batches.into_iter().map(|b| vec![b]).collect();
        let mem = MemTable::try_new(self.schema.clone(), partitions)?;
        mem.scan(state, projection, filters, limit).await
    }
}

//! DataFusion sees the live catalog through these providers: schema `db2` holds table
//! `transactions`, and so on. Each planning asks for a fresh table provider, which snapshots
//! the table's schema, so planning and scanning agree even while columns are being added.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{CatalogProvider, MemTable, SchemaProvider, Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::Result;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;

use crate::ident::TableName;
use crate::store::catalog::Catalog;
use crate::store::table::LiveTable;

#[derive(Debug)]
pub struct LiveCatalogProvider {
    pub catalog: Arc<Catalog>,
}

impl CatalogProvider for LiveCatalogProvider {
    fn schema_names(&self) -> Vec<String> {
        self.catalog.schema_names()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        Some(Arc::new(LiveSchemaProvider {
            catalog: self.catalog.clone(),
            schema: name.to_string(),
        }))
    }
}

#[derive(Debug)]
pub struct LiveSchemaProvider {
    catalog: Arc<Catalog>,
    schema: String,
}

#[async_trait]
impl SchemaProvider for LiveSchemaProvider {
    fn table_names(&self) -> Vec<String> {
        self.catalog.table_names(&self.schema)
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let tn = TableName {
            schema: self.schema.clone(),
            table: name.to_string(),
        };
        Ok(self.catalog.get(&tn).map(|t| {
            let schema = t.arrow_schema();
            Arc::new(LiveTableProvider { table: t, schema }) as Arc<dyn TableProvider>
        }))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.catalog
            .get(&TableName {
                schema: self.schema.clone(),
                table: name.to_string(),
            })
            .is_some()
    }
}

pub struct LiveTableProvider {
    table: Arc<LiveTable>,
    schema: SchemaRef,
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
        let batches = self.table.batches(&self.schema);
        // One partition of the plan per table partition: DataFusion scans them in parallel.
        let partitions: Vec<_> = batches.into_iter().map(|b| vec![b]).collect();
        let mem = MemTable::try_new(self.schema.clone(), partitions)?;
        mem.scan(state, projection, filters, limit).await
    }
}

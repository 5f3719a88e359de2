//! Stopping a query that is past its deadline. Aborting the query's task is not enough: an
//! operator can loop inside one poll (a filter over a cross join that rejects every row never
//! returns to the scheduler), so the abort never lands and the threads stay busy. Every node
//! of the physical plan is wrapped in [`GuardExec`], which checks the query's flag each time
//! its output is polled: once the flag is up, every stream of the plan ends with an error at
//! its next batch, its tasks finish and its memory is released.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::Stream;

/// What a stopped stream answers; [`super::QueryEngine`] reports it as the timeout.
pub const CANCELLED: &str = "streamq: query cancelled";

/// A query's stop flag: raised at its deadline, or when whoever asked is gone.
#[derive(Clone, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    pub fn raise(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Raises the flag when dropped: a caller that stops waiting (a timeout, a closed connection)
/// stops the query with it.
pub struct RaiseOnDrop(pub StopFlag);

impl Drop for RaiseOnDrop {
    fn drop(&mut self) {
        self.0.raise();
    }
}

/// The plan with every node wrapped so it stops when `flag` is raised.
pub fn guard(plan: Arc<dyn ExecutionPlan>, flag: &StopFlag) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        let wrapped: Arc<dyn ExecutionPlan> = Arc::new(GuardExec::new(node, flag.clone()));
        Ok(Transformed::yes(wrapped))
    })
    .map(|t| t.data)
}

/// A node's output, checked against the stop flag on every poll.
#[derive(Debug)]
pub struct GuardExec {
    input: Arc<dyn ExecutionPlan>,
    flag: StopFlag,
}

impl fmt::Debug for StopFlag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StopFlag({})", self.is_raised())
    }
}

impl GuardExec {
    fn new(input: Arc<dyn ExecutionPlan>, flag: StopFlag) -> Self {
        Self { input, flag }
    }
}

impl DisplayAs for GuardExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GuardExec")
    }
}

impl ExecutionPlan for GuardExec {
    fn name(&self) -> &str {
        "GuardExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return Err(DataFusionError::Internal(format!(
                "GuardExec takes one child, got {}",
                children.len()
            )));
        }
        Ok(Arc::new(Self::new(
            children.swap_remove(0),
            self.flag.clone(),
        )))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if self.flag.is_raised() {
            return Err(DataFusionError::Execution(CANCELLED.into()));
        }
        Ok(Box::pin(GuardStream {
            inner: self.input.execute(partition, context)?,
            flag: self.flag.clone(),
        }))
    }
}

struct GuardStream {
    inner: SendableRecordBatchStream,
    flag: StopFlag,
}

impl Stream for GuardStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.flag.is_raised() {
            return Poll::Ready(Some(Err(DataFusionError::Execution(CANCELLED.into()))));
        }
        self.inner.as_mut().poll_next(cx)
    }
}

impl RecordBatchStream for GuardStream {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}

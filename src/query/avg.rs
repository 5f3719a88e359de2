//! `AVG` of a DECIMAL column is a DOUBLE (as in DuckDB): DataFusion's own average of a
//! `Decimal128(38, s)` keeps only `s + 4` digits of fraction, so an average of cents such as
//! 0.2637286758… would come back as 0.263728. Every other input is averaged as DataFusion does.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, GroupsAccumulator, ReversedUDAF, Signature,
    Volatility,
};

#[derive(Debug, PartialEq, Eq, Hash)]
struct AvgAsDouble {
    inner: Arc<AggregateUDF>,
    signature: Signature,
}

impl AggregateUDFImpl for AvgAsDouble {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    /// As DataFusion's own `avg` takes them (integers and floats as DOUBLE, intervals of time
    /// as they are), with decimals as DOUBLE too.
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [t] = arg_types else {
            return datafusion::common::plan_err!("avg takes one argument");
        };
        Ok(vec![match t {
            DataType::Duration(_) => t.clone(),
            t if t.is_numeric() || t.is_null() => DataType::Float64,
            other => {
                return datafusion::common::plan_err!("avg of {other} is not defined");
            }
        }])
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn accumulator(&self, acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        self.inner.accumulator(acc_args)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        self.inner.state_fields(args)
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        self.inner.groups_accumulator_supported(args)
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        self.inner.create_groups_accumulator(args)
    }

    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        self.inner.create_sliding_accumulator(args)
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        ReversedUDAF::Identical
    }
}

/// DataFusion's `avg` (and its alias `mean`), averaging decimals as doubles.
pub fn avg_udaf() -> AggregateUDF {
    AggregateUDF::from(AvgAsDouble {
        inner: datafusion::functions_aggregate::average::avg_udaf(),
        signature: Signature::user_defined(Volatility::Immutable),
    })
}

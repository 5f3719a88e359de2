//! How complex a statement may be. Planning, optimising and evaluating recurse over the
//! statement's tree, so a deep enough tree (a 2 000-term `1+1+…`, an `OR` chain, 2 500
//! `UNION ALL`s) would overflow a thread's stack and abort the process. Every statement and
//! filter is measured here first, on the parsed tree and without deep recursion, and one past
//! a limit is refused with the limit named.

use std::ops::ControlFlow;

use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{Expr, Query, SetExpr, TableFactor, Visit, Visitor};

use crate::config::QueryConfig;

/// The limits, from `[query]`.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_expr_depth: usize,
    pub max_set_operations: usize,
    pub max_tables: usize,
}

impl Limits {
    pub fn of(cfg: &QueryConfig) -> Self {
        Self {
            max_expr_depth: cfg.max_expr_depth,
            max_set_operations: cfg.max_set_operations,
            max_tables: cfg.max_tables,
        }
    }
}

/// Which limit a statement passed, and by how much.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TooComplex {
    #[error(
        "the query nests expressions more than {limit} deep (query.max_expr_depth); \
         split it, or use IN (…) for long lists of alternatives"
    )]
    Depth { limit: usize },
    #[error(
        "the query combines more than {limit} SELECTs with UNION/INTERSECT/EXCEPT \
         (query.max_set_operations)"
    )]
    SetOperations { limit: usize },
    #[error("the query reads more than {limit} tables and subqueries (query.max_tables)")]
    Tables { limit: usize },
}

/// Measures a parsed statement.
pub fn check(stmt: &DfStatement, limits: Limits) -> Result<(), TooComplex> {
    match stmt {
        DfStatement::Statement(s) => visit(s.as_ref(), limits),
        DfStatement::Explain(e) => check(&e.statement, limits),
        // DDL and COPY are refused as not read-only before anything is planned.
        _ => Ok(()),
    }
}

/// Measures one expression (a tail filter).
pub fn check_expr(expr: &Expr, limits: Limits) -> Result<(), TooComplex> {
    visit(expr, limits)
}

fn visit<V: Visit>(node: &V, limits: Limits) -> Result<(), TooComplex> {
    let mut m = Measure {
        limits,
        depth: 0,
        tables: 0,
    };
    match node.visit(&mut m) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

struct Measure {
    limits: Limits,
    depth: usize,
    tables: usize,
}

impl Visitor for Measure {
    type Break = TooComplex;

    fn pre_visit_expr(&mut self, _: &Expr) -> ControlFlow<TooComplex> {
        self.depth += 1;
        if self.depth > self.limits.max_expr_depth {
            return ControlFlow::Break(TooComplex::Depth {
                limit: self.limits.max_expr_depth,
            });
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, _: &Expr) -> ControlFlow<TooComplex> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    /// A query's set operations form a chain the visitor would descend one level per arm:
    /// count them first, iteratively, before it does.
    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<TooComplex> {
        let limit = self.limits.max_set_operations;
        if set_arms(&q.body, limit + 1) > limit {
            return ControlFlow::Break(TooComplex::SetOperations { limit });
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, _: &TableFactor) -> ControlFlow<TooComplex> {
        self.tables += 1;
        if self.tables > self.limits.max_tables {
            return ControlFlow::Break(TooComplex::Tables {
                limit: self.limits.max_tables,
            });
        }
        ControlFlow::Continue(())
    }
}

/// The SELECTs (and other leaves) a set expression combines, counting at most `stop`.
fn set_arms(body: &SetExpr, stop: usize) -> usize {
    let mut arms = 0;
    let mut todo = vec![body];
    while let Some(e) = todo.pop() {
        match e {
            SetExpr::SetOperation { left, right, .. } => {
                todo.push(left);
                todo.push(right);
            }
            SetExpr::Query(q) => todo.push(&q.body),
            _ => {
                arms += 1;
                if arms >= stop {
                    break;
                }
            }
        }
    }
    arms
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::parser::DFParserBuilder;

    fn limits() -> Limits {
        Limits {
            max_expr_depth: 10,
            max_set_operations: 4,
            max_tables: 3,
        }
    }

    fn measure(sql: &str) -> Result<(), TooComplex> {
        let stmt = DFParserBuilder::new(sql)
            .build()
            .unwrap()
            .parse_statement()
            .unwrap();
        check(&stmt, limits())
    }

    /// `SELECT 1+1+…` with `terms` terms: a left-deep tree `terms - 1` operators deep (plus
    /// the leaf).
    fn sum(terms: usize) -> String {
        format!("SELECT {}", vec!["1"; terms].join("+"))
    }

    #[test]
    fn expression_depth_is_refused_just_past_the_limit() {
        assert_eq!(measure(&sum(9)), Ok(()), "8 operators + a leaf = depth 9");
        assert_eq!(measure(&sum(10)), Ok(()), "depth 10: at the limit");
        assert_eq!(measure(&sum(11)), Err(TooComplex::Depth { limit: 10 }));
        let or_chain = format!(
            "SELECT 1 WHERE {}",
            (0..40)
                .map(|i| format!("x = {i}"))
                .collect::<Vec<_>>()
                .join(" OR ")
        );
        assert_eq!(measure(&or_chain), Err(TooComplex::Depth { limit: 10 }));
        let in_list = format!(
            "SELECT 1 WHERE x IN ({})",
            (0..400)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(",")
        );
        assert_eq!(
            measure(&in_list),
            Ok(()),
            "a long IN list is wide, not deep"
        );
    }

    #[test]
    fn set_operations_and_tables_are_counted() {
        let union = |n: usize| vec!["SELECT 1"; n].join(" UNION ALL ");
        assert_eq!(measure(&union(4)), Ok(()));
        assert_eq!(
            measure(&union(5)),
            Err(TooComplex::SetOperations { limit: 4 })
        );
        assert_eq!(
            measure(&format!("SELECT * FROM ({}) u", union(5))),
            Err(TooComplex::SetOperations { limit: 4 }),
            "in a subquery too"
        );
        assert_eq!(
            measure("SELECT 1 FROM a JOIN b ON true JOIN c ON true"),
            Ok(())
        );
        assert_eq!(
            measure("SELECT 1 FROM a JOIN b ON true JOIN c ON true JOIN d ON true"),
            Err(TooComplex::Tables { limit: 3 })
        );
        assert_eq!(
            measure(&format!("EXPLAIN {}", sum(11))),
            Err(TooComplex::Depth { limit: 10 })
        );
    }
}

//! A lookup: columns of one row its id names ("the status of order O-17", "what did
//! invoice I123 come to").

use super::lexicon::Question;
use super::mention::{Kind, Mention};
use super::shape::Shape;
use super::{Parsed, Parser, Trace};
use crate::llm::plan::*;

impl Parser<'_> {
    /// The lookup, when the question names a row by its key and asks no aggregate.
    pub(super) fn lookup_by_id(
        &self,
        q: &mut Question,
        ms: &[Mention],
        sh: &Shape,
    ) -> Option<Parsed> {
        if sh.aggregate || sh.grouped || sh.when {
            return None;
        }
        let how_much = sh.how_much;
        let words_l = &q.words;
        let has = |w: &[&str]| q.has(w);
        let idm = ms.iter().find(|m| matches!(m.kind, Kind::Id(..)))?;
        let Kind::Id(cands, id) = &idm.kind else {
            return None;
        };
        let &(ti, ci) = cands.iter().find(|tc| self.c(**tc).is_key)?;
        let table = self.t(ti);
        let mut columns: Vec<ColRef> = Vec::new();
        for m in ms {
            if let Kind::Col(cs, _) = &m.kind
                && let Some(&(_, c)) = cs.iter().find(|(t, _)| *t == ti)
                && c != ci
            {
                columns.push(ColRef {
                    table: 0,
                    column: table.columns[c].name.clone(),
                });
            }
            // "which customer owns account A1": the other table's key held by this row
            if let Kind::Table(ts) = &m.kind
                && !ts.contains(&ti)
                && let Some(pk) = ts
                    .iter()
                    .find_map(|t| self.t(*t).pk().filter(|pk| table.col(pk).is_some()))
            {
                columns.push(ColRef {
                    table: 0,
                    column: pk.to_string(),
                });
            }
        }
        // "what did invoice I1 come to", "how much is P1": the row's own money column
        let money_words = ["cost", "costs", "worth", "come", "came", "comes"];
        if columns.is_empty()
            && (how_much || has(&money_words))
            && let Some(c) = self.money_column(ti)
        {
            for (i, w) in words_l.iter().enumerate() {
                if money_words.contains(&w.as_str()) {
                    q.used[i] = true;
                }
            }
            columns.push(ColRef {
                table: 0,
                column: c,
            });
        }
        if columns.is_empty() {
            columns = table
                .columns
                .iter()
                .filter(|c| c.name != "_ts")
                .map(|c| ColRef {
                    table: 0,
                    column: c.name.clone(),
                })
                .collect();
        }
        let plan = QueryPlan {
            table: table.name.clone(),
            related: Vec::new(),
            columns,
            measures: Vec::new(),
            group_by: Vec::new(),
            filters: Vec::new(),
            time: None,
            order: None,
            limit: None,
            lookup: Some((table.columns[ci].name.clone(), id.clone())),
            hide_measure: false,
            having: Vec::new(),
            assumed: Vec::new(),
        };
        Some(self.finish(plan, &q.toks, &q.used, &Trace::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::sql;

    #[test]
    fn a_row_by_its_id() {
        assert_eq!(
            sql("team of agent AG0042"),
            "SELECT t0.team AS team FROM helpdesk.agents t0 WHERE t0.agent_id = 'AG0042'"
        );
    }
}

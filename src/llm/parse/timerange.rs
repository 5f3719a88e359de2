//! Stage 6, the time range: which column a time expression dates — the absent rows' time
//! for an anti-join, the column a verb names, the main table's event time, else a related
//! table's.

use super::Parser;
use super::frame::Frame;
use super::lexicon::Question;
use super::resolve::Resolved;
use crate::llm::plan::*;

impl Parser<'_> {
    pub(super) fn time_range(
        &self,
        q: &mut Question,
        f: &Frame,
        res: &mut Resolved,
    ) -> Option<TimeRange> {
        let Question {
            toks,
            used,
            time,
            time_pos,
            ..
        } = q;
        let time_pos = *time_pos;
        let main = f.main;
        let mt = self.t(main);
        let scores = &f.scores;
        let Resolved {
            related,
            filters,
            anti_at,
            named_time,
            ..
        } = res;
        let anti_at = *anti_at;
        let mut time_range = None;
        if time.start_us.is_some() || time.end_us.is_some() {
            // "with no visits in the last hour": the time is the absent rows'
            let anti_time = anti_at
                .filter(|a| time_pos.is_some_and(|p| p > *a))
                .and_then(|_| {
                    related.iter().enumerate().find_map(|(i, r)| {
                        (r.link == Link::Anti)
                            .then(|| self.s.table(&r.table).and_then(|t| t.event_time.clone()))
                            .flatten()
                            .map(|c| ColRef {
                                table: i + 1,
                                column: c,
                            })
                    })
                });
            // "cases closed today": the time column the verb names, else the event time
            let named = named_time.clone();
            if let Some((i, _)) = &named {
                used[*i] = true;
            }
            // a table whose only time is when its rows last changed ("patients that had
            // visits in the last hour"): a related table's event time comes first
            let change_time = mt
                .event_time
                .as_ref()
                .and_then(|c| mt.col(c))
                .is_some_and(|c| {
                    c.stems
                        .iter()
                        .any(|s| ["updat", "modifi", "chang"].contains(&s.as_str()))
                });
            let main_time = mt.event_time.clone().map(|c| ColRef {
                table: 0,
                column: c,
            });
            let mut target = anti_time.or_else(|| {
                named
                    .map(|(_, c)| ColRef {
                        table: 0,
                        column: c,
                    })
                    .or_else(|| main_time.clone().filter(|_| !change_time))
            });
            if target.is_none() {
                for (i, r) in related.iter().enumerate() {
                    if let Some(t) = self.s.table(&r.table).and_then(|t| t.event_time.clone()) {
                        target = Some(ColRef {
                            table: i + 1,
                            column: t,
                        });
                        break;
                    }
                }
            }
            if target.is_none() {
                // a table with event time that relates to the main one
                for (ti, t) in self.s.tables.iter().enumerate() {
                    if ti != main
                        && t.event_time.is_some()
                        && scores[ti] > 0.0
                        && let Some(r) = self.relate(main, ti)
                    {
                        related.push(r);
                        target = Some(ColRef {
                            table: related.len(),
                            column: t.event_time.clone().expect("checked"),
                        });
                        break;
                    }
                }
            }
            if target.is_none() {
                target = main_time;
            }
            if let Some(column) = target {
                time_range = Some(TimeRange {
                    column,
                    start: time.start_us.map(crate::store::value::format_timestamp_us),
                    end: time.end_us.map(crate::store::value::format_timestamp_us),
                    start_us: time.start_us,
                    end_us: time.end_us,
                    label: time.label.clone(),
                });
            }
        } else if let Some((i, c)) = named_time
            && !mt.stems.contains(&toks[*i].stem)
            && is_participle(&toks[*i].lower)
        {
            // "tickets that were closed", "parcels sent to …" with no time: rows that have
            // that time
            used[*i] = true;
            let column = ColRef {
                table: 0,
                column: c.clone(),
            };
            if !filters.iter().any(|f| f.column == column) {
                filters.push(Filter {
                    column,
                    op: Op::NotNull,
                });
            }
        }
        time_range
    }
}

/// A past participle ("closed", "shipped", "sent"): a verb that happened, not an adjective
/// ("open").
fn is_participle(w: &str) -> bool {
    w.ends_with("ed")
        || matches!(
            w,
            "sent"
                | "paid"
                | "sold"
                | "made"
                | "bought"
                | "built"
                | "held"
                | "spent"
                | "given"
                | "taken"
                | "written"
                | "done"
                | "won"
                | "lost"
                | "left"
                | "begun"
                | "drawn"
        )
}

#[cfg(test)]
mod tests {
    use super::super::tests::staged;

    #[test]
    fn the_range_dates_the_column_its_verb_names() {
        staged("tickets opened in the last 2 hours", |st| {
            let t = st.time.as_ref();
            let t = t.expect("a range");
            assert_eq!(t.column.column, "opened_at");
            let as_of = crate::store::value::parse_timestamp("2026-05-01T12:00:00Z").unwrap();
            assert_eq!(t.start_us, Some(as_of - 2 * 3_600_000_000));
            assert_eq!(t.end_us, None);
        });
    }

    #[test]
    fn a_participle_without_a_range_asks_for_rows_with_that_time() {
        assert!(super::is_participle("escalated"));
        assert!(super::is_participle("sent"));
        assert!(!super::is_participle("open"));
    }
}

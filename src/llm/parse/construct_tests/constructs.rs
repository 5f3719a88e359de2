//! One construct at a time: measures, shares, argmax, thresholds, negation, nulls, first/last,
//! ranges, typos, explicit values, and what is named rather than dropped.

use super::*;

#[test]
fn several_measures_in_one_question() {
    has(
        &sql(&garden(), "count and average total of invoices by status"),
        &["COUNT(*)", "AVG(t0.total)", "GROUP BY t0.status"],
    );
    has(
        &sql(&clinic(), "min, max and average fee of visits"),
        &["MIN(t0.fee)", "MAX(t0.fee)", "AVG(t0.fee)"],
    );
}

#[test]
fn shares_and_percentages() {
    has(
        &sql(&garden(), "what percentage of invoices are disputed"),
        &["100.0 * SUM(CASE WHEN t0.status = 'disputed' THEN 1 ELSE 0 END) / COUNT(*)"],
    );
    let q = sql(
        &clinic(),
        "what share of visits were cancelled per kind of fee",
    );
    assert!(q.contains("CASE WHEN"), "{q}");
    has(
        &sql(&garden(), "what share of suppliers are active"),
        &["CASE WHEN t0.is_active = true THEN 1"],
    );
    has(
        &sql(&clinic(), "% of visits that were cancelled"),
        &["CASE WHEN t0.kind = 'cancelled' THEN 1"],
    );
}

#[test]
fn argmax_returns_the_entity() {
    has(
        &sql(&garden(), "which supplier has the highest rating"),
        &["t0.supplier_id", "ORDER BY t0.rating DESC LIMIT 1"],
    );
    // the entity named before "with the highest …"
    has(
        &sql(&garden(), "the active supplier with the highest rating"),
        &[
            "t0.supplier_id",
            "t0.is_active = true",
            "ORDER BY t0.rating DESC LIMIT 1",
        ],
    );
    has(
        &sql(&clinic(), "patient in cardio with the lowest age"),
        &[
            "t0.patient_id",
            "t0.ward = 'cardio'",
            "ORDER BY t0.age ASC LIMIT 1",
        ],
    );
    has(
        &sql(&clinic(), "the 3 largest visits by fee"),
        &["t0.visit_id", "ORDER BY", "DESC LIMIT 3"],
    );
}

#[test]
fn thresholds_in_every_written_form() {
    has(
        &sql(&garden(), "how many invoices of 1,000 or more"),
        &["t0.total >= 1000"],
    );
    has(&sql(&garden(), "invoices over 2.5k"), &["t0.total > 2500"]);
    has(
        &sql(&garden(), "suppliers with a rating of at least 4"),
        &["t0.rating >= 4"],
    );
    has(
        &sql(&clinic(), "patients with an age between 30 and 40"),
        &["t0.age >= 30", "t0.age <= 40"],
    );
    has(
        &sql(&clinic(), "how many visits with a fee of 50 or less"),
        &["t0.fee <= 50"],
    );
}

#[test]
fn negation_and_anti_joins() {
    has(
        &sql(&garden(), "suppliers with no invoices"),
        &["NOT EXISTS (SELECT 1 FROM garden.invoices t1 WHERE t1.supplier_id = t0.supplier_id)"],
    );
    has(
        &sql(&clinic(), "how many patients have never had a visit"),
        &["COUNT(*)", "NOT EXISTS (SELECT 1 FROM clinic.visits"],
    );
    has(
        &sql(
            &clinic(),
            "patients in cardio with no visits in the last hour",
        ),
        &[
            "t0.ward = 'cardio'",
            "NOT EXISTS",
            "t1.visited_at >= TIMESTAMP '2026-05-01 11:00:00'",
        ],
    );
}

#[test]
fn null_semantics() {
    has(
        &sql(&garden(), "how many invoices are not yet paid"),
        &["t0.paid_at IS NULL"],
    );
    has(
        &sql(&garden(), "suppliers with no manager"),
        &["t0.manager IS NULL"],
    );
    has(
        &sql(&clinic(), "how many patients have no email on file"),
        &["t0.email IS NULL"],
    );
    has(
        &sql(&clinic(), "visits already discharged"),
        &["t0.discharged_at IS NOT NULL"],
    );
}

#[test]
fn first_and_last_occurrence() {
    has(
        &sql(&garden(), "when was the last invoice paid"),
        &["MAX(t0.paid_at)"],
    );
    has(
        &sql(&clinic(), "when was the first cancelled visit"),
        &["MIN(t0.visited_at)", "t0.kind = 'cancelled'"],
    );
}

#[test]
fn clock_and_calendar_ranges() {
    let g = garden();
    has(
        &sql(&g, "invoices in the 09:00-10:00 hour"),
        &[
            "t0.issued_at >= TIMESTAMP '2026-05-01 09:00:00'",
            "t0.issued_at < TIMESTAMP '2026-05-01 10:00:00'",
        ],
    );
    has(
        &sql(&g, "invoices from 10:05 to 10:06"),
        &["'2026-05-01 10:05:00'", "< TIMESTAMP '2026-05-01 10:06:00'"],
    );
    let c = clinic();
    has(
        &sql(&c, "visits in the past quarter hour"),
        &["t0.visited_at >= TIMESTAMP '2026-05-01 11:45:00'"],
    );
    has(
        &sql(&c, "visits in the previous 30 minutes"),
        &["'2026-05-01 11:30:00'"],
    );
    has(
        &sql(&c, "visits in 2025"),
        &["'2025-01-01 00:00:00'", "< TIMESTAMP '2026-01-01 00:00:00'"],
    );
    has(
        &sql(&c, "visits yesterday"),
        &["'2026-04-30 00:00:00'", "< TIMESTAMP '2026-05-01 00:00:00'"],
    );
    has(
        &sql(&g, "invoices this morning"),
        &["'2026-05-01 00:00:00'", "< TIMESTAMP '2026-05-01 12:00:00'"],
    );
    has(
        &sql(&g, "invoices paid in the 11:00 hour"),
        &["t0.paid_at >= TIMESTAMP '2026-05-01 11:00:00'"],
    );
}

#[test]
fn typos_in_any_word() {
    has(
        &sql(&garden(), "avrage total of invoces"),
        &["AVG(t0.total)"],
    );
    has(
        &sql(&clinic(), "how many cancelld visits"),
        &["t0.kind = 'cancelled'"],
    );
}

#[test]
fn explicit_values_in_parentheses() {
    has(
        &sql(&garden(), "invoices still waiting (status open)"),
        &["t0.status = 'open'"],
    );
    has(
        &sql(
            &clinic(),
            "how many visits that never happened (kind cancelled)",
        ),
        &["t0.kind = 'cancelled'"],
    );
}

#[test]
fn a_constraint_nothing_matches_is_named_not_dropped() {
    let u = unmatched(
        &garden(),
        "how many suppliers in the north with a loyalty tier of gold",
    );
    assert!(u.iter().any(|p| p.contains("loyalty tier")), "{u:?}");
    let u = unmatched(&clinic(), "how many visits by left-handed surgeons");
    assert!(u.iter().any(|p| p.contains("handed")), "{u:?}");
    // a superlative with nothing to rank, a limit with nothing to cut
    let u = unmatched(
        &clinic(),
        "what is the age of patients in cardio on the hottest day",
    );
    assert!(!u.is_empty());
}

#[test]
fn confidence_is_lower_for_corrected_words() {
    let c = |s: &SchemaInfo, q: &str| match parse(s, q) {
        Parsed::Plan { confidence, .. } => confidence,
        Parsed::Clarify { message, .. } => panic!("{q}: {message}"),
    };
    let g = garden();
    assert!(c(&g, "average total of invoices") > c(&g, "avrage total of invoces"));
}

#[test]
fn a_negated_value_accounts_for_its_negator() {
    has(
        &sql(&garden(), "how many invoices are paid but not disputed yet"),
        &["t0.status <> 'disputed'"],
    );
}

#[test]
fn a_negator_is_never_linked_as_data() {
    // `notes` stems like "not": the negator must still negate
    let mut s = garden();
    let mut notes = col("notes", ColKind::Text, &[]);
    notes.free_text = true;
    s.tables[1].columns.push(notes);
    let s = SchemaInfo::new(s.tables, (0, 0));
    has(
        &sql(&s, "how many invoices are not disputed"),
        &["t0.status <> 'disputed'"],
    );
}

//! The constructs analysts use, each over two made-up schemas no dataset of the project has:
//! a garden-supply shop (suppliers, invoices) and a clinic (patients, visits).

use super::{Parsed, Parser};
use crate::llm::schema::{ColInfo, ColKind, IdShape, SchemaInfo, TableInfo};
use crate::llm::text::{stem, words_of_identifier};

fn col(name: &str, kind: ColKind, values: &[&str]) -> ColInfo {
    super::tests::col(name, kind, values, false)
}

fn id(name: &str, prefix: &str, key: bool) -> ColInfo {
    let mut c = col(name, ColKind::Text, &[]);
    c.is_key = key;
    c.id_shape = Some(IdShape {
        prefix: prefix.into(),
        digits: 4,
    });
    c.distinct = 500;
    c
}

fn nullable(mut c: ColInfo) -> ColInfo {
    c.nullable = true;
    c
}

fn table(name: &str, columns: Vec<ColInfo>, event_time: Option<&str>) -> TableInfo {
    let (schema, short) = name.split_once('.').unwrap();
    TableInfo {
        name: name.into(),
        stems: words_of_identifier(short).iter().map(|w| stem(w)).collect(),
        schema_stem: stem(schema),
        rows: 1000,
        primary_key: vec![columns[0].name.clone()],
        columns,
        event_time: event_time.map(str::to_string),
    }
}

/// garden.suppliers (supplier_id, region, rating, manager?, is_active) and garden.invoices
/// (invoice_id, supplier_id, total, status, issued_at, paid_at?).
fn garden() -> SchemaInfo {
    let suppliers = table(
        "garden.suppliers",
        vec![
            id("supplier_id", "SU", true),
            col("region", ColKind::Text, &["north", "south", "east"]),
            col("rating", ColKind::Number, &[]),
            nullable(col("manager", ColKind::Text, &["Ana Silva", "Tom Berg"])),
            col("is_active", ColKind::Bool, &[]),
        ],
        None,
    );
    let invoices = table(
        "garden.invoices",
        vec![
            id("invoice_id", "IN", true),
            id("supplier_id", "SU", false),
            col("total", ColKind::Number, &[]),
            col("status", ColKind::Text, &["open", "paid", "disputed"]),
            col("category", ColKind::Text, &["seeds", "tools", "soil"]),
            col("issued_at", ColKind::Timestamp, &[]),
            nullable(col("paid_at", ColKind::Timestamp, &[])),
        ],
        Some("issued_at"),
    );
    SchemaInfo::new(vec![suppliers, invoices], (0, 0))
}

/// clinic.patients (patient_id, ward, email?, age) and clinic.visits (visit_id, patient_id,
/// kind, fee, visited_at, discharged_at?).
fn clinic() -> SchemaInfo {
    let patients = table(
        "clinic.patients",
        vec![
            id("patient_id", "PA", true),
            col("ward", ColKind::Text, &["cardio", "ortho", "neuro"]),
            nullable(col("email", ColKind::Text, &["a@x.org", "b@y.org"])),
            col("age", ColKind::Integer, &[]),
        ],
        None,
    );
    let visits = table(
        "clinic.visits",
        vec![
            id("visit_id", "VI", true),
            id("patient_id", "PA", false),
            col("kind", ColKind::Text, &["booked", "cancelled", "attended"]),
            col("fee", ColKind::Number, &[]),
            col("visited_at", ColKind::Timestamp, &[]),
            nullable(col("discharged_at", ColKind::Timestamp, &[])),
        ],
        Some("visited_at"),
    );
    SchemaInfo::new(vec![patients, visits], (0, 0))
}

const AS_OF: &str = "2026-05-01T12:00:00Z";

fn parse(s: &SchemaInfo, q: &str) -> Parsed {
    let as_of = crate::store::value::parse_timestamp(AS_OF).unwrap();
    Parser::new(s, None).parse(q, as_of)
}

/// The SQL of an answer; panics with the clarification otherwise.
fn sql(s: &SchemaInfo, q: &str) -> String {
    match parse(s, q) {
        Parsed::Plan { plan, .. } => plan.to_sql(),
        Parsed::Clarify { message, .. } => panic!("{q}: clarified: {message}"),
    }
}

/// The phrases a clarification names; panics when the question was answered.
fn unmatched(s: &SchemaInfo, q: &str) -> Vec<String> {
    match parse(s, q) {
        Parsed::Plan { plan, .. } => panic!("{q}: answered {}", plan.to_sql()),
        Parsed::Clarify {
            unmatched, message, ..
        } => {
            assert!(!message.is_empty());
            unmatched
        }
    }
}

fn has(sql: &str, parts: &[&str]) {
    for p in parts {
        assert!(sql.contains(p), "{p:?} not in {sql}");
    }
}

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

/// music.plays (play_id, device, offline?, played_at) and music.support_requests
/// (request_id, play_id, topic, opened_at): a two-word table name, and a value of one table
/// (topic "offline") that names a flag of the other.
fn music() -> SchemaInfo {
    let plays = table(
        "music.plays",
        vec![
            id("play_id", "PL", true),
            id("track_id", "TR", false),
            col("device", ColKind::Text, &["phone", "web", "car"]),
            col("offline", ColKind::Bool, &[]),
            col("played_at", ColKind::Timestamp, &[]),
        ],
        Some("played_at"),
    );
    let requests = table(
        "music.support_requests",
        vec![
            id("request_id", "RQ", true),
            id("play_id", "PL", false),
            col("topic", ColKind::Text, &["offline", "billing", "login"]),
            col("opened_at", ColKind::Timestamp, &[]),
        ],
        Some("opened_at"),
    );
    let tracks = table(
        "music.tracks",
        vec![
            id("track_id", "TR", true),
            id("artist_id", "AR", false),
            col("genre", ColKind::Text, &["jazz", "folk"]),
        ],
        None,
    );
    let artists = table(
        "music.artists",
        vec![
            id("artist_id", "AR", true),
            col("label", ColKind::Text, &["Blue Owl", "Grey Fox"]),
        ],
        None,
    );
    SchemaInfo::new(vec![plays, requests, tracks, artists], (0, 0))
}

/// school.grades (grade_id, student_id, score) → school.students (student_id, class_id) →
/// school.classes (class_id, teacher): a chain of keys.
fn school() -> SchemaInfo {
    let grades = table(
        "school.grades",
        vec![
            id("grade_id", "GR", true),
            id("student_id", "ST", false),
            col("score", ColKind::Number, &[]),
        ],
        None,
    );
    let students = table(
        "school.students",
        vec![id("student_id", "ST", true), id("class_id", "CL", false)],
        None,
    );
    let classes = table(
        "school.classes",
        vec![
            id("class_id", "CL", true),
            col("teacher", ColKind::Text, &["Ms Reed", "Mr Cole"]),
        ],
        None,
    );
    SchemaInfo::new(vec![grades, students, classes], (0, 0))
}

#[test]
fn a_column_two_keys_away_joins_through_the_table_between() {
    has(
        &sql(&music(), "number of plays by artist label"),
        &[
            "JOIN music.tracks t1 ON t0.track_id = t1.track_id",
            "JOIN music.artists t2 ON t1.artist_id = t2.artist_id",
            "GROUP BY t2.label",
        ],
    );
    has(
        &sql(&school(), "average score by class teacher"),
        &[
            "AVG(t0.score)",
            "JOIN school.students t1 ON t0.student_id = t1.student_id",
            "JOIN school.classes t2 ON t1.class_id = t2.class_id",
            "GROUP BY t2.teacher",
        ],
    );
}

#[test]
fn existence_written_as_at_least_one() {
    let q = sql(
        &garden(),
        "how many suppliers have at least one disputed invoice",
    );
    has(&q, &["COUNT(*)", "FROM garden.invoices", "'disputed'"]);
    assert!(!q.contains(">= 1"), "{q}");
    let q = sql(&clinic(), "patients with at least one cancelled visit");
    has(&q, &["FROM clinic.visits", "'cancelled'"]);
}

#[test]
fn nobody_is_an_absence_of_related_rows() {
    has(
        &sql(&clinic(), "which patients has nobody visited"),
        &["NOT EXISTS (SELECT 1 FROM clinic.visits"],
    );
    has(
        &sql(&music(), "plays that nobody filed a support request about"),
        &["NOT EXISTS (SELECT 1 FROM music.support_requests"],
    );
}

#[test]
fn the_head_noun_of_a_two_word_table_name_names_it() {
    has(
        &sql(&music(), "when was the first billing request today"),
        &[
            "MIN(t0.opened_at)",
            "FROM music.support_requests",
            "'billing'",
        ],
    );
    has(
        &sql(&music(), "how many login requests"),
        &["COUNT(*)", "FROM music.support_requests", "'login'"],
    );
}

#[test]
fn a_value_naming_a_flag_groups_by_the_flag() {
    has(
        &sql(&music(), "plays split by device and offline flag"),
        &["GROUP BY t0.device, t0.offline"],
    );
    // as a condition it filters
    has(
        &sql(&music(), "how many offline plays by device"),
        &["t0.offline = true", "GROUP BY t0.device"],
    );
}

#[test]
fn a_table_column_and_value_list_the_rows() {
    let q = sql(&garden(), "invoices status disputed");
    has(&q, &["t0.invoice_id", "t0.status = 'disputed'"]);
    assert!(!q.contains("COUNT"), "{q}");
}

#[test]
fn two_share_words_name_one_share() {
    has(
        &sql(
            &garden(),
            "what share of invoices are disputed, as a percentage",
        ),
        &["100.0 * SUM(CASE WHEN t0.status = 'disputed'"],
    );
}

#[test]
fn a_constraint_on_a_table_out_of_reach_is_named() {
    // clinic.rooms relates to nothing: its value cannot narrow the visits
    let s = with_table(
        clinic(),
        table(
            "clinic.rooms",
            vec![
                id("room_id", "RM", true),
                col("floor", ColKind::Text, &["upper", "lower"]),
            ],
            None,
        ),
    );
    let u = unmatched(&s, "how many cancelled visits on the upper floor");
    assert!(u.iter().any(|p| p.contains("upper")), "{u:?}");
    // a table out of reach, named only to narrow
    let s = with_table(
        garden(),
        table(
            "garden.greenhouses",
            vec![
                id("greenhouse_id", "GH", true),
                col("climate", ColKind::Text, &["tropical", "arid"]),
            ],
            None,
        ),
    );
    let u = unmatched(&s, "total of disputed invoices for greenhouses");
    assert!(u.iter().any(|p| p.contains("greenhouses")), "{u:?}");
}

#[test]
fn words_that_each_name_a_value_are_values_not_a_phrase_of_text() {
    // notes holds the phrase "seeds still disputed", but "seeds" is a category and
    // "disputed" a status: without a cue word ("mentioning") they are those values
    let s = with_text(garden(), 1, "notes", &["seeds still disputed"]);
    let q = sql(&s, "how many invoices for seeds still disputed");
    has(&q, &["t0.category = 'seeds'", "t0.status = 'disputed'"]);
    assert!(!q.contains("LIKE"), "{q}");
    // with a cue it is the text
    has(
        &sql(&s, "how many invoices mentioning seeds still disputed"),
        &["LIKE"],
    );
}

#[test]
fn a_superlative_before_which_asks_which_reading() {
    // the single largest invoice's supplier, or the supplier with the most invoices?
    let u = unmatched(
        &garden(),
        "largest invoice today - which supplier was it from?",
    );
    assert_eq!(u, vec!["largest".to_string()]);
    let u = unmatched(&clinic(), "the busiest visit kind, which patient was it");
    assert!(!u.is_empty());
    // after the "which" it ranks the groups
    has(
        &sql(&garden(), "which supplier has the most invoices"),
        &["GROUP BY t0.supplier_id", "ORDER BY COUNT(*) DESC LIMIT 1"],
    );
}

/// `s` with one more table.
fn with_table(s: SchemaInfo, t: TableInfo) -> SchemaInfo {
    let mut tables = s.tables;
    tables.push(t);
    SchemaInfo::new(tables, (0, 0))
}

/// `schema` with a free-text column on table `t` whose rows hold `texts`.
fn with_text(s: SchemaInfo, t: usize, name: &str, texts: &[&str]) -> SchemaInfo {
    let mut tables = s.tables;
    let mut c = col(name, ColKind::Text, &[]);
    c.free_text = true;
    for text in texts {
        crate::llm::schema::add_phrases(&mut c.phrases, text);
    }
    tables[t].columns.push(c);
    SchemaInfo::new(tables, (0, 0))
}

#[test]
fn text_mentions_without_quotes() {
    let g = with_text(
        garden(),
        1,
        "remarks",
        &["pallet arrived with a cracked lid", "late delivery again"],
    );
    has(
        &sql(&g, "invoices mentioning a cracked lid"),
        &["LIKE '%cracked lid%'"],
    );
    let c = with_text(
        clinic(),
        1,
        "summary",
        &[
            "patient reports a sharp back pain",
            "follow up on blood test",
        ],
    );
    has(
        &sql(&c, "how many visits about back pain"),
        &["COUNT(*)", "LIKE '%back pain%'"],
    );
}

#[test]
fn a_measure_of_one_entity_is_its_own_column() {
    let q = sql(&garden(), "what did invoice IN0042 come to");
    has(&q, &["t0.total", "t0.invoice_id = 'IN0042'"]);
    assert!(!q.contains("SUM("), "{q}");
    let q = sql(&clinic(), "how much was visit VI0007");
    has(&q, &["t0.fee", "t0.visit_id = 'VI0007'"]);
    assert!(!q.contains("SUM("), "{q}");
}

#[test]
fn tables_whose_names_share_a_word() {
    // garden.invoices and archive.invoices: the question's other words decide
    let s = with_table(
        garden(),
        table(
            "archive.invoices",
            vec![
                id("invoice_id", "IN", true),
                col("archived_reason", ColKind::Text, &["expired", "merged"]),
            ],
            None,
        ),
    );
    has(
        &sql(&s, "how many invoices are disputed"),
        &["FROM garden.invoices"],
    );
    has(
        &sql(&s, "how many invoices with archived reason expired"),
        &["FROM archive.invoices"],
    );
    // nothing decides: ask which, never pick one silently
    assert_eq!(
        unmatched(&s, "how many invoices"),
        vec!["invoices".to_string()]
    );
    // the source named decides, as the clarification suggests
    has(
        &sql(&s, "how many archive invoices"),
        &["FROM archive.invoices"],
    );
    has(
        &sql(&s, "how many garden.invoices"),
        &["FROM garden.invoices"],
    );
    let s = with_table(
        clinic(),
        table(
            "legacy.visits",
            vec![
                id("visit_id", "VI", true),
                col("kind", ColKind::Text, &["booked", "cancelled"]),
            ],
            None,
        ),
    );
    assert_eq!(
        unmatched(&s, "number of visits"),
        vec!["visits".to_string()]
    );
    has(
        &sql(&s, "number of visits with a fee over 20"),
        &["FROM clinic.visits"],
    );
    // one holding most of the rows is taken, the answer says so, below the reliable band
    let mut tables = s.tables;
    tables[2].rows = 100;
    let s = SchemaInfo::new(tables, (0, 0));
    match parse(&s, "number of visits") {
        Parsed::Plan { plan, confidence } => {
            assert_eq!(plan.table, "clinic.visits");
            assert!(
                plan.assumed[0].contains("legacy.visits"),
                "{:?}",
                plan.assumed
            );
            assert!(confidence < 0.8, "{confidence}");
        }
        other => panic!("{other:?}"),
    }
}

/// garden with deliveries (delivery_id, supplier_id, late, delivered_at): a second kind of
/// row each supplier has.
fn garden_deliveries() -> SchemaInfo {
    with_table(
        garden(),
        table(
            "garden.deliveries",
            vec![
                id("delivery_id", "DL", true),
                id("supplier_id", "SU", false),
                col("late", ColKind::Bool, &[]),
                col("delivered_at", ColKind::Timestamp, &[]),
            ],
            Some("delivered_at"),
        ),
    )
}

/// clinic with prescriptions (prescription_id, patient_id, drug, issued_at).
fn clinic_prescriptions() -> SchemaInfo {
    with_table(
        clinic(),
        table(
            "clinic.prescriptions",
            vec![
                id("prescription_id", "RX", true),
                id("patient_id", "PA", false),
                col("drug", ColKind::Text, &["insulin", "statin"]),
                col("issued_at", ColKind::Timestamp, &[]),
            ],
            Some("issued_at"),
        ),
    )
}

#[test]
fn existence_on_both_sides() {
    // two kinds of related rows, each with its own conditions, the time shared
    let q = sql(
        &clinic_prescriptions(),
        "how many patients both had a cancelled visit and got an insulin prescription today",
    );
    has(
        &q,
        &[
            "SELECT COUNT(*) AS patients FROM clinic.patients t0",
            "t0.patient_id IN (SELECT t1.patient_id FROM clinic.visits t1 WHERE t1.kind = 'cancelled' AND t1.visited_at >= TIMESTAMP '2026-05-01 00:00:00')",
            "t0.patient_id IN (SELECT t2.patient_id FROM clinic.prescriptions t2 WHERE t2.drug = 'insulin' AND t2.issued_at >= TIMESTAMP '2026-05-01 00:00:00')",
        ],
    );
    // "… and also …", listing the entity, each clause with its own time
    let q = sql(
        &garden_deliveries(),
        "suppliers that had a disputed invoice today and also a late delivery in the last hour",
    );
    has(
        &q,
        &[
            "SELECT t0.supplier_id AS supplier_id FROM garden.suppliers t0",
            "FROM garden.invoices t1 WHERE t1.status = 'disputed' AND t1.issued_at >= TIMESTAMP '2026-05-01 00:00:00'",
            "FROM garden.deliveries t2 WHERE t2.late = true AND t2.delivered_at >= TIMESTAMP '2026-05-01 11:00:00'",
        ],
    );
    // the same table on both sides: two existences, not one row that is both
    let q = sql(
        &clinic(),
        "of the patients in cardio who booked a visit this week, how many also cancelled one",
    );
    has(
        &q,
        &[
            "COUNT(*)",
            "t0.ward = 'cardio'",
            "FROM clinic.visits t1 WHERE t1.kind = 'booked'",
            "FROM clinic.visits t2 WHERE t2.kind = 'cancelled'",
        ],
    );
    // a clause nothing matches is named, never dropped
    let u = unmatched(
        &clinic_prescriptions(),
        "how many patients both had a cancelled visit and paid a parking fine",
    );
    assert!(u.iter().any(|p| p.contains("parking")), "{u:?}");
}

#[test]
fn conditions_on_a_count() {
    // how many related rows each row has
    let q = sql(&garden(), "suppliers with more than 3 invoices");
    has(
        &q,
        &[
            "FROM garden.suppliers t0",
            "t0.supplier_id IN (SELECT t1.supplier_id FROM garden.invoices t1 GROUP BY t1.supplier_id HAVING COUNT(*) > 3)",
        ],
    );
    let q = sql(
        &clinic(),
        "how many patients have at least 2 cancelled visits",
    );
    has(
        &q,
        &[
            "SELECT COUNT(*) AS patients FROM clinic.patients t0",
            "WHERE t1.kind = 'cancelled' GROUP BY t1.patient_id HAVING COUNT(*) >= 2",
        ],
    );
    // how many rows each group has
    let q = sql(
        &garden(),
        "which categories had more than 10 disputed invoices",
    );
    has(
        &q,
        &[
            "t0.status = 'disputed'",
            "GROUP BY t0.category HAVING COUNT(*) > 10",
        ],
    );
    match parse(
        &garden(),
        "which categories had fewer than 3 disputed invoices",
    ) {
        Parsed::Plan { plan, .. } => {
            assert!(plan.to_sql().contains("HAVING COUNT(*) < 3"));
            assert!(plan.assumed.iter().any(|a| a.contains("only groups")));
        }
        other => panic!("{other:?}"),
    }
    let q = sql(&clinic(), "which hours today had at least 4 visits");
    has(
        &q,
        &["GROUP BY date_trunc('hour', t0.visited_at) HAVING COUNT(*) >= 4"],
    );
    // "fewer than": rows with none count too
    let q = sql(&garden(), "suppliers with fewer than 2 disputed invoices");
    has(
        &q,
        &[
            "t0.supplier_id NOT IN (SELECT t1.supplier_id FROM garden.invoices t1 WHERE t1.supplier_id IS NOT NULL AND t1.status = 'disputed' GROUP BY t1.supplier_id HAVING COUNT(*) >= 2)",
        ],
    );
    has(
        &sql(&clinic(), "how many patients have at most 1 visit"),
        &[
            "NOT IN (SELECT t1.patient_id FROM clinic.visits t1",
            "HAVING COUNT(*) > 1",
        ],
    );
    // "at least one" with no condition on the rows is still an existence
    has(
        &sql(&garden(), "suppliers with at least one invoice"),
        &["t0.supplier_id IN (SELECT t1.supplier_id FROM garden.invoices t1)"],
    );
}

/// post.parcels (parcel_id, sender_id → customers, dest_country, weight, sent_at) and
/// post.customers (customer_id, country, city).
fn post() -> SchemaInfo {
    let parcels = table(
        "post.parcels",
        vec![
            id("parcel_id", "PC", true),
            id("sender_id", "CU", false),
            col("dest_country", ColKind::Text, &["FR", "DE", "PT"]),
            col("weight", ColKind::Number, &[]),
            col("sent_at", ColKind::Timestamp, &[]),
        ],
        Some("sent_at"),
    );
    let customers = table(
        "post.customers",
        vec![
            id("customer_id", "CU", true),
            col("country", ColKind::Text, &["FR", "DE", "ES"]),
            col("city", ColKind::Text, &["Lyon", "Bonn"]),
        ],
        None,
    );
    SchemaInfo::new(vec![parcels, customers], (0, 0))
}

/// hr.staff (staff_id, manager_id → staff, office_city, salary): a table that points at
/// itself.
fn hr() -> SchemaInfo {
    let mut manager = id("manager_id", "ST", false);
    manager.nullable = true;
    let staff = table(
        "hr.staff",
        vec![
            id("staff_id", "ST", true),
            manager,
            col("office_city", ColKind::Text, &["Oslo", "Bergen"]),
            col("salary", ColKind::Number, &[]),
        ],
        None,
    );
    SchemaInfo::new(vec![staff], (0, 0))
}

#[test]
fn comparisons_between_columns_of_related_rows() {
    let q = sql(
        &post(),
        "how many parcels went to a country other than the sender's",
    );
    has(
        &q,
        &[
            "JOIN post.customers t1 ON t0.sender_id = t1.customer_id",
            "t0.dest_country <> t1.country",
        ],
    );
    let q = sql(&post(), "parcels sent to the same country as the sender");
    has(&q, &["t0.dest_country = t1.country"]);
    // a table that points at itself
    let q = sql(&hr(), "staff in a different office city from their manager");
    has(
        &q,
        &[
            "JOIN hr.staff t1 ON t0.manager_id = t1.staff_id",
            "t0.office_city <> t1.office_city",
        ],
    );
    // nothing to compare with: named, not dropped
    let u = unmatched(
        &post(),
        "parcels heavier than usual for a country other than the moon",
    );
    assert!(!u.is_empty());
}

#[test]
fn a_plural_value_names_the_rows_a_count_condition_counts() {
    // center.contacts: no table of agents, the agent is a column
    let contacts = table(
        "center.contacts",
        vec![
            id("contact_id", "CO", true),
            col("agent", ColKind::Text, &["Ines", "Omar"]),
            col("channel", ColKind::Text, &["call", "email", "chat"]),
            col("duration", ColKind::Number, &[]),
            col("opened_at", ColKind::Timestamp, &[]),
        ],
        Some("opened_at"),
    );
    let s = SchemaInfo::new(vec![contacts], (0, 0));
    let q = sql(&s, "which agents had more than 20 calls today");
    has(
        &q,
        &[
            "t0.channel = 'call'",
            "GROUP BY t0.agent HAVING COUNT(*) > 20",
        ],
    );
    assert!(!q.contains("duration >"), "{q}");
    // lib.members and lib.loans (loan_id, member_id, kind): the count is of related rows
    let members = table(
        "lib.members",
        vec![
            id("member_id", "ME", true),
            col("branch", ColKind::Text, &["central", "harbour"]),
        ],
        None,
    );
    let loans = table(
        "lib.loans",
        vec![
            id("loan_id", "LO", true),
            id("member_id", "ME", false),
            col("kind", ColKind::Text, &["checkout", "renewal"]),
            col("fine", ColKind::Number, &[]),
        ],
        None,
    );
    let s = SchemaInfo::new(vec![members, loans], (0, 0));
    has(
        &sql(&s, "members in central with more than 3 renewals"),
        &[
            "FROM lib.members t0",
            "t0.branch = 'central'",
            "WHERE t1.kind = 'renewal' GROUP BY t1.member_id HAVING COUNT(*) > 3",
        ],
    );
}

//! The constructs analysts use, each over two made-up schemas no dataset of the project has:
//! a garden-supply shop (suppliers, invoices) and a clinic (patients, visits).

mod constructs;
mod relations;

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

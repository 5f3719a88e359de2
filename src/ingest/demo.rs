//! The built-in demo source: a deterministic generator of the reference dataset
//! (`../shared/spec/dataset.md`) — six CDC topics from DB2 and Hive, Debezium keys and envelopes
//! in either JSON form, snapshots, updates, deletes followed by tombstones, late events, and the
//! situations streamq must notice: a fraud burst, a merchant amount spike, a topic stall and a
//! duplicate delivery.
//!
//! Time is simulated: each event advances the clock by `1 / rate` seconds, so a paced demo
//! runs in step with the wall clock and `--rate max` produces the same records as fast as
//! possible. Every hour of simulated time repeats the situations, at these minutes:
//! stall of `db2.orders` 10–20, duplicate delivery at 22, amount spike 25–35, fraud burst 40–45.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::actors::router::SourceEvent;
use crate::config::{DemoConfig, DemoFormat, Rate};
use crate::ingest::debezium::encode_decimal_bytes;
use crate::ingest::partitioner::partition_for;
use crate::ingest::record::Record;
use crate::ingest::rng::Rng;

const REGIONS: [&str; 4] = ["NA", "EMEA", "APAC", "LATAM"];
const COUNTRIES: [&[&str]; 4] = [
    &["US", "CA", "MX"],
    &["DE", "FR", "GB", "NL", "ES", "IT", "CH"],
    &["JP", "SG", "AU", "IN", "KR"],
    &["BR", "AR", "CL", "CO", "PE"],
];
const CURRENCIES: [&str; 5] = ["USD", "EUR", "GBP", "JPY", "CHF"];
const MERCHANTS: [&str; 12] = [
    "Northwind Books",
    "Contoso Electronics",
    "Fabrikam Outfitters",
    "Blue Yonder Airlines",
    "Tailspin Toys",
    "Wide World Importers",
    "Adventure Works",
    "Coho Winery",
    "Litware Grocers",
    "Proseware Pharmacy",
    "Margie's Travel",
    "Alpine Ski House",
];
const BRANCHES: [&str; 8] = [
    "New York",
    "Toronto",
    "Berlin",
    "London",
    "Paris",
    "Tokyo",
    "Singapore",
    "Sao Paulo",
];
const CATEGORIES: [&str; 6] = ["electronics", "books", "home", "grocery", "apparel", "toys"];
const BRANDS: [&str; 8] = [
    "Brightnest",
    "Northpeak",
    "Acme",
    "Lumina",
    "Voltix",
    "Paperleaf",
    "Kidzone",
    "Freshfield",
];
const NOTES: [&str; 5] = [
    "leave at the door",
    "gift wrap please",
    "call before delivery",
    "fragile",
    "deliver after 5pm",
];
const DECLINE_REASONS: [&str; 4] = [
    "insufficient_funds",
    "suspected_fraud",
    "card_expired",
    "limit_exceeded",
];
const FIRST: [&str; 10] = [
    "Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goran", "Hana", "Ivan", "Jun",
];
const LAST: [&str; 10] = [
    "Silva", "Meyer", "Tanaka", "Okafor", "Novak", "Garcia", "Smith", "Kowalski", "Rossi", "Haddad",
];

/// Column types of the demo tables, for the schema-enabled JSON form.
#[derive(Clone, Copy)]
enum Ct {
    Str,
    OptStr,
    Int32,
    Double,
    OptDouble,
    Decimal2,
    MicroTs,
    Date,
    Bool,
}

struct TableDef {
    topic: &'static str,
    connector: &'static str,
    table: &'static str,
    columns: &'static [(&'static str, Ct)],
}

const TXN: TableDef = TableDef {
    topic: "db2.transactions",
    connector: "db2",
    table: "TRANSACTIONS",
    columns: &[
        ("TXN_ID", Ct::Str),
        ("ACCOUNT_ID", Ct::Str),
        ("CUSTOMER_ID", Ct::Str),
        ("AMOUNT", Ct::Decimal2),
        ("CURRENCY", Ct::Str),
        ("TXN_TYPE", Ct::Str),
        ("CHANNEL", Ct::Str),
        ("STATUS", Ct::Str),
        ("MERCHANT", Ct::OptStr),
        ("REGION", Ct::Str),
        ("COUNTRY", Ct::Str),
        ("DESCRIPTION", Ct::Str),
        ("DECLINE_REASON", Ct::OptStr),
        ("CREATED_AT", Ct::MicroTs),
    ],
};
const ACCOUNTS: TableDef = TableDef {
    topic: "db2.accounts",
    connector: "db2",
    table: "ACCOUNTS",
    columns: &[
        ("ACCOUNT_ID", Ct::Str),
        ("CUSTOMER_ID", Ct::Str),
        ("ACCOUNT_TYPE", Ct::Str),
        ("CURRENCY", Ct::Str),
        ("BALANCE", Ct::Decimal2),
        ("CREDIT_LIMIT", Ct::OptDouble),
        ("STATUS", Ct::Str),
        ("BRANCH", Ct::Str),
        ("OPENED_ON", Ct::Date),
        ("UPDATED_AT", Ct::MicroTs),
    ],
};
const ORDERS: TableDef = TableDef {
    topic: "db2.orders",
    connector: "db2",
    table: "ORDERS",
    columns: &[
        ("ORDER_ID", Ct::Str),
        ("CUSTOMER_ID", Ct::Str),
        ("PRODUCT_ID", Ct::Str),
        ("QUANTITY", Ct::Int32),
        ("UNIT_PRICE", Ct::Decimal2),
        ("TOTAL", Ct::Decimal2),
        ("STATUS", Ct::Str),
        ("PAYMENT_METHOD", Ct::Str),
        ("SHIP_COUNTRY", Ct::Str),
        ("NOTES", Ct::OptStr),
        ("CREATED_AT", Ct::MicroTs),
        ("UPDATED_AT", Ct::MicroTs),
    ],
};
const CUSTOMERS: TableDef = TableDef {
    topic: "hive.customers",
    connector: "hive",
    table: "customers",
    columns: &[
        ("customer_id", Ct::Str),
        ("name", Ct::Str),
        ("email", Ct::Str),
        ("segment", Ct::Str),
        ("country", Ct::Str),
        ("region", Ct::Str),
        ("signup_date", Ct::Str),
        ("risk_score", Ct::Double),
        ("is_active", Ct::Bool),
    ],
};
const PRODUCTS: TableDef = TableDef {
    topic: "hive.products",
    connector: "hive",
    table: "products",
    columns: &[
        ("product_id", Ct::Str),
        ("name", Ct::Str),
        ("category", Ct::Str),
        ("brand", Ct::Str),
        ("price", Ct::Double),
        ("in_stock", Ct::Bool),
        ("updated_at", Ct::Str),
    ],
};
const SALES: TableDef = TableDef {
    topic: "hive.transactions",
    connector: "hive",
    table: "transactions",
    columns: &[
        ("sale_id", Ct::Str),
        ("store_id", Ct::Str),
        ("product_id", Ct::Str),
        ("customer_id", Ct::OptStr),
        ("quantity", Ct::Int32),
        ("amount", Ct::Double),
        ("payment_type", Ct::Str),
        ("region", Ct::Str),
        ("sale_time", Ct::Str),
    ],
};
const TABLES: [&TableDef; 6] = [&TXN, &ACCOUNTS, &ORDERS, &CUSTOMERS, &PRODUCTS, &SALES];

fn connect_type(ct: Ct) -> Json {
    let (ty, optional, name, params): (&str, bool, Option<&str>, Option<Json>) = match ct {
        Ct::Str => ("string", false, None, None),
        Ct::OptStr => ("string", true, None, None),
        Ct::Int32 => ("int32", false, None, None),
        Ct::Double => ("double", false, None, None),
        Ct::OptDouble => ("double", true, None, None),
        Ct::Decimal2 => (
            "bytes",
            false,
            Some("org.apache.kafka.connect.data.Decimal"),
            Some(json!({"scale": "2", "connect.decimal.precision": "12"})),
        ),
        Ct::MicroTs => (
            "int64",
            false,
            Some("io.debezium.time.MicroTimestamp"),
            None,
        ),
        Ct::Date => ("int32", false, Some("io.debezium.time.Date"), None),
        Ct::Bool => ("boolean", false, None, None),
    };
    let mut f = json!({"type": ty, "optional": optional});
    if let Some(n) = name {
        f["name"] = json!(n);
        f["version"] = json!(1);
    }
    if let Some(p) = params {
        f["parameters"] = p;
    }
    f
}

fn envelope_schema(def: &TableDef) -> Json {
    let row_fields: Vec<Json> = def
        .columns
        .iter()
        .map(|(n, ct)| {
            let mut f = connect_type(*ct);
            f["field"] = json!(n);
            f
        })
        .collect();
    let row_name = format!("{}.{}.Value", def.connector, def.table);
    json!({
        "type": "struct",
        "fields": [
            {"type": "struct", "fields": row_fields.clone(), "optional": true, "name": row_name, "field": "before"},
            {"type": "struct", "fields": row_fields, "optional": true, "name": row_name, "field": "after"},
            {"type": "struct", "optional": false, "name": "io.debezium.connector.common.Source", "field": "source",
             "fields": [{"type": "string", "optional": false, "field": "connector"}, {"type": "int64", "optional": false, "field": "ts_ms"}]},
            {"type": "string", "optional": false, "field": "op"},
            {"type": "int64", "optional": true, "field": "ts_ms"},
        ],
        "optional": false,
        "name": format!("{}.{}.Envelope", def.connector, def.table),
    })
}

/// A row under construction: column name → JSON value, amounts as plain numbers (converted to
/// Decimal bytes in the schema-enabled form).
type Row = serde_json::Map<String, Json>;

struct Account {
    row: Row,
}

#[derive(Clone)]
struct Customer {
    id: String,
    region: usize,
    row: Row,
}

#[derive(Clone)]
struct Product {
    id: String,
    price: f64,
    row: Row,
}

/// The generator. Deterministic for (seed, start, rate).
pub struct DemoGenerator {
    rng: Rng,
    format: DemoFormat,
    partitions: i32,
    start_ms: i64,
    clock_ms: f64,
    step_ms: f64,
    offsets: HashMap<&'static str, Vec<i64>>,
    schemas: HashMap<&'static str, Json>,
    topics: HashMap<&'static str, Arc<str>>,
    customers: Vec<Customer>,
    accounts: Vec<Account>,
    products: Vec<Product>,
    pending: VecDeque<Row>,
    approved: VecDeque<Row>,
    orders: VecDeque<Row>,
    next_txn: u64,
    next_order: u64,
    next_sale: u64,
    queue: VecDeque<Record>,
    recent_txn: VecDeque<Record>,
    duplicated_cycle: i64,
    lsn: u64,
}

impl DemoGenerator {
    /// `events_per_sim_second`: how many events each simulated second holds.
    pub fn new(
        seed: u64,
        start_ms: i64,
        events_per_sim_second: f64,
        format: DemoFormat,
        partitions: i32,
    ) -> Self {
        let mut g = Self {
            rng: Rng::new(seed),
            format,
            partitions: partitions.max(1),
            start_ms,
            clock_ms: start_ms as f64,
            step_ms: 1000.0 / events_per_sim_second.max(0.001),
            offsets: HashMap::new(),
            schemas: TABLES
                .iter()
                .map(|d| (d.topic, envelope_schema(d)))
                .collect(),
            topics: TABLES
                .iter()
                .map(|d| (d.topic, Arc::<str>::from(d.topic)))
                .collect(),
            customers: Vec::new(),
            accounts: Vec::new(),
            products: Vec::new(),
            pending: VecDeque::new(),
            approved: VecDeque::new(),
            orders: VecDeque::new(),
            next_txn: 17_950_000,
            next_order: 15_291_800,
            next_sale: 177_217_000,
            queue: VecDeque::new(),
            recent_txn: VecDeque::new(),
            duplicated_cycle: -1,
            lsn: 0x11440,
        };
        g.snapshot();
        g
    }

    fn now_ms(&self) -> i64 {
        self.clock_ms as i64
    }

    /// Minute within the current simulated hour, and which hour.
    fn sim_cycle(&self) -> (i64, i64) {
        let mins = (self.now_ms() - self.start_ms) / 60_000;
        (mins % 60, mins / 60)
    }

    fn snapshot(&mut self) {
        for i in 0..400 {
            let region = self.rng.weighted(&[0.42, 0.27, 0.19, 0.12]);
            let id = format!("C{}", 100_000 + i * 37 + self.rng.below(30));
            let first = *self.rng.pick(&FIRST);
            let last = *self.rng.pick(&LAST);
            let segment = ["retail", "premium", "business"][self.rng.weighted(&[0.6, 0.25, 0.15])];
            let name = if segment == "business" {
                format!(
                    "{last} {} Ltd",
                    ["Capital", "Trading", "Labs", "Foods"][self.rng.below(4)]
                )
            } else {
                format!("{first} {last}")
            };
            let row = obj(json!({
                "customer_id": id, "name": name,
                "email": format!("{}.{}{}@example.com", first.to_lowercase(), last.to_lowercase(), self.rng.below(100)),
                "segment": segment, "country": *self.rng.pick(COUNTRIES[region]), "region": REGIONS[region],
                "signup_date": crate::store::value::format_date(17_000 + self.rng.below(3_400) as i32),
                "risk_score": round(self.rng.f64(), 3), "is_active": self.rng.chance(0.93),
            }));
            self.customers.push(Customer {
                id: id.clone(),
                region,
                row: row.clone(),
            });
            self.emit(&CUSTOMERS, &id, "r", None, Some(row));
        }
        for i in 0..240 {
            let cat = self.rng.below(CATEGORIES.len());
            let brand = *self.rng.pick(&BRANDS);
            let id = format!("P{}", 10_000 + i * 211 + self.rng.below(200));
            let price = round(self.rng.log_normal(30.0, 0.9).clamp(1.0, 2_000.0), 2);
            let row = obj(json!({
                "product_id": id, "name": format!("{brand} {} {}", CATEGORIES[cat], ["S", "M", "L", "X"][self.rng.below(4)]),
                "category": CATEGORIES[cat], "brand": brand, "price": price, "in_stock": self.rng.chance(0.85),
                "updated_at": crate::store::value::format_timestamp_us((self.start_ms - 86_400_000 * (1 + self.rng.below(90) as i64)) * 1000),
            }));
            self.products.push(Product {
                id: id.clone(),
                price,
                row: row.clone(),
            });
            self.emit(&PRODUCTS, &id, "r", None, Some(row));
        }
        for i in 0..589 {
            let c = self.rng.below(self.customers.len());
            let ty = ["checking", "savings", "credit", "business"]
                [self.rng.weighted(&[0.44, 0.27, 0.19, 0.1])];
            let balance = if ty == "credit" {
                -round(self.rng.log_normal(800.0, 1.0), 2)
            } else {
                round(self.rng.log_normal(3_000.0, 1.2), 2)
            };
            let id = format!("A{}", 100_000 + i * 41 + self.rng.below(40));
            let row = obj(json!({
                "ACCOUNT_ID": id, "CUSTOMER_ID": self.customers[c].id,
                "ACCOUNT_TYPE": ty, "CURRENCY": CURRENCIES[self.rng.weighted(&[0.45, 0.3, 0.12, 0.08, 0.05])],
                "BALANCE": balance,
                "CREDIT_LIMIT": if ty == "credit" { json!(round(1_000.0 * (1 + self.rng.below(20)) as f64, 2)) } else { Json::Null },
                "STATUS": (["active", "frozen", "closed"][self.rng.weighted(&[0.9, 0.05, 0.05])]),
                "BRANCH": *self.rng.pick(&BRANCHES), "OPENED_ON": 14_000 + self.rng.below(6_000) as i64,
                "UPDATED_AT": (self.start_ms - self.rng.below(1_000_000_000) as i64) * 1000,
            }));
            self.accounts.push(Account { row: row.clone() });
            self.emit(&ACCOUNTS, &id, "r", None, Some(row));
        }
    }

    /// Builds one record and queues it.
    fn emit(
        &mut self,
        def: &'static TableDef,
        id: &str,
        op: &str,
        before: Option<Row>,
        after: Option<Row>,
    ) {
        let ts = self.now_ms();
        let pk = def.columns[0].0;
        let key = format!(r#"{{"{pk}":"{id}"}}"#).into_bytes();
        let partition = partition_for(&key, self.partitions);
        self.lsn += 1;
        let mut source = json!({
            "version": if def.connector == "db2" { "2.7.3.Final" } else { "1.3.0" },
            "connector": def.connector,
            "name": if def.connector == "db2" { "bankdb" } else { "warehouse" },
            "ts_ms": ts,
            "snapshot": if op == "r" { "true" } else { "false" },
            "db": if def.connector == "db2" { "BANKDB" } else { "warehouse" },
        });
        if def.connector == "db2" {
            source["schema"] = json!("CORE");
            source["table"] = json!(def.table);
            source["change_lsn"] = if op == "r" {
                Json::Null
            } else {
                json!(format!("00000000:{:08X}:0001", self.lsn))
            };
            source["commit_lsn"] = json!(format!("00000000:{:08X}:0002", self.lsn));
        } else {
            source["table"] = json!(def.table);
        }
        let schema_form = self.format == DemoFormat::JsonSchema;
        let conv = |r: Option<Row>| -> Json {
            match r {
                None => Json::Null,
                Some(mut row) => {
                    if schema_form {
                        for (name, ct) in def.columns {
                            if let (Ct::Decimal2, Some(v)) =
                                (ct, row.get(*name).and_then(Json::as_f64))
                            {
                                row.insert(
                                    name.to_string(),
                                    json!(encode_decimal_bytes((v * 100.0).round() as i128)),
                                );
                            }
                        }
                    }
                    Json::Object(row)
                }
            }
        };
        let envelope = json!({
            "before": conv(before), "after": conv(after), "source": source,
            "op": op, "ts_ms": ts, "transaction": Json::Null,
        });
        let value = if schema_form {
            json!({"schema": self.schemas[def.topic], "payload": envelope})
        } else {
            envelope
        };
        self.push(
            def.topic,
            partition,
            ts,
            key.clone(),
            Some(serde_json::to_vec(&value).expect("JSON")),
        );
        if op == "d" {
            self.push(def.topic, partition, ts, key, None);
        }
    }

    fn push(
        &mut self,
        topic: &'static str,
        partition: i32,
        ts: i64,
        key: Vec<u8>,
        value: Option<Vec<u8>>,
    ) {
        let parts = self.partitions as usize;
        let offs = self.offsets.entry(topic).or_insert_with(|| vec![0; parts]);
        let offset = offs[partition as usize];
        offs[partition as usize] += 1;
        let rec = Record {
            topic: self.topics[topic].clone(),
            partition,
            offset,
            ts_ms: ts,
            key: Some(key),
            value,
        };
        if topic == TXN.topic {
            self.recent_txn.push_back(rec.clone());
            if self.recent_txn.len() > 50 {
                self.recent_txn.pop_front();
            }
        }
        self.queue.push_back(rec);
    }

    /// Event time in µs: now, or minutes behind for a late event.
    fn event_time_us(&mut self) -> i64 {
        let late = if self.rng.chance(0.006) {
            60_000 * (3 + self.rng.below(6) as i64)
        } else {
            0
        };
        (self.now_ms() - late) * 1000 + self.rng.below(1000) as i64
    }

    fn new_transaction(&mut self, fraud_region: Option<usize>) {
        let (minute, _) = self.sim_cycle();
        let spike = (25..35).contains(&minute);
        let account = &self.accounts[self.rng.below(self.accounts.len())].row;
        let account_id = account["ACCOUNT_ID"].clone();
        let customer_id = account["CUSTOMER_ID"].clone();
        let currency = account["CURRENCY"].clone();
        let region = match fraud_region {
            Some(r) => r,
            None => self
                .customers
                .iter()
                .find(|c| json!(c.id) == customer_id)
                .map(|c| c.region)
                .unwrap_or(0),
        };
        let ty = [
            "purchase",
            "withdrawal",
            "deposit",
            "transfer",
            "refund",
            "fee",
        ][self.rng.weighted(&[0.55, 0.12, 0.1, 0.1, 0.05, 0.08])];
        let channel = match ty {
            "withdrawal" => ["atm", "branch"][self.rng.weighted(&[0.8, 0.2])],
            "purchase" | "refund" => {
                ["pos", "online", "mobile"][self.rng.weighted(&[0.45, 0.35, 0.2])]
            }
            _ => ["online", "mobile", "branch"][self.rng.weighted(&[0.5, 0.35, 0.15])],
        };
        let merchant = if ty == "purchase" || ty == "refund" {
            if spike && ty == "purchase" && self.rng.chance(0.2) {
                Some(MERCHANTS[3])
            } else {
                Some(*self.rng.pick(&MERCHANTS))
            }
        } else {
            None
        };
        let mut amount = self.rng.log_normal(40.0, 1.1).clamp(0.5, 20_000.0);
        if spike && merchant == Some(MERCHANTS[3]) {
            amount = (amount * 50.0).min(20_000.0);
        }
        if ty == "fee" {
            amount = self.rng.log_normal(3.0, 0.5);
        }
        let description = match (ty, merchant) {
            ("purchase", Some(m)) => format!(
                "{} purchase at {m}{}",
                if channel == "online" {
                    "Online"
                } else if channel == "pos" {
                    "Contactless"
                } else {
                    "Mobile"
                },
                [", express shipping", "", ", loyalty points", ""][self.rng.below(4)]
            ),
            ("refund", Some(m)) => format!("Refund from {m}"),
            ("withdrawal", _) => "ATM cash withdrawal".into(),
            ("deposit", _) => "Salary deposit".into(),
            ("transfer", _) => "Transfer to savings".into(),
            _ => ["ATM fee", "Monthly account fee", "Foreign transaction fee"][self.rng.below(3)]
                .into(),
        };
        self.next_txn += 1;
        let id = format!("T{:08}", self.next_txn);
        let (status, reason) = match fraud_region {
            Some(_) => ("declined", Some("suspected_fraud")),
            None => match self.rng.weighted(&[0.65, 0.31, 0.04]) {
                0 => ("pending", None),
                1 => ("approved", None),
                _ => ("declined", Some(*self.rng.pick(&DECLINE_REASONS))),
            },
        };
        let created = self.event_time_us();
        let row = obj(json!({
            "TXN_ID": id, "ACCOUNT_ID": account_id, "CUSTOMER_ID": customer_id,
            "AMOUNT": round(amount, 2), "CURRENCY": currency, "TXN_TYPE": ty, "CHANNEL": channel,
            "STATUS": status, "MERCHANT": merchant, "REGION": REGIONS[region],
            "COUNTRY": *self.rng.pick(COUNTRIES[region]), "DESCRIPTION": description,
            "DECLINE_REASON": reason, "CREATED_AT": created,
        }));
        if status == "pending" {
            self.pending.push_back(row.clone());
        } else if status == "approved" {
            self.remember_approved(row.clone());
        }
        self.emit(&TXN, &id, "c", None, Some(row));
    }

    fn remember_approved(&mut self, row: Row) {
        self.approved.push_back(row);
        if self.approved.len() > 2_000 {
            self.approved.pop_front();
        }
    }

    fn update_transaction(&mut self) {
        let reverse = self.rng.chance(0.03);
        let Some(before) = (if reverse {
            self.approved.pop_front()
        } else {
            self.pending.pop_front()
        }) else {
            return self.new_transaction(None);
        };
        let mut after = before.clone();
        if reverse {
            after.insert("STATUS".into(), json!("reversed"));
        } else if self.rng.chance(0.92) {
            after.insert("STATUS".into(), json!("approved"));
            self.remember_approved(after.clone());
        } else {
            after.insert("STATUS".into(), json!("declined"));
            after.insert(
                "DECLINE_REASON".into(),
                json!(*self.rng.pick(&DECLINE_REASONS)),
            );
        }
        let id = before["TXN_ID"].as_str().unwrap_or_default().to_string();
        self.emit(&TXN, &id, "u", Some(before), Some(after));
    }

    fn new_order(&mut self) {
        let c = self.rng.below(self.customers.len());
        let p = self.rng.below(self.products.len());
        let qty = 1 + self.rng.below(10) as i64;
        let price = self.products[p].price;
        self.next_order += 1;
        let id = format!("O{:08}", self.next_order);
        let now = self.now_ms() * 1000 + self.rng.below(1000) as i64;
        let region = self.customers[c].region;
        let row = obj(json!({
            "ORDER_ID": id, "CUSTOMER_ID": self.customers[c].id, "PRODUCT_ID": self.products[p].id,
            "QUANTITY": qty, "UNIT_PRICE": price, "TOTAL": round(price * qty as f64, 2), "STATUS": "created",
            "PAYMENT_METHOD": (["card", "paypal", "bank_transfer", "gift_card"][self.rng.weighted(&[0.55, 0.25, 0.15, 0.05])]),
            "SHIP_COUNTRY": *self.rng.pick(COUNTRIES[region]),
            "NOTES": if self.rng.chance(0.3) { json!(*self.rng.pick(&NOTES)) } else { Json::Null },
            "CREATED_AT": now, "UPDATED_AT": now,
        }));
        self.orders.push_back(row.clone());
        if self.orders.len() > 3_000 {
            self.orders.pop_front();
        }
        self.emit(&ORDERS, &id, "c", None, Some(row));
    }

    fn update_order(&mut self) {
        if self.orders.is_empty() {
            return self.new_order();
        }
        let i = self.rng.below(self.orders.len().min(200));
        let before = self.orders[i].clone();
        let next = match before["STATUS"].as_str().unwrap_or("") {
            "created" => {
                if self.rng.chance(0.9) {
                    "paid"
                } else {
                    "cancelled"
                }
            }
            "paid" => {
                if self.rng.chance(0.95) {
                    "shipped"
                } else {
                    "cancelled"
                }
            }
            "shipped" => "delivered",
            "delivered" => "returned",
            _ => {
                self.orders.remove(i);
                return self.new_order();
            }
        };
        let mut after = before.clone();
        after.insert("STATUS".into(), json!(next));
        after.insert(
            "UPDATED_AT".into(),
            json!(self.now_ms() * 1000 + self.rng.below(1000) as i64),
        );
        if next == "delivered" && self.rng.chance(0.9) || next == "cancelled" || next == "returned"
        {
            self.orders.remove(i);
        } else {
            self.orders[i] = after.clone();
        }
        let id = before["ORDER_ID"].as_str().unwrap_or_default().to_string();
        self.emit(&ORDERS, &id, "u", Some(before), Some(after));
    }

    fn new_sale(&mut self) {
        let p = self.rng.below(self.products.len());
        let qty = 1 + self.rng.below(5) as i64;
        let customer = if self.rng.chance(0.3) {
            Json::Null
        } else {
            json!(self.customers[self.rng.below(self.customers.len())].id)
        };
        self.next_sale += 1;
        let id = format!("S{:09}", self.next_sale);
        let t = self.event_time_us();
        let row = obj(json!({
            "sale_id": id, "store_id": format!("ST{:03}", 100 + self.rng.below(200)),
            "product_id": self.products[p].id, "customer_id": customer, "quantity": qty,
            "amount": round(self.products[p].price * qty as f64, 2),
            "payment_type": (["cash", "card", "mobile"][self.rng.weighted(&[0.2, 0.6, 0.2])]),
            "region": REGIONS[self.rng.weighted(&[0.42, 0.27, 0.19, 0.12])],
            "sale_time": iso_ms(t / 1000),
        }));
        self.emit(&SALES, &id, "c", None, Some(row));
    }

    fn update_account(&mut self, delete: bool) {
        let i = self.rng.below(self.accounts.len());
        let before = self.accounts[i].row.clone();
        let id = before["ACCOUNT_ID"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if delete && self.accounts.len() > 10 {
            self.accounts.swap_remove(i);
            return self.emit(&ACCOUNTS, &id, "d", Some(before), None);
        }
        let mut after = before.clone();
        let bal = after["BALANCE"].as_f64().unwrap_or(0.0) + round(self.rng.normal() * 150.0, 2);
        after.insert("BALANCE".into(), json!(round(bal, 2)));
        if self.rng.chance(0.02) {
            after.insert(
                "STATUS".into(),
                json!(["active", "frozen", "closed"][self.rng.below(3)]),
            );
        }
        after.insert(
            "UPDATED_AT".into(),
            json!(self.now_ms() * 1000 + self.rng.below(1000) as i64),
        );
        self.accounts[i].row = after.clone();
        self.emit(&ACCOUNTS, &id, "u", Some(before), Some(after));
    }

    fn update_customer(&mut self, delete: bool) {
        let i = self.rng.below(self.customers.len());
        let before = self.customers[i].row.clone();
        let id = self.customers[i].id.clone();
        if delete && self.customers.len() > 10 {
            self.customers.swap_remove(i);
            return self.emit(&CUSTOMERS, &id, "d", Some(before), None);
        }
        let mut after = before.clone();
        after.insert("risk_score".into(), json!(round(self.rng.f64(), 3)));
        if self.rng.chance(0.1) {
            after.insert(
                "segment".into(),
                json!(["retail", "premium", "business"][self.rng.below(3)]),
            );
        }
        self.customers[i].row = after.clone();
        self.emit(&CUSTOMERS, &id, "u", Some(before), Some(after));
    }

    fn update_product(&mut self) {
        let i = self.rng.below(self.products.len());
        let before = self.products[i].row.clone();
        let mut after = before.clone();
        let price = round(self.products[i].price * (0.9 + 0.2 * self.rng.f64()), 2);
        self.products[i].price = price;
        after.insert("price".into(), json!(price));
        after.insert("in_stock".into(), json!(self.rng.chance(0.85)));
        after.insert("updated_at".into(), json!(iso_ms(self.now_ms())));
        self.products[i].row = after.clone();
        let id = self.products[i].id.clone();
        self.emit(&PRODUCTS, &id, "u", Some(before), Some(after));
    }

    /// Advances the clock by one event and generates what happens then.
    fn step(&mut self) {
        self.clock_ms += self.step_ms;
        let (minute, hour) = self.sim_cycle();
        // The fraud burst rides on top of the steady flow.
        if (40..45).contains(&minute) && self.rng.chance(0.12) {
            let region = (hour as usize + 3) % REGIONS.len();
            self.new_transaction(Some(region));
        }
        if minute == 22 && self.duplicated_cycle != hour {
            self.duplicated_cycle = hour;
            let copies: Vec<Record> = self.recent_txn.iter().cloned().collect();
            self.queue.extend(copies);
        }
        let stalled = (10..20).contains(&minute);
        match self.rng.weighted(&[
            0.532, 0.154, 0.0556, 0.106, 0.121, 0.0243, 0.0044, 0.0021, 0.00004, 0.00004,
        ]) {
            0 => self.new_transaction(None),
            1 => self.update_transaction(),
            2 if !stalled => self.new_order(),
            3 if !stalled => self.update_order(),
            2 | 3 => self.new_transaction(None),
            4 => self.new_sale(),
            5 => self.update_account(false),
            6 => self.update_customer(false),
            7 => self.update_product(),
            8 => self.update_account(true),
            _ => self.update_customer(true),
        }
    }
}

impl Iterator for DemoGenerator {
    type Item = Record;
    fn next(&mut self) -> Option<Record> {
        while self.queue.is_empty() {
            self.step();
        }
        self.queue.pop_front()
    }
}

fn obj(v: Json) -> Row {
    match v {
        Json::Object(m) => m,
        _ => unreachable!("rows are objects"),
    }
}

fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
}

fn iso_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// Simulated events per second and whether the run is paced in real time.
fn pace(cfg: &DemoConfig) -> (f64, bool) {
    match cfg.rate {
        Rate::PerSecond(r) => (r, true),
        // As fast as possible, with the reference data's density of simulated time.
        Rate::Max => (15.0, false),
    }
}

/// Where a run's simulated clock starts: now for a paced run; a fixed instant for an unpaced
/// one, which makes it reproducible record for record.
pub fn start_ms(cfg: &DemoConfig) -> i64 {
    if pace(cfg).1 {
        chrono::Utc::now().timestamp_millis()
    } else {
        1_772_438_400_000
    }
}

/// The records a run started at `start_ms` produced, in order: the demo's log, rebuilt.
pub fn regenerate(cfg: &DemoConfig, start_ms: i64) -> impl Iterator<Item = Record> {
    DemoGenerator::new(cfg.seed, start_ms, pace(cfg).0, cfg.format, cfg.partitions)
}

/// Runs the demo on the calling (blocking) thread until shutdown or the limit; returns how
/// many records it produced.
pub fn run_blocking(
    cfg: &DemoConfig,
    start_ms: i64,
    tx: &mpsc::Sender<SourceEvent>,
    shutdown: &CancellationToken,
) -> std::io::Result<u64> {
    let (per_sec, paced) = pace(cfg);
    let mut generator = DemoGenerator::new(cfg.seed, start_ms, per_sec, cfg.format, cfg.partitions);
    let started = Instant::now();
    let mut produced = 0u64;
    let mut chunk = Vec::with_capacity(256);
    let limit = cfg.limit.unwrap_or(u64::MAX);
    while produced < limit && !shutdown.is_cancelled() {
        let rec = generator.next().expect("the generator never ends");
        if paced {
            let due = Duration::from_millis((rec.ts_ms - start_ms).max(0) as u64);
            let now = started.elapsed();
            if due > now + Duration::from_millis(5) {
                if !chunk.is_empty()
                    && tx
                        .blocking_send(SourceEvent::Records(std::mem::take(&mut chunk)))
                        .is_err()
                {
                    break;
                }
                std::thread::sleep((due - now).min(Duration::from_millis(250)));
            }
        }
        chunk.push(rec);
        produced += 1;
        if chunk.len() >= 256
            && tx
                .blocking_send(SourceEvent::Records(std::mem::take(&mut chunk)))
                .is_err()
        {
            break;
        }
    }
    if !chunk.is_empty() {
        let _ = tx.blocking_send(SourceEvent::Records(chunk));
    }
    let _ = tx.blocking_send(SourceEvent::End);
    Ok(produced)
}

/// Writes `n` demo records as `kcat -C -J` lines (for benches and tests).
pub fn write_kcat_lines(
    seed: u64,
    n: usize,
    format: DemoFormat,
    out: &mut impl std::io::Write,
) -> std::io::Result<()> {
    let generator = DemoGenerator::new(seed, 1_772_438_400_000, 15.0, format, 3);
    for rec in generator.take(n) {
        let line = json!({
            "topic": &*rec.topic, "partition": rec.partition, "offset": rec.offset, "tstype": "create",
            "ts": rec.ts_ms, "broker": 1, "headers": Json::Null,
            "key": rec.key.map(|k| String::from_utf8_lossy(&k).into_owned()),
            "payload": rec.value.map(|v| String::from_utf8_lossy(&v).into_owned()),
        });
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::debezium::{Change, Decoder};

    #[test]
    fn same_seed_same_records_and_every_record_decodes() {
        let a: Vec<Record> = DemoGenerator::new(7, 1_772_438_400_000, 15.0, DemoFormat::Json, 3)
            .take(3000)
            .collect();
        let b: Vec<Record> = DemoGenerator::new(7, 1_772_438_400_000, 15.0, DemoFormat::Json, 3)
            .take(3000)
            .collect();
        assert_eq!(
            a.iter().map(|r| &r.value).collect::<Vec<_>>(),
            b.iter().map(|r| &r.value).collect::<Vec<_>>()
        );
        let mut topics = std::collections::BTreeSet::new();
        let mut d = Decoder::new();
        for r in &a {
            topics.insert(r.topic.to_string());
            assert_eq!(partition_for(r.key.as_ref().unwrap(), 3), r.partition);
            assert!(d.decode(r).is_ok(), "{:?}", r);
        }
        assert_eq!(topics.len(), 6, "{topics:?}");
    }

    #[test]
    fn schema_form_carries_decimal_amounts() {
        let mut d = Decoder::new();
        let rec = DemoGenerator::new(1, 1_772_438_400_000, 15.0, DemoFormat::JsonSchema, 3)
            .find(|r| &*r.topic == "db2.transactions")
            .unwrap();
        let Ok(Change::Upsert { cells, .. }) = d.decode(&rec) else {
            panic!("decodes")
        };
        let amount = cells.iter().find(|c| c.original == "AMOUNT").unwrap();
        assert!(matches!(
            amount.value,
            crate::store::value::Value::Decimal { scale: 2, .. }
        ));
    }
}

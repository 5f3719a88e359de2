//! The generator: a deterministic stream of the demo tables' changes — snapshots, inserts,
//! updates, deletes with tombstones, late events — and the situations streamq must notice.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde_json::{Value as Json, json};

use crate::config::DemoFormat;
use crate::ingest::demo::domain::*;
use crate::ingest::fields::encode_decimal_bytes;
use crate::ingest::partitioner::partition_for;
use crate::ingest::record::Record;
use crate::ingest::rng::Rng;

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
            offset: crate::ident::Offset(offset),
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

//! The reference dataset's tables and value domains as the demo writes them: topics,
//! columns and their Connect types, and the values the generator draws from.

use serde_json::{Value as Json, json};

pub(super) const REGIONS: [&str; 4] = ["NA", "EMEA", "APAC", "LATAM"];
pub(super) const COUNTRIES: [&[&str]; 4] = [
    &["US", "CA", "MX"],
    &["DE", "FR", "GB", "NL", "ES", "IT", "CH"],
    &["JP", "SG", "AU", "IN", "KR"],
    &["BR", "AR", "CL", "CO", "PE"],
];
pub(super) const CURRENCIES: [&str; 5] = ["USD", "EUR", "GBP", "JPY", "CHF"];
pub(super) const MERCHANTS: [&str; 12] = [
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
pub(super) const BRANCHES: [&str; 8] = [
    "New York",
    "Toronto",
    "Berlin",
    "London",
    "Paris",
    "Tokyo",
    "Singapore",
    "Sao Paulo",
];
pub(super) const CATEGORIES: [&str; 6] =
    ["electronics", "books", "home", "grocery", "apparel", "toys"];
pub(super) const BRANDS: [&str; 8] = [
    "Brightnest",
    "Northpeak",
    "Acme",
    "Lumina",
    "Voltix",
    "Paperleaf",
    "Kidzone",
    "Freshfield",
];
pub(super) const NOTES: [&str; 5] = [
    "leave at the door",
    "gift wrap please",
    "call before delivery",
    "fragile",
    "deliver after 5pm",
];
pub(super) const DECLINE_REASONS: [&str; 4] = [
    "insufficient_funds",
    "suspected_fraud",
    "card_expired",
    "limit_exceeded",
];
pub(super) const FIRST: [&str; 10] = [
    "Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goran", "Hana", "Ivan", "Jun",
];
pub(super) const LAST: [&str; 10] = [
    "Silva", "Meyer", "Tanaka", "Okafor", "Novak", "Garcia", "Smith", "Kowalski", "Rossi", "Haddad",
];

/// Column types of the demo tables, for the schema-enabled JSON form.
#[derive(Clone, Copy)]
pub(super) enum Ct {
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

pub(super) struct TableDef {
    pub(super) topic: &'static str,
    pub(super) connector: &'static str,
    pub(super) table: &'static str,
    pub(super) columns: &'static [(&'static str, Ct)],
}

pub(super) const TXN: TableDef = TableDef {
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
pub(super) const ACCOUNTS: TableDef = TableDef {
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
pub(super) const ORDERS: TableDef = TableDef {
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
pub(super) const CUSTOMERS: TableDef = TableDef {
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
pub(super) const PRODUCTS: TableDef = TableDef {
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
pub(super) const SALES: TableDef = TableDef {
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
pub(super) const TABLES: [&TableDef; 6] = [&TXN, &ACCOUNTS, &ORDERS, &CUSTOMERS, &PRODUCTS, &SALES];

pub(super) fn connect_type(ct: Ct) -> Json {
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

pub(super) fn envelope_schema(def: &TableDef) -> Json {
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
pub(super) type Row = serde_json::Map<String, Json>;

//! Which columns hold personal data (for [`crate::privacy`]): by the column's name, or by its
//! values (most of a sample looks like emails, card numbers, IBANs, phone numbers or national
//! ids). Configuration, which comes first, is the privacy module's.

use serde::Serialize;

/// The kind of personal data a column holds; it decides the masked form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiClass {
    Email,
    Phone,
    Name,
    Card,
    Account,
    NationalId,
    Address,
    BirthDate,
    /// Personal, of no kind above (configuration only).
    Personal,
}

impl PiiClass {
    pub fn as_str(self) -> &'static str {
        match self {
            PiiClass::Email => "email",
            PiiClass::Phone => "phone",
            PiiClass::Name => "name",
            PiiClass::Card => "card",
            PiiClass::Account => "account",
            PiiClass::NationalId => "national_id",
            PiiClass::Address => "address",
            PiiClass::BirthDate => "birth_date",
            PiiClass::Personal => "personal",
        }
    }

    pub const ALL: [PiiClass; 9] = [
        PiiClass::Email,
        PiiClass::Phone,
        PiiClass::Name,
        PiiClass::Card,
        PiiClass::Account,
        PiiClass::NationalId,
        PiiClass::Address,
        PiiClass::BirthDate,
        PiiClass::Personal,
    ];

    pub fn parse(s: &str) -> Option<PiiClass> {
        let s = s.trim().to_ascii_lowercase().replace('-', "_");
        PiiClass::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Where a column's class came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassFrom {
    Config,
    Name,
    Values,
}

/// A personal-data column's class and where it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Classified {
    pub class: PiiClass,
    pub by: ClassFrom,
}

/// Words that, before `name`, make it a person's name (`customer_name`, `holder_name`).
const PERSON_WORDS: &[&str] = &[
    "customer",
    "client",
    "holder",
    "cardholder",
    "contact",
    "person",
    "owner",
    "employee",
    "user",
    "patient",
    "subscriber",
    "member",
    "beneficiary",
    "payee",
    "payer",
    "recipient",
    "sender",
    "driver",
    "technician",
    "agent",
    "guest",
    "passenger",
    "applicant",
    "first",
    "last",
    "full",
    "given",
    "family",
    "middle",
    "maiden",
    "legal",
    "display",
];

/// Tables of people, in whose rows a bare `name` is a person's name (`customers.name`).
const PEOPLE_TABLES: &[&str] = &[
    "customer",
    "client",
    "user",
    "people",
    "person",
    "member",
    "employee",
    "staff",
    "subscriber",
    "patient",
    "contact",
    "technician",
    "driver",
    "agent",
    "guest",
    "passenger",
    "applicant",
    "beneficiary",
    "cardholder",
    "holder",
    "student",
    "owner",
];

/// The class a column's name says in its table (`schema.table` or `table`): a bare `name`
/// is a person's in a table of people.
pub fn by_name_in(table: &str, column: &str) -> Option<PiiClass> {
    if let Some(c) = by_name(column) {
        return Some(c);
    }
    let table = table.rsplit('.').next().unwrap_or(table);
    let last = table.rsplit('_').next().unwrap_or(table);
    let singular = last.strip_suffix('s').unwrap_or(last);
    (matches!(column, "name" | "display_name" | "full_name")
        && (PEOPLE_TABLES.contains(&singular) || PEOPLE_TABLES.contains(&last)))
    .then_some(PiiClass::Name)
}

/// The class a column's name says, if it says one. The name is split into its `_` words
/// (SQL's lower snake case), so `email_verified` is not an email but `contact_email` is.
pub fn by_name(column: &str) -> Option<PiiClass> {
    let words: Vec<&str> = column.split('_').filter(|w| !w.is_empty()).collect();
    let last = *words.last()?;
    let has = |w: &str| words.contains(&w);
    let ends = |a: &str, b: &str| {
        words.len() >= 2 && words[words.len() - 2] == a && words[words.len() - 1] == b
    };
    // A flag, a count or a type about the data is not the data.
    if matches!(
        last,
        "flag"
            | "verified"
            | "count"
            | "type"
            | "status"
            | "len"
            | "length"
            | "domain"
            | "opt"
            | "optin"
            | "consent"
            | "valid"
            | "hash"
            | "masked"
    ) || words.first() == Some(&"is")
        || words.first() == Some(&"has")
        || words.first() == Some(&"num")
        || words.first() == Some(&"n")
    {
        return None;
    }
    if matches!(last, "email" | "mail" | "emailaddress")
        || ends("e", "mail")
        || ends("email", "address")
    {
        return Some(PiiClass::Email);
    }
    if matches!(
        last,
        "phone" | "mobile" | "msisdn" | "telephone" | "tel" | "cellphone" | "fax"
    ) || (has("phone") && matches!(last, "number" | "no" | "nr" | "num"))
        || ends("cell", "number")
        || ends("mobile", "number")
    {
        return Some(PiiClass::Phone);
    }
    if matches!(last, "ssn" | "sin" | "nino" | "nric" | "passport" | "tin")
        || ends("national", "id")
        || ends("national", "number")
        || ends("tax", "id")
        || ends("social", "security")
        || (has("passport") && matches!(last, "number" | "no" | "id"))
        || (has("ssn") && matches!(last, "number" | "no"))
    {
        return Some(PiiClass::NationalId);
    }
    if matches!(last, "pan" | "ccn")
        || (has("card") && matches!(last, "number" | "no" | "nr" | "num"))
        || ends("credit", "card")
    {
        return Some(PiiClass::Card);
    }
    if matches!(last, "iban" | "bban")
        || ((has("account") || has("acct") || has("acc"))
            && matches!(last, "number" | "no" | "nr" | "num"))
    {
        return Some(PiiClass::Account);
    }
    if matches!(
        last,
        "surname" | "forename" | "firstname" | "lastname" | "fullname"
    ) || (last == "name" && words.len() >= 2 && PERSON_WORDS.contains(&words[words.len() - 2]))
    {
        return Some(PiiClass::Name);
    }
    if matches!(last, "dob" | "birthdate" | "birthday")
        || ends("birth", "date")
        || ends("of", "birth")
    {
        return Some(PiiClass::BirthDate);
    }
    if matches!(last, "street" | "postcode" | "zipcode")
        || (last == "address" && !has("ip") && !has("mac"))
        || ends("address", "line")
        || (words.len() >= 3
            && words[words.len() - 3] == "address"
            && words[words.len() - 2] == "line")
        || ends("street", "address")
        || ends("home", "address")
    {
        return Some(PiiClass::Address);
    }
    None
}

/// The class most of a column's sampled text values show, if at least `MIN_SAMPLES` were
/// seen and nine in ten of them agree. Names and addresses are not told from values.
pub fn by_values<'a>(values: impl Iterator<Item = &'a str>) -> Option<PiiClass> {
    let mut seen = 0usize;
    let mut counts = [0usize; 5];
    for v in values {
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        seen += 1;
        if is_email(v) {
            counts[0] += 1;
        } else if is_card(v) {
            counts[1] += 1;
        } else if is_iban(v) {
            counts[2] += 1;
        } else if is_ssn(v) {
            counts[3] += 1;
        } else if is_phone(v) {
            counts[4] += 1;
        }
    }
    if seen < MIN_SAMPLES {
        return None;
    }
    let classes = [
        PiiClass::Email,
        PiiClass::Card,
        PiiClass::Account,
        PiiClass::NationalId,
        PiiClass::Phone,
    ];
    let (i, n) = counts.iter().enumerate().max_by_key(|(_, n)| **n)?;
    (*n * 10 >= seen * 9).then_some(classes[i])
}

/// Fewer sampled values than this tell nothing.
pub const MIN_SAMPLES: usize = 5;

fn is_email(v: &str) -> bool {
    let Some((local, domain)) = v.split_once('@') else {
        return false;
    };
    let Some((_, tld)) = domain.rsplit_once('.') else {
        return false;
    };
    !local.is_empty()
        && !domain.starts_with('.')
        && !domain.contains('@')
        && tld.len() >= 2
        && tld.chars().all(|c| c.is_ascii_alphabetic())
        && !v.contains(char::is_whitespace)
}

fn digits(v: &str) -> Vec<u32> {
    v.chars().filter_map(|c| c.to_digit(10)).collect()
}

/// 13–19 digits, with spaces or dashes between groups, passing the Luhn check.
fn is_card(v: &str) -> bool {
    if !v
        .chars()
        .all(|c| c.is_ascii_digit() || c == ' ' || c == '-')
    {
        return false;
    }
    let d = digits(v);
    if !(13..=19).contains(&d.len()) {
        return false;
    }
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            if i % 2 == 1 {
                let y = x * 2;
                if y > 9 { y - 9 } else { y }
            } else {
                x
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Two letters, two check digits and 11–30 letters or digits, passing the mod-97 check.
fn is_iban(v: &str) -> bool {
    let s: String = v.chars().filter(|c| *c != ' ').collect();
    let b = s.as_bytes();
    if !(15..=34).contains(&b.len())
        || !b[..2].iter().all(u8::is_ascii_uppercase)
        || !b[2..4].iter().all(u8::is_ascii_digit)
        || !b[4..]
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        return false;
    }
    let rearranged = s[4..].chars().chain(s[..4].chars());
    let mut rem: u64 = 0;
    for c in rearranged {
        let n = c.to_digit(36).unwrap_or(0) as u64;
        rem = if n >= 10 {
            (rem * 100 + n) % 97
        } else {
            (rem * 10 + n) % 97
        };
    }
    rem == 1
}

/// `ddd-dd-dddd`.
fn is_ssn(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 11
        && b[3] == b'-'
        && b[6] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 3 || i == 6 || c.is_ascii_digit())
}

/// An international number (`+` and 8–15 digits) or a grouped local one (`(555) 123-4567`,
/// `020 7946 0958`): digits with at least two separators. A bare run of digits is an id, not
/// a phone number.
fn is_phone(v: &str) -> bool {
    if !v
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c))
    {
        return false;
    }
    let n = digits(v).len();
    if v.starts_with('+') {
        return (8..=15).contains(&n);
    }
    let separators = v.chars().filter(|c| " -().".contains(*c)).count();
    (9..=13).contains(&n) && separators >= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_say_what_they_hold_and_flags_about_them_do_not() {
        let cases = [
            ("email", Some(PiiClass::Email)),
            ("contact_email", Some(PiiClass::Email)),
            ("e_mail", Some(PiiClass::Email)),
            ("email_verified", None),
            ("is_email", None),
            ("phone_number", Some(PiiClass::Phone)),
            ("msisdn", Some(PiiClass::Phone)),
            ("customer_name", Some(PiiClass::Name)),
            ("last_name", Some(PiiClass::Name)),
            ("product_name", None),
            ("name", None),
            ("card_number", Some(PiiClass::Card)),
            ("card_type", None),
            ("iban", Some(PiiClass::Account)),
            ("account_number", Some(PiiClass::Account)),
            ("account_id", None),
            ("ssn", Some(PiiClass::NationalId)),
            ("national_id", Some(PiiClass::NationalId)),
            ("date_of_birth", Some(PiiClass::BirthDate)),
            ("billing_address", Some(PiiClass::Address)),
            ("ip_address", None),
            ("amount", None),
        ];
        for (name, want) in cases {
            assert_eq!(by_name(name), want, "{name}");
        }
        assert_eq!(by_name_in("shop.customers", "name"), Some(PiiClass::Name));
        assert_eq!(by_name_in("crm.staff", "name"), Some(PiiClass::Name));
        assert_eq!(by_name_in("shop.products", "name"), None);
        assert_eq!(by_name_in("shop.customers", "email"), Some(PiiClass::Email));
    }

    #[test]
    fn values_tell_emails_cards_ibans_and_phones_from_ids() {
        let emails = [
            "a@x.org",
            "bo.b@mail.example.com",
            "c+d@y.co",
            "e@z.io",
            "f@q.de",
        ];
        assert_eq!(by_values(emails.into_iter()), Some(PiiClass::Email));
        let cards = [
            "4111 1111 1111 1111",
            "5500-0000-0000-0004",
            "340000000000009",
        ];
        assert_eq!(
            by_values(cards.iter().cycle().take(6).copied()),
            Some(PiiClass::Card)
        );
        let ibans = ["GB82 WEST 1234 5698 7654 32", "DE89370400440532013000"];
        assert_eq!(
            by_values(ibans.iter().cycle().take(6).copied()),
            Some(PiiClass::Account)
        );
        let phones = ["+44 20 7946 0958", "(555) 123-4567", "+14155552671"];
        assert_eq!(
            by_values(phones.iter().cycle().take(6).copied()),
            Some(PiiClass::Phone)
        );
        let ids = ["1000231", "1000232", "1000233", "1000234", "1000235"];
        assert_eq!(by_values(ids.into_iter()), None);
        let words = ["open", "closed", "open", "pending", "open"];
        assert_eq!(by_values(words.into_iter()), None);
        // Too few to tell.
        assert_eq!(by_values(["a@x.org"].into_iter()), None);
    }
}

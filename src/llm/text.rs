//! Words: splitting questions and identifiers, a light stemmer, common abbreviations and
//! edit distance for typos. General English only; nothing about any dataset.

/// A question's token.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// As written (case kept, quotes removed).
    pub raw: String,
    /// Lower case.
    pub lower: String,
    /// Stemmed lower case.
    pub stem: String,
    pub kind: TokKind,
    /// Inside parentheses: an explicit value that explains the words before it.
    pub paren: bool,
    /// Written against the previous token with a hyphen (`gate-0042`, `in-store`).
    pub hyphen: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokKind {
    Word,
    Number,
    /// `09:15`, `9:15`.
    Clock,
    /// A letters-then-digits id (`A106625`).
    Id,
    /// Text in quotes.
    Quoted,
    /// A leading-underscore identifier (`_ts`).
    Meta,
}

/// Splits a question into tokens. Hyphens split words (`in-stock` → `in`, `stock`);
/// thousands separators join (`1,000` → `1000`), `2.5k` is `2500`, `%` is the word `percent`.
pub fn tokenize(q: &str) -> Vec<Token> {
    let mut out: Vec<Token> = Vec::new();
    let chars: Vec<char> = q.chars().collect();
    let mut i = 0;
    let mut depth = 0usize;
    while i < chars.len() {
        let c = chars[i];
        if c == '(' {
            depth += 1;
        } else if c == ')' {
            depth = depth.saturating_sub(1);
        } else if c == '%' {
            out.push(token("percent"));
        }
        if c == '(' || c == ')' || c == '%' {
            i += 1;
            continue;
        }
        if c == '\'' || c == '"' || c == '“' || c == '‘' {
            let close = match c {
                '“' => '”',
                '‘' => '’',
                x => x,
            };
            // An apostrophe inside a word (what's) is not a quote.
            let prev_alpha = i > 0 && chars[i - 1].is_alphanumeric();
            if !prev_alpha && let Some(end) = chars[i + 1..].iter().position(|&x| x == close) {
                let s: String = chars[i + 1..i + 1 + end].iter().collect();
                if !s.trim().is_empty() {
                    out.push(Token {
                        lower: s.to_lowercase(),
                        stem: s.to_lowercase(),
                        raw: s,
                        kind: TokKind::Quoted,
                        paren: depth > 0,
                        hyphen: false,
                    });
                }
                i += end + 2;
                continue;
            }
            i += 1;
            continue;
        }
        if c.is_alphanumeric()
            || c == '_'
            || c == '.'
                && i + 1 < chars.len()
                && chars[i + 1].is_ascii_digit()
                && i > 0
                && chars[i - 1].is_ascii_digit()
        {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric()
                    || chars[i] == '_'
                    || (chars[i] == ':' || chars[i] == '.')
                        && i + 1 < chars.len()
                        && chars[i + 1].is_ascii_digit()
                        && chars[i - 1].is_ascii_digit())
            {
                i += 1;
            }
            let mut raw: String = chars[start..i].iter().collect();
            // "1,000", "12,500,000": one number
            while raw.chars().all(|c| c.is_ascii_digit())
                && chars.get(i) == Some(&',')
                && chars[i + 1..]
                    .iter()
                    .take(3)
                    .filter(|c| c.is_ascii_digit())
                    .count()
                    == 3
                && chars.get(i + 4).is_none_or(|c| !c.is_ascii_alphanumeric())
            {
                raw.extend(&chars[i + 1..i + 4]);
                i += 4;
            }
            // "what's" → "what" (drop the clitic); "isn't" → "not"
            let mut negated = false;
            if i + 1 < chars.len()
                && (chars[i] == '\'' || chars[i] == '’')
                && chars[i + 1].is_alphabetic()
            {
                let start = i + 1;
                i += 2;
                while i < chars.len() && chars[i].is_alphabetic() {
                    i += 1;
                }
                let clitic: String = chars[start..i].iter().collect();
                if clitic.eq_ignore_ascii_case("t") && raw.to_lowercase().ends_with('n') {
                    negated = true;
                }
            }
            if negated {
                let mut t = token("not");
                t.paren = depth > 0;
                out.push(t);
                continue;
            }
            let mut t = token(&raw);
            t.paren = depth > 0;
            t.hyphen = start >= 2 && chars[start - 1] == '-' && chars[start - 2].is_alphanumeric();
            out.push(t);
            continue;
        }
        i += 1;
    }
    out
}

/// `2.5k` → 2500, `3m` → 3 000 000: a number with a magnitude suffix.
fn magnitude(lower: &str) -> Option<f64> {
    let (num, mult) = if let Some(n) = lower.strip_suffix('k') {
        (n, 1e3)
    } else if let Some(n) = lower.strip_suffix('m') {
        (n, 1e6)
    } else if let Some(n) = lower.strip_suffix("bn") {
        (n, 1e9)
    } else {
        return None;
    };
    if num.is_empty() || !num.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    num.parse::<f64>().ok().map(|v| v * mult)
}

fn token(raw: &str) -> Token {
    let lower = raw.to_lowercase();
    if let Some(v) = magnitude(&lower) {
        let text = format!("{v}");
        return Token {
            raw: raw.to_string(),
            stem: text.clone(),
            lower: text,
            kind: TokKind::Number,
            paren: false,
            hyphen: false,
        };
    }
    let kind = if raw.contains(':') {
        TokKind::Clock
    } else if raw.starts_with('_') {
        TokKind::Meta
    } else if raw.chars().all(|c| c.is_ascii_digit() || c == '.') {
        TokKind::Number
    } else if is_id(raw) {
        TokKind::Id
    } else {
        TokKind::Word
    };
    Token {
        stem: if kind == TokKind::Word {
            stem(&lower)
        } else {
            lower.clone()
        },
        lower,
        raw: raw.to_string(),
        kind,
        paren: false,
        hyphen: false,
    }
}

fn is_id(s: &str) -> bool {
    let split = s.find(|c: char| c.is_ascii_digit());
    match split {
        Some(k) if k > 0 => {
            s[..k].chars().all(|c| c.is_ascii_alphabetic())
                && s[k..].chars().all(|c| c.is_ascii_digit())
                && s.len() - k >= 3
        }
        _ => false,
    }
}

/// Lower-case words of a value or phrase (letters and digits).
pub fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase())
        .collect()
}

/// Words of an identifier (`txn_type`, `creditLimit`), with common abbreviations expanded.
pub fn words_of_identifier(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in s.chars() {
        if c == '_' || c == '-' || c == ' ' || c == '.' {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase();
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out.into_iter().map(|w| expand(&w).to_string()).collect()
}

/// Common abbreviations in column names.
fn expand(w: &str) -> &str {
    match w {
        "txn" | "tx" | "trx" | "trans" => "transaction",
        "qty" => "quantity",
        "amt" => "amount",
        "cust" => "customer",
        "acct" | "acc" => "account",
        "desc" => "description",
        "num" | "no" => "number",
        "addr" => "address",
        "dt" => "date",
        "ts" => "timestamp",
        "pct" => "percent",
        "prod" => "product",
        "cat" => "category",
        "org" => "organization",
        "dept" => "department",
        "emp" => "employee",
        "avg" => "average",
        "cnt" => "count",
        "ccy" | "cur" => "currency",
        "bal" => "balance",
        "msg" => "message",
        "loc" => "location",
        "inv" => "invoice",
        "ref" => "reference",
        other => other,
    }
}

/// A light suffix-stripping stemmer: the same word in its plural, past and -ing forms stems
/// alike (`declines`, `declined`, `decline` → `declin`).
pub fn stem(w: &str) -> String {
    let mut s = w.to_lowercase();
    if s.len() <= 3 || !s.chars().all(|c| c.is_alphabetic()) {
        return s;
    }
    if let Some(b) = s.strip_suffix("ies")
        && b.len() >= 2
    {
        s = format!("{b}y");
    } else if s.ends_with("sses")
        || s.ends_with("ches")
        || s.ends_with("shes")
        || s.ends_with("xes")
    {
        s.truncate(s.len() - 2);
    } else if s.ends_with('s') && !s.ends_with("ss") && !s.ends_with("us") && !s.ends_with("is") {
        s.pop();
    }
    for suf in ["ing", "ed"] {
        if s.len() > suf.len() + 3 && s.ends_with(suf) {
            s.truncate(s.len() - suf.len());
            // shipped → ship
            let b = s.as_bytes();
            if b.len() >= 2
                && b[b.len() - 1] == b[b.len() - 2]
                && !matches!(b[b.len() - 1], b'l' | b's' | b'z')
            {
                s.pop();
            }
            break;
        }
    }
    if s.len() > 3 && s.ends_with('e') {
        s.pop();
    }
    if s.len() > 3 && s.ends_with('y') {
        s.pop();
        s.push('i');
    }
    s
}

/// Damerau–Levenshtein (optimal string alignment) distance.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[n][m]
}

/// Whether `typo` is close enough to `word` to be read as it (longer words allow more).
pub fn close_enough(typo: &str, word: &str) -> bool {
    let n = word.chars().count();
    if n < 5 || typo.chars().count() < 4 || typo.chars().next() != word.chars().next() {
        return false;
    }
    let allowed = if n >= 8 { 2 } else { 1 };
    edit_distance(typo, word) <= allowed
}

/// Words that carry no meaning of their own in a question.
pub fn is_stopword(w: &str) -> bool {
    matches!(
        w,
        "a" | "an"
            | "the"
            | "of"
            | "in"
            | "on"
            | "at"
            | "to"
            | "for"
            | "from"
            | "with"
            | "by"
            | "and"
            | "or"
            | "is"
            | "are"
            | "was"
            | "were"
            | "be"
            | "been"
            | "do"
            | "does"
            | "did"
            | "we"
            | "our"
            | "us"
            | "i"
            | "me"
            | "my"
            | "you"
            | "your"
            | "it"
            | "its"
            | "their"
            | "them"
            | "they"
            | "there"
            | "that"
            | "this"
            | "these"
            | "those"
            | "which"
            | "what"
            | "who"
            | "whose"
            | "whom"
            | "how"
            | "when"
            | "where"
            | "have"
            | "has"
            | "had"
            | "show"
            | "list"
            | "give"
            | "tell"
            | "get"
            | "find"
            | "see"
            | "please"
            | "all"
            | "any"
            | "each"
            | "every"
            | "per"
            | "so"
            | "far"
            | "right"
            | "now"
            | "currently"
            | "current"
            | "yet"
            | "than"
            | "then"
            | "up"
            | "as"
            | "into"
            | "through"
            | "made"
            | "make"
            | "came"
            | "come"
            | "held"
            | "hold"
            | "placed"
            | "there's"
            | "s"
            | "single"
            | "across"
            | "over"
            | "during"
            | "within"
            | "about"
            | "utc"
            | "z"
            | "some"
            | "many"
            | "much"
            | "number"
            | "count"
            | "do we"
            | "exist"
            | "exists"
            | "let"
            | "lets"
            | "whatever"
            | "can"
            | "could"
            | "would"
            | "should"
            | "will"
            | "since"
            | "between"
            | "before"
            | "after"
            | "until"
            | "till"
            | "last"
            | "past"
            | "today"
            | "yesterday"
            | "ago"
            | "minute"
            | "minutes"
            | "hour"
            | "hours"
            | "day"
            | "days"
            | "mins"
            | "min"
            | "hrs"
            | "hr"
            | "secs"
            | "seconds"
    )
}

/// Units that end column names (`weight_kg`, `latency_ms`): "weight" names `weight_kg`.
pub fn is_unit_suffix(w: &str) -> bool {
    matches!(
        w,
        "kg" | "g"
            | "lb"
            | "lbs"
            | "km"
            | "m"
            | "cm"
            | "mm"
            | "mi"
            | "ms"
            | "sec"
            | "s"
            | "min"
            | "usd"
            | "eur"
            | "gbp"
            | "pct"
            | "percent"
            | "mph"
            | "kmh"
            | "kwh"
            | "mb"
            | "gb"
            | "bytes"
            | "byte"
            | "utc"
    )
}

/// ISO 3166 alpha-2 code of a country named in English ("germany" → "DE"), for columns that
/// hold codes. General knowledge, not any dataset's.
pub fn country_code(name: &str) -> Option<&'static str> {
    Some(match name {
        "united states" | "usa" | "america" | "the us" | "the usa" => "US",
        "canada" => "CA",
        "mexico" => "MX",
        "brazil" => "BR",
        "argentina" => "AR",
        "chile" => "CL",
        "colombia" => "CO",
        "peru" => "PE",
        "united kingdom" | "uk" | "britain" | "great britain" | "england" => "GB",
        "ireland" => "IE",
        "germany" => "DE",
        "france" => "FR",
        "spain" => "ES",
        "portugal" => "PT",
        "italy" => "IT",
        "netherlands" | "holland" => "NL",
        "belgium" => "BE",
        "switzerland" => "CH",
        "austria" => "AT",
        "sweden" => "SE",
        "norway" => "NO",
        "denmark" => "DK",
        "finland" => "FI",
        "poland" => "PL",
        "czechia" | "czech republic" => "CZ",
        "greece" => "GR",
        "turkey" => "TR",
        "russia" => "RU",
        "ukraine" => "UA",
        "israel" => "IL",
        "united arab emirates" | "uae" => "AE",
        "saudi arabia" => "SA",
        "egypt" => "EG",
        "south africa" => "ZA",
        "nigeria" => "NG",
        "kenya" => "KE",
        "morocco" => "MA",
        "india" => "IN",
        "china" => "CN",
        "japan" => "JP",
        "south korea" | "korea" => "KR",
        "singapore" => "SG",
        "hong kong" => "HK",
        "taiwan" => "TW",
        "australia" => "AU",
        "new zealand" => "NZ",
        "indonesia" => "ID",
        "thailand" => "TH",
        "vietnam" => "VN",
        "philippines" => "PH",
        "malaysia" => "MY",
        _ => return None,
    })
}

/// Marks the tokens in `range` as taken by a match.
pub fn mark_used(used: &mut [bool], range: std::ops::Range<usize>) {
    used[range].iter_mut().for_each(|u| *u = true);
}

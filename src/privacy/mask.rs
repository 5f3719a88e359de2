//! Masked forms. A masked value keeps what an analyst needs without the value: its shape
//! (`j***@example.org`, `***1234`, `J*** S***`) and, unless configured off, a keyed hash of the
//! whole value (`~3fa9c0d2e1b4`), so equal values stay equal — joins on a masked key and
//! `COUNT(DISTINCT)` still give the right counts — while the key, kept in the data directory,
//! stops anyone from hashing guesses to find a value.

use hmac::{KeyInit, Mac};

use crate::config::MaskedForm;
use crate::store::personal::PiiClass;

/// Hex characters of the keyed hash kept (48 bits: a collision among a million distinct
/// values is about one chance in five hundred).
const TAG_HEX: usize = 12;

/// The secret the keyed hash uses.
#[derive(Clone)]
pub struct MaskKey([u8; 32]);

impl std::fmt::Debug for MaskKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MaskKey(<secret>)")
    }
}

impl MaskKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        MaskKey(bytes)
    }

    /// The keyed hash of a value's text, as hex.
    pub fn tag(&self, text: &str) -> String {
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.0).expect("HMAC takes any key");
        mac.update(text.as_bytes());
        let digest = mac.finalize().into_bytes();
        digest
            .iter()
            .take(TAG_HEX / 2)
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// The masked form of `text`, a value of class `class`.
pub fn masked(key: &MaskKey, class: PiiClass, form: MaskedForm, text: &str) -> String {
    match form {
        MaskedForm::Partial => shape(class, text),
        MaskedForm::Hash => format!("~{}", key.tag(text)),
        MaskedForm::PartialHash => format!("{}~{}", shape(class, text), key.tag(text)),
    }
}

/// What of a value its masked form shows.
pub fn shape(class: PiiClass, text: &str) -> String {
    match class {
        PiiClass::Email => match text.rsplit_once('@') {
            Some((local, domain)) => {
                let first: String = local.chars().take(1).collect();
                format!("{first}***@{domain}")
            }
            None => "***".into(),
        },
        PiiClass::Phone | PiiClass::Card | PiiClass::Account => {
            let digits: Vec<char> = text.chars().filter(char::is_ascii_alphanumeric).collect();
            // Only a long number keeps its last four; a short one would be mostly shown.
            if digits.len() >= 8 {
                let tail: String = digits[digits.len() - 4..].iter().collect();
                format!("***{tail}")
            } else {
                "***".into()
            }
        }
        PiiClass::Name => {
            let words: Vec<String> = text
                .split_whitespace()
                .map(|w| {
                    let first: String = w.chars().take(1).collect();
                    format!("{first}***")
                })
                .collect();
            if words.is_empty() {
                "***".into()
            } else {
                words.join(" ")
            }
        }
        PiiClass::NationalId | PiiClass::Address | PiiClass::BirthDate | PiiClass::Personal => {
            "***".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_forms_keep_the_shape_and_equal_values_stay_equal() {
        let key = MaskKey::new([7; 32]);
        let m = |c, t| masked(&key, c, MaskedForm::PartialHash, t);
        let a = m(PiiClass::Email, "jane.doe@example.org");
        assert!(a.starts_with("j***@example.org~"), "{a}");
        assert!(!a.contains("jane"));
        assert_eq!(a, m(PiiClass::Email, "jane.doe@example.org"));
        assert_ne!(a, m(PiiClass::Email, "john.doe@example.org"));
        assert!(m(PiiClass::Card, "4111 1111 1111 1234").starts_with("***1234~"));
        assert!(m(PiiClass::Name, "Jane Doe").starts_with("J*** D***~"));
        assert!(m(PiiClass::NationalId, "123-45-6789").starts_with("***~"));
        assert_eq!(
            masked(&key, PiiClass::Email, MaskedForm::Partial, "jane@x.org"),
            "j***@x.org"
        );
        let h = masked(&key, PiiClass::Email, MaskedForm::Hash, "jane@x.org");
        assert_eq!(h.len(), 1 + TAG_HEX);
        // Another key, another hash: guesses cannot be hashed without the key.
        assert_ne!(
            MaskKey::new([8; 32]).tag("jane@x.org"),
            key.tag("jane@x.org")
        );
    }
}

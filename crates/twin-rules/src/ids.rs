//! Ids that cross the crate's boundary: packs, rules and criteria.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a text is not a pack, rule or criterion id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "\"{shown}\" is not a valid {what}: use 1 to 64 lower-case letters, digits and dashes, starting with a letter"
)]
pub struct IdError {
    what: &'static str,
    shown: String,
}

fn check(text: &str, what: &'static str) -> Result<(), IdError> {
    let mut chars = text.chars();
    let ok = (1..=64).contains(&text.len())
        && matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-'));
    if ok {
        Ok(())
    } else {
        Err(IdError {
            what,
            shown: text.chars().take(64).collect(),
        })
    }
}

macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses and checks the id.
            pub fn parse(text: &str) -> Result<Self, IdError> {
                check(text, $what).map(|()| $name(text.to_owned()))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// An id known to be valid (a constant of this crate).
            #[allow(dead_code)]
            pub(crate) fn known(text: &'static str) -> Self {
                debug_assert!(check(text, $what).is_ok());
                $name(text.to_owned())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                $name::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

text_id!(
    /// A pack's id, unique among its publisher's packs: `benefits`.
    PackId,
    "pack id"
);
text_id!(
    /// A rule's id, unique within its pack (several versions may follow one another):
    /// `pension-credit`.
    RuleId,
    "rule id"
);
text_id!(
    /// A criterion's name, unique within its rule: `income`.
    CriterionName,
    "criterion name"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(RuleId::parse("pension-credit").is_ok());
        assert!(RuleId::parse("a").is_ok());
        for bad in ["", "Pension", "1st", "a_b", "a b", &"a".repeat(65)] {
            let e = RuleId::parse(bad).unwrap_err();
            assert!(e.to_string().contains("rule id"), "{e}");
        }
        let id: PackId = serde_json::from_str("\"benefits\"").unwrap();
        assert_eq!(id.as_str(), "benefits");
        assert!(serde_json::from_str::<PackId>("\"Benefits\"").is_err());
    }
}

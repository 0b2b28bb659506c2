//! Ids, field paths and categories of the citizen's twin.
//!
//! Every id and path that crosses a crate boundary is a newtype with a private inner
//! value and a checked text form, so a `VaultId` cannot be passed where a `LineageId`
//! is wanted and a malformed path never reaches the document.
#![forbid(unsafe_code)]

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The top-level categories of the twin that hold citizen-entered fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Name, date of birth, contact details, address, household, preferences.
    Personal,
    /// Tax, licences and benefits.
    Government,
    /// Health data: stored only after the citizen opts in.
    Health,
    /// Social data: stored only after the citizen opts in.
    Social,
}

impl Category {
    /// Every category, in the order the twin shows them.
    pub const ALL: [Category; 4] = [
        Category::Personal,
        Category::Government,
        Category::Health,
        Category::Social,
    ];

    /// Whether the citizen must opt in before this category can hold data.
    pub fn needs_opt_in(self) -> bool {
        matches!(self, Category::Health | Category::Social)
    }

    /// The category's name as it appears in field paths.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Personal => "personal",
            Category::Government => "government",
            Category::Health => "health",
            Category::Social => "social",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A category name that is not one of the twin's four.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "there is no category called \"{0}\"; the categories are personal, government, health and social"
)]
pub struct UnknownCategory(String);

impl FromStr for Category {
    type Err = UnknownCategory;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownCategory(s.to_owned()))
    }
}

/// Longest field path accepted, in bytes.
pub const MAX_PATH_LEN: usize = 128;
/// Deepest field path accepted, in segments.
pub const MAX_PATH_DEPTH: usize = 8;

/// A dotted path into the twin, such as `personal.address.postcode`.
///
/// Syntax only: each segment is lower-case ASCII letters, digits and `_`, starting with a
/// letter. Whether the path names a real field is the schema's business.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FieldPath(String);

/// Why a text is not a field path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldPathError {
    /// The text was empty.
    #[error("a field path cannot be empty")]
    Empty,
    /// The text was longer than [`MAX_PATH_LEN`].
    #[error("a field path can be at most {MAX_PATH_LEN} characters long")]
    TooLong,
    /// More than [`MAX_PATH_DEPTH`] segments.
    #[error("a field path can have at most {MAX_PATH_DEPTH} parts")]
    TooDeep,
    /// A segment with characters outside `a-z`, `0-9`, `_`, or not starting with a letter.
    #[error(
        "\"{0}\" is not a valid part of a field path: use lower-case letters, digits and _, separated by dots, like personal.address.postcode"
    )]
    BadSegment(String),
}

impl FieldPath {
    /// Parses and checks a dotted path.
    pub fn parse(text: &str) -> Result<Self, FieldPathError> {
        if text.is_empty() {
            return Err(FieldPathError::Empty);
        }
        if text.len() > MAX_PATH_LEN {
            return Err(FieldPathError::TooLong);
        }
        let mut depth = 0;
        for segment in text.split('.') {
            depth += 1;
            let mut chars = segment.chars();
            let ok = matches!(chars.next(), Some('a'..='z'))
                && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'));
            if !ok {
                return Err(FieldPathError::BadSegment(
                    segment.chars().take(40).collect(),
                ));
            }
        }
        if depth > MAX_PATH_DEPTH {
            return Err(FieldPathError::TooDeep);
        }
        Ok(FieldPath(text.to_owned()))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path's segments, outermost first.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('.')
    }

    /// The category this path lives in, if its first segment names one.
    pub fn category(&self) -> Option<Category> {
        self.segments().next().and_then(|s| s.parse().ok())
    }

    /// Whether `self` is `prefix` or lies inside it (`personal.address.town` is within
    /// `personal.address` and within `personal`, but not within `personal.add`).
    pub fn is_within(&self, prefix: &FieldPath) -> bool {
        self.0 == prefix.0
            || (self.0.starts_with(&prefix.0)
                && self.0.as_bytes().get(prefix.0.len()) == Some(&b'.'))
    }

    /// The path with one more segment appended.
    pub fn child(&self, segment: &str) -> Result<FieldPath, FieldPathError> {
        FieldPath::parse(&format!("{}.{segment}", self.0))
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for FieldPath {
    type Err = FieldPathError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FieldPath::parse(s)
    }
}

impl TryFrom<String> for FieldPath {
    type Error = FieldPathError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        FieldPath::parse(&s)
    }
}

impl From<FieldPath> for String {
    fn from(p: FieldPath) -> String {
        p.0
    }
}

/// Declares a 128-bit random id with a lower-case hex text form.
macro_rules! random_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name([u8; 16]);

        impl $name {
            /// A fresh id from the operating system's random source.
            pub fn random() -> Self {
                let mut bytes = [0u8; 16];
                getrandom::fill(&mut bytes).expect("the operating system's random source failed");
                Self(bytes)
            }

            /// The id's bytes.
            pub fn as_bytes(&self) -> &[u8; 16] {
                &self.0
            }

            /// An id from its bytes.
            pub fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(bytes)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let mut bytes = [0u8; 16];
                hex::decode_to_slice(s, &mut bytes).map_err(|_| IdError(stringify!($name)))?;
                Ok(Self(bytes))
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.to_string()
            }
        }
    };
}

/// A text that is not a 32-digit hex id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {0}: expected 32 hexadecimal digits")]
pub struct IdError(&'static str);

random_id!(
    /// The vault's own id. It never leaves the computer; support sees a salted fingerprint.
    VaultId
);
random_id!(
    /// One lineage of the twin document. Erasure starts a new lineage.
    LineageId
);

random_id!(
    /// One share grant.
    GrantId
);
random_id!(
    /// One agency request or record.
    MessageId
);

/// An agency's id as its card and the trust list name it: `sandbox-benefits`.
/// 3–64 characters of lower-case letters, digits and `-`, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AgencyId(String);

/// A text that is not an agency id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an agency id is 3 to 64 lower-case letters, digits and dashes, starting with a letter")]
pub struct AgencyIdError;

impl AgencyId {
    /// Parses and checks an agency id.
    pub fn parse(text: &str) -> Result<Self, AgencyIdError> {
        let mut chars = text.chars();
        let ok = (3..=64).contains(&text.len())
            && matches!(chars.next(), Some('a'..='z'))
            && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-'));
        if ok {
            Ok(AgencyId(text.to_owned()))
        } else {
            Err(AgencyIdError)
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AgencyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for AgencyId {
    type Err = AgencyIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AgencyId::parse(s)
    }
}

impl TryFrom<String> for AgencyId {
    type Error = AgencyIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        AgencyId::parse(&s)
    }
}

impl From<AgencyId> for String {
    fn from(a: AgencyId) -> String {
        a.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn paths_parse_and_nest() {
        let p = FieldPath::parse("personal.address.town").unwrap();
        assert_eq!(p.category(), Some(Category::Personal));
        assert!(p.is_within(&FieldPath::parse("personal.address").unwrap()));
        assert!(p.is_within(&FieldPath::parse("personal").unwrap()));
        assert!(!p.is_within(&FieldPath::parse("personal.add").unwrap()));
        assert_eq!(FieldPath::parse(""), Err(FieldPathError::Empty));
        assert!(matches!(
            FieldPath::parse("Personal"),
            Err(FieldPathError::BadSegment(_))
        ));
        assert!(matches!(
            FieldPath::parse("a..b"),
            Err(FieldPathError::BadSegment(_))
        ));
        assert_eq!(
            FieldPath::parse("a.b.c.d.e.f.g.h.i"),
            Err(FieldPathError::TooDeep)
        );
    }

    #[test]
    fn ids_round_trip_and_reject_garbage() {
        let id = VaultId::random();
        assert_eq!(id.to_string().parse::<VaultId>().unwrap(), id);
        assert!("xyz".parse::<VaultId>().is_err());
        assert_ne!(VaultId::random(), VaultId::random());
    }

    proptest! {
        #[test]
        fn any_text_parses_or_errors_without_panic(s in "\\PC{0,200}") {
            if let Ok(p) = FieldPath::parse(&s) {
                prop_assert_eq!(p.as_str(), s.as_str());
                prop_assert_eq!(p.to_string().parse::<FieldPath>().unwrap(), p);
            }
        }

        #[test]
        fn well_formed_paths_round_trip(segs in proptest::collection::vec("[a-z][a-z0-9_]{0,8}", 1..8)) {
            let text = segs.join(".");
            let p = FieldPath::parse(&text).unwrap();
            prop_assert_eq!(p.segments().count(), segs.len());
        }
    }
}

use std::fmt;

use zeroize::{ZeroizeOnDrop, Zeroizing};

use crate::{Kek, random_array};

/// Crockford's base32 alphabet: no I, L, O or U, so fewer look-alike characters.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const SECRET_BYTES: usize = 20; // 160 bits
const GROUPS: usize = 8;
const DATA_PER_GROUP: usize = 4; // 8 × 4 × 5 bits = 160 bits
const GROUP_LEN: usize = DATA_PER_GROUP + 1; // plus one check character

/// A recovery code: 160 bits from the operating system's random source, written as eight
/// groups of five Crockford base32 characters. The last character of each group is a
/// Luhn mod 32 check over the group's number and its four characters, so a mistyped or
/// misplaced group is caught and named before any key is tried.
///
/// Its entropy needs no slow KDF: HKDF-SHA256 turns it into a key-encryption key.
#[derive(ZeroizeOnDrop)]
pub struct RecoveryCode([u8; SECRET_BYTES]);

/// Why a typed recovery code was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecoveryCodeError {
    /// Not 40 characters once spaces and dashes are removed.
    #[error("a recovery code has 8 groups of 5 characters; this one has {found} characters")]
    WrongLength {
        /// Characters found.
        found: usize,
    },
    /// A character that is not in the code's alphabet.
    #[error(
        "group {group} has a character that is never used in recovery codes (check for typing mistakes)"
    )]
    BadCharacter {
        /// 1-based group number.
        group: usize,
    },
    /// A group whose check character does not match.
    #[error("group {group} does not check out: compare it with your printed code")]
    Checksum {
        /// 1-based group number.
        group: usize,
    },
}

fn value_of(c: u8) -> Option<u8> {
    let c = match c.to_ascii_uppercase() {
        b'O' => b'0',
        b'I' | b'L' => b'1',
        other => other,
    };
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u8)
}

/// Luhn mod 32 check value over `values` (each < 32).
fn luhn_check(values: &[u8]) -> u8 {
    let mut factor = 2u32;
    let mut sum = 0u32;
    for &v in values.iter().rev() {
        let addend = factor * u32::from(v);
        factor = if factor == 2 { 1 } else { 2 };
        sum += addend / 32 + addend % 32;
    }
    ((32 - sum % 32) % 32) as u8
}

impl RecoveryCode {
    /// A fresh code from the operating system's random source.
    pub fn generate() -> Self {
        RecoveryCode(random_array())
    }

    /// Parses a typed code, tolerating case, spaces, dashes and the look-alikes O/I/L.
    pub fn parse(text: &str) -> Result<Self, RecoveryCodeError> {
        let chars: Zeroizing<Vec<u8>> = Zeroizing::new(
            text.bytes()
                .filter(|b| !b.is_ascii_whitespace() && *b != b'-')
                .collect(),
        );
        if chars.len() != GROUPS * GROUP_LEN {
            return Err(RecoveryCodeError::WrongLength { found: chars.len() });
        }
        let mut digits = Zeroizing::new([0u8; GROUPS * DATA_PER_GROUP]);
        for (g, group) in chars.chunks(GROUP_LEN).enumerate() {
            let mut values = Zeroizing::new([0u8; GROUP_LEN + 1]);
            values[0] = g as u8;
            for (i, &c) in group.iter().enumerate() {
                values[i + 1] =
                    value_of(c).ok_or(RecoveryCodeError::BadCharacter { group: g + 1 })?;
            }
            if luhn_check(&values[..GROUP_LEN]) != values[GROUP_LEN] {
                return Err(RecoveryCodeError::Checksum { group: g + 1 });
            }
            digits[g * DATA_PER_GROUP..(g + 1) * DATA_PER_GROUP]
                .copy_from_slice(&values[1..GROUP_LEN]);
        }
        let mut bytes = [0u8; SECRET_BYTES];
        let mut acc: u32 = 0;
        let mut bits = 0;
        let mut out = 0;
        for &d in digits.iter() {
            acc = (acc << 5) | u32::from(d);
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                bytes[out] = (acc >> bits) as u8;
                out += 1;
            }
        }
        Ok(RecoveryCode(bytes))
    }

    /// The code as the citizen writes it down: `XXXXX-XXXXX-…` (8 groups).
    pub fn display(&self) -> Zeroizing<String> {
        let mut digits = Zeroizing::new(Vec::with_capacity(GROUPS * DATA_PER_GROUP));
        let mut acc: u32 = 0;
        let mut bits = 0;
        for &b in &self.0 {
            acc = (acc << 8) | u32::from(b);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                digits.push(((acc >> bits) & 31) as u8);
            }
        }
        let mut s = Zeroizing::new(String::with_capacity(GROUPS * (GROUP_LEN + 1)));
        for (g, group) in digits.chunks(DATA_PER_GROUP).enumerate() {
            if g > 0 {
                s.push('-');
            }
            let mut values = [0u8; GROUP_LEN];
            values[0] = g as u8;
            values[1..].copy_from_slice(group);
            for &v in group {
                s.push(ALPHABET[v as usize] as char);
            }
            s.push(ALPHABET[luhn_check(&values) as usize] as char);
        }
        s
    }

    /// The code's group `n` (1-based), for "type back group 3" checks.
    pub fn group(&self, n: usize) -> Option<Zeroizing<String>> {
        let all = self.display();
        all.split('-')
            .nth(n.checked_sub(1)?)
            .map(|g| Zeroizing::new(g.to_owned()))
    }

    /// HKDF-SHA256(salt, code) → key-encryption key.
    pub fn to_kek(&self, salt: &[u8; 16]) -> Kek {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(salt), &self.0);
        let mut out = Zeroizing::new([0u8; 32]);
        hk.expand(b"citizen-twin/recovery-code/v1", out.as_mut())
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        Kek::from_bytes(*out)
    }
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecoveryCode").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn display_parses_back_to_the_same_key() {
        let code = RecoveryCode::generate();
        let text = code.display();
        assert_eq!(text.len(), 8 * 5 + 7);
        let back = RecoveryCode::parse(&text.to_lowercase()).unwrap();
        assert_eq!(back.to_kek(&[7; 16]), code.to_kek(&[7; 16]));
        let spaced = text.replace('-', " ");
        assert!(RecoveryCode::parse(&spaced).is_ok());
    }

    #[test]
    fn a_mistyped_group_is_named() {
        let code = RecoveryCode::generate();
        let mut text: Vec<u8> = code.display().as_bytes().to_vec();
        // Group 3 starts at 2 × 6 = 12.
        text[13] = if text[13] == b'A' { b'B' } else { b'A' };
        let err = RecoveryCode::parse(std::str::from_utf8(&text).unwrap()).unwrap_err();
        assert_eq!(err, RecoveryCodeError::Checksum { group: 3 });
        assert_eq!(
            RecoveryCode::parse("ABC").unwrap_err(),
            RecoveryCodeError::WrongLength { found: 3 }
        );
        let mut bad = code.display().as_bytes().to_vec();
        bad[0] = b'U';
        assert_eq!(
            RecoveryCode::parse(std::str::from_utf8(&bad).unwrap()).unwrap_err(),
            RecoveryCodeError::BadCharacter { group: 1 }
        );
    }

    #[test]
    fn swapped_groups_are_caught() {
        let text = RecoveryCode::generate().display();
        let mut groups: Vec<&str> = text.split('-').collect();
        if groups[0] != groups[1] {
            groups.swap(0, 1);
            assert!(RecoveryCode::parse(&groups.join("-")).is_err());
        }
    }

    proptest! {
        #[test]
        fn every_single_substitution_is_caught(bytes in any::<[u8; 20]>(), pos in 0usize..40, delta in 1u8..32) {
            let text = RecoveryCode(bytes).display();
            let mut chars: Vec<u8> = text.bytes().filter(|b| *b != b'-').collect();
            let v = value_of(chars[pos]).unwrap();
            chars[pos] = ALPHABET[((v + delta) % 32) as usize];
            let typed = String::from_utf8(chars).unwrap();
            prop_assert_eq!(
                RecoveryCode::parse(&typed).unwrap_err(),
                RecoveryCodeError::Checksum { group: pos / 5 + 1 }
            );
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,80}") {
            let _ = RecoveryCode::parse(&s);
        }
    }
}

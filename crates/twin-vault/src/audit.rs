//! The audit log: append-only, hash-chained, one plain-language line per event.
//!
//! `hash(n) = SHA-256(len-prefixed: hash(n-1), n, at_ms, kind, line)`, with 32 zero bytes
//! before the first entry. The chain's length and head are anchored in the key file under
//! a MAC (see `keyfile::Anchor`), so a tail cut off at rest is detected too.

use serde::Serialize;
use twin_crypto::sha256_parts;
use twin_store::AuditRow;

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Position in the chain, from 1.
    pub seq: u64,
    /// When, in milliseconds since 1970 (UTC).
    pub at_ms: i64,
    /// Stable kind: `created`, `unlocked`, `failed-unlocks`, `edit`, `import`, `opt-in`,
    /// `opt-out`, `erase`, `passphrase-changed`, `recovered`, `log-cut-short`, and the
    /// sharing kinds listed in `docs/cli.md`.
    pub kind: String,
    /// What happened, in plain words. Never a field value.
    pub line: String,
}

/// What `twin audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    /// Entries checked.
    pub entries: u64,
    /// The first entry whose hash does not follow from the ones before, if any.
    pub first_broken: Option<u64>,
    /// Times the log was found cut short at unlock (from `log-cut-short` entries), as
    /// the entry that recorded each.
    pub cut_short: Vec<u64>,
}

impl AuditReport {
    /// Whether the chain is whole and was never found cut short.
    pub fn is_intact(&self) -> bool {
        self.first_broken.is_none() && self.cut_short.is_empty()
    }
}

pub(crate) const GENESIS: [u8; 32] = [0; 32];

pub(crate) fn chain_hash(
    prev: &[u8; 32],
    seq: u64,
    at_ms: i64,
    kind: &str,
    line: &str,
) -> [u8; 32] {
    sha256_parts(&[
        b"citizen-twin/audit/v1",
        prev,
        &seq.to_be_bytes(),
        &at_ms.to_be_bytes(),
        kind.as_bytes(),
        line.as_bytes(),
    ])
}

/// Builds the next row after `(seq, hash)`.
pub(crate) fn next_row(head: (u64, [u8; 32]), at_ms: i64, kind: &str, line: String) -> AuditRow {
    let seq = head.0 + 1;
    let hash = chain_hash(&head.1, seq, at_ms, kind, &line);
    AuditRow {
        seq,
        at_ms,
        kind: kind.to_owned(),
        line,
        hash,
    }
}

/// Checks every link of the chain.
pub(crate) fn verify(rows: &[AuditRow]) -> AuditReport {
    let mut prev = GENESIS;
    let mut first_broken = None;
    for (i, r) in rows.iter().enumerate() {
        let expected_seq = i as u64 + 1;
        if r.seq != expected_seq || chain_hash(&prev, r.seq, r.at_ms, &r.kind, &r.line) != r.hash {
            first_broken = Some(expected_seq);
            break;
        }
        prev = r.hash;
    }
    AuditReport {
        entries: rows.len() as u64,
        first_broken,
        cut_short: rows
            .iter()
            .filter(|r| r.kind == "log-cut-short")
            .map(|r| r.seq)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u64) -> Vec<AuditRow> {
        let mut head = (0, GENESIS);
        (0..n)
            .map(|i| {
                let r = next_row(head, i as i64, "edit", format!("line {i}"));
                head = (r.seq, r.hash);
                r
            })
            .collect()
    }

    #[test]
    fn intact_chain_verifies() {
        assert!(verify(&chain(5)).is_intact());
    }

    #[test]
    fn a_changed_line_names_the_first_broken_entry() {
        let mut c = chain(5);
        c[2].line = "something else".into();
        assert_eq!(verify(&c).first_broken, Some(3));
        let mut c = chain(5);
        c.remove(1);
        assert_eq!(verify(&c).first_broken, Some(2));
    }
}

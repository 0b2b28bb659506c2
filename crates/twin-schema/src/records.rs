//! Schemas of the records agencies send back (`schemas/records/<type>.schema.json`, type
//! `benefit-award/v1` ↔ file `benefit-award.v1.schema.json`).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde_json::Value;

const SCHEMAS: &[(&str, &str)] = &[
    (
        "benefit-award/v1",
        include_str!("../../../schemas/records/benefit-award.v1.schema.json"),
    ),
    (
        "identity-link/v1",
        include_str!("../../../schemas/records/identity-link.v1.schema.json"),
    ),
    (
        "income-statement/v1",
        include_str!("../../../schemas/records/income-statement.v1.schema.json"),
    ),
];

static VALIDATORS: LazyLock<BTreeMap<&'static str, jsonschema::Validator>> = LazyLock::new(|| {
    SCHEMAS
        .iter()
        .map(|(t, text)| {
            let schema: Value = serde_json::from_str(text).expect("a committed record schema");
            let v = jsonschema::options()
                .should_validate_formats(true)
                .build(&schema)
                .expect("a valid committed record schema");
            (*t, v)
        })
        .collect()
});

/// Why a record body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordBodyError {
    /// No schema is known for this type.
    #[error("no schema is known for record type {0}")]
    UnknownType(String),
    /// The body breaks the type's schema.
    #[error("the record does not fit its type {kind}: {rule}")]
    Invalid {
        /// The record type.
        kind: String,
        /// The rule broken, with its place in the body.
        rule: String,
    },
}

/// The record types with a schema.
pub fn record_types() -> impl Iterator<Item = &'static str> {
    SCHEMAS.iter().map(|(t, _)| *t)
}

/// Checks a record body against its type's schema.
pub fn check_record(kind: &str, body: &Value) -> Result<(), RecordBodyError> {
    let v = VALIDATORS
        .get(kind)
        .ok_or_else(|| RecordBodyError::UnknownType(kind.chars().take(64).collect()))?;
    match v.iter_errors(body).next() {
        None => Ok(()),
        Some(e) => Err(RecordBodyError::Invalid {
            kind: kind.to_owned(),
            // The rule broken and where, never the value itself (it may be personal).
            rule: format!("{} (at {})", e.masked_with("the value"), e.instance_path()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_committed_schema_compiles_and_checks() {
        assert_eq!(record_types().count(), VALIDATORS.len());
        check_record(
            "benefit-award/v1",
            &json!({"benefit": "Pension Credit", "decision": "awarded", "amount": 81.5, "currency": "GBP", "period": "week", "effective_from": "2026-12-01"}),
        )
        .unwrap();
        assert!(matches!(
            check_record(
                "benefit-award/v1",
                &json!({"benefit": "X", "decision": "maybe", "effective_from": "2026-12-01"})
            ),
            Err(RecordBodyError::Invalid { .. })
        ));
        assert!(matches!(
            check_record(
                "benefit-award/v1",
                &json!({"benefit": "X", "decision": "awarded", "effective_from": "not a date"})
            ),
            Err(RecordBodyError::Invalid { .. })
        ));
        check_record(
            "identity-link/v1",
            &json!({"case_ref": "NI-1", "checked": "passport at the counter"}),
        )
        .unwrap();
        check_record(
            "benefit-award/v1",
            &json!({"benefit": "Pension Credit", "decision": "refused", "effective_from": "2026-12-01",
                    "rule": {"pack": "benefits", "id": "pension-credit", "version": 1}}),
        )
        .unwrap();
        check_record(
            "income-statement/v1",
            &json!({"payer": "Leeds City Council", "tax_year": "2025-26", "gross_pay": 24000.0, "tax_paid": 2286.0}),
        )
        .unwrap();
        assert!(matches!(
            check_record(
                "income-statement/v1",
                &json!({"payer": "X", "tax_year": "2025", "gross_pay": 1, "tax_paid": 0})
            ),
            Err(RecordBodyError::Invalid { .. })
        ));
        assert!(matches!(
            check_record("tax/v9", &json!({})),
            Err(RecordBodyError::UnknownType(_))
        ));
    }
}

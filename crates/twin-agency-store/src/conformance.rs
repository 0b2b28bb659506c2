//! The suite every [`crate::AgencyStore`] backend must pass.

/// Expands to a module of tests run against the store `$make` returns (an expression
/// evaluated once per test, with `dir: &std::path::Path` in scope naming an empty folder).
#[macro_export]
macro_rules! conformance_tests {
    ($name:ident, |$dir:ident| $make:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            use std::sync::Arc;
            use $crate::{AgencyStore, NewGrant, Redeemed, RevokeOutcome, StoreError};

            fn make($dir: &std::path::Path) -> impl AgencyStore + use<> {
                $make
            }

            fn store() -> (tempfile::TempDir, impl AgencyStore) {
                let tmp = tempfile::tempdir().unwrap();
                let s = make(tmp.path());
                (tmp, s)
            }

            $crate::__conformance_body!();
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_body {
    () => {
        fn claims(single_use: bool, expires_at: i64) -> twin_protocol::GrantClaims {
            let signer = twin_protocol::KeyPair::generate();
            twin_protocol::GrantClaims {
                v: 1,
                grant_id: twin_types::GrantId::random(),
                citizen_sign: signer.sign_public(),
                citizen_seal: signer.seal_public(),
                agency: twin_types::AgencyId::parse("conformance").unwrap(),
                kid: "k1".into(),
                fields: vec![twin_types::FieldPath::parse("personal.full_name").unwrap()],
                records: vec!["benefit-award/v1".into()],
                records_until: Some(expires_at + 1000),
                purpose: twin_protocol::PurposeClaim {
                    code: "p".into(),
                    words: "P".into(),
                    legal_basis: "L".into(),
                    retention_days: 1,
                },
                request_id: None,
                case_ref: None,
                single_use,
                issued_at: 100,
                not_before: 100,
                expires_at,
                payload_digest: vec![0; 32],
            }
        }

        fn new(c: &twin_protocol::GrantClaims, values: &str) -> NewGrant {
            NewGrant {
                claims: c.clone(),
                values: zeroize::Zeroizing::new(values.as_bytes().to_vec()),
                at: 150,
                nonce: None,
            }
        }

        fn signer(tag: &'static str) -> $crate::SignReceipt {
            Arc::new(move |seq, prev| {
                let mut v = tag.as_bytes().to_vec();
                v.extend_from_slice(&seq.to_be_bytes());
                v.extend_from_slice(&prev);
                v
            })
        }

        #[test]
        fn redeem_keeps_and_open_returns_values_with_chained_receipts() {
            let (_t, s) = store();
            let c = claims(false, 1000);
            assert_eq!(s.redeem(new(&c, r#"{"a":1}"#)).unwrap(), Redeemed::New);
            assert_eq!(s.redeem(new(&c, r#"{"a":1}"#)).unwrap(), Redeemed::Again);
            let o1 = s.open(&c.grant_id, 200, signer("acc")).unwrap();
            assert_eq!(o1.values.as_slice(), br#"{"a":1}"#);
            assert_eq!(o1.seq, 1);
            assert!(o1.receipt.ends_with(&[0u8; 32]));
            let o2 = s.open(&c.grant_id, 201, signer("acc")).unwrap();
            assert_eq!(o2.seq, 2);
            use sha2::Digest;
            assert!(o2.receipt.ends_with(&sha2::Sha256::digest(&o1.receipt)));
            let row = s.grant(&c.grant_id).unwrap().unwrap();
            assert_eq!((row.accesses, row.purged.is_none()), (2, true));
            let inbox = s.inbox(&c.citizen_sign, 0, 100).unwrap();
            assert_eq!(
                inbox.iter().map(|i| i.kind.as_str()).collect::<Vec<_>>(),
                ["access-receipt", "access-receipt"]
            );
            assert!(
                s.inbox(&twin_protocol::KeyPair::generate().sign_public(), 0, 100)
                    .unwrap()
                    .is_empty()
            );
        }

        #[test]
        fn a_grant_id_held_for_one_signer_is_not_taken_by_another() {
            let (_t, s) = store();
            let c = claims(false, 1000);
            s.redeem(new(&c, "{}")).unwrap();
            let mut other = claims(false, 1000);
            other.grant_id = c.grant_id;
            assert!(matches!(
                s.redeem(new(&other, "{}")),
                Err(StoreError::Exists(_))
            ));
            assert!(!s.was_redeemed(&c.grant_id, &other.citizen_sign).unwrap());
        }

        #[test]
        fn single_use_is_refused_twice_even_after_reopening() {
            let (t, s) = store();
            let c = claims(true, 1000);
            s.redeem(new(&c, "{}")).unwrap();
            assert_eq!(s.redeem(new(&c, "{}")), Err(StoreError::Replayed));
            drop(s);
            let s2 = make(t.path());
            assert_eq!(s2.redeem(new(&c, "{}")), Err(StoreError::Replayed));
            assert!(s2.was_redeemed(&c.grant_id, &c.citizen_sign).unwrap());
        }

        #[test]
        fn revocation_before_the_grant_is_remembered_by_signer() {
            let (_t, s) = store();
            let c = claims(false, 1000);
            let out = s
                .revoke(&c.grant_id, &c.citizen_sign, b"notice", 120, signer("del"))
                .unwrap();
            assert_eq!(out, RevokeOutcome::Remembered);
            assert!(s.is_revoked(&c.grant_id, &c.citizen_sign).unwrap());
            assert_eq!(s.redeem(new(&c, "{}")), Err(StoreError::Revoked));
            assert!(!s.was_redeemed(&c.grant_id, &c.citizen_sign).unwrap());
            // A notice signed by a stranger with the same id blocks nothing.
            let c2 = claims(false, 1000);
            let stranger = twin_protocol::KeyPair::generate().sign_public();
            s.revoke(&c2.grant_id, &stranger, b"n", 120, signer("del"))
                .unwrap();
            assert_eq!(s.redeem(new(&c2, "{}")).unwrap(), Redeemed::New);
        }

        #[test]
        fn revoking_a_held_grant_purges_it_with_a_receipt_once() {
            let (_t, s) = store();
            let c = claims(false, 1000);
            s.redeem(new(&c, "{}")).unwrap();
            let RevokeOutcome::Purged(r1) = s
                .revoke(&c.grant_id, &c.citizen_sign, b"n", 300, signer("del"))
                .unwrap()
            else {
                panic!("not purged")
            };
            let RevokeOutcome::Purged(r2) = s
                .revoke(&c.grant_id, &c.citizen_sign, b"n", 301, signer("other"))
                .unwrap()
            else {
                panic!("not purged")
            };
            assert_eq!(r1, r2);
            assert!(matches!(
                s.open(&c.grant_id, 302, signer("acc")),
                Err(StoreError::Purged(_, 300))
            ));
            assert!(matches!(
                s.refresh(&c.grant_id, 1, Default::default(), 303),
                Err(StoreError::Revoked)
            ));
            let row = s.grant(&c.grant_id).unwrap().unwrap();
            assert_eq!(row.purged, Some((300, "revoked".to_owned())));
            let kinds: Vec<String> = s
                .inbox(&c.citizen_sign, 0, 10)
                .unwrap()
                .into_iter()
                .map(|i| i.kind)
                .collect();
            assert_eq!(kinds, ["deletion-receipt"]);
            s.reconcile().unwrap();
        }

        #[test]
        fn expiry_is_due_for_purge_and_purge_is_idempotent() {
            let (_t, s) = store();
            let old = claims(false, 500);
            let live = claims(false, 5000);
            s.redeem(new(&old, "{}")).unwrap();
            s.redeem(new(&live, "{}")).unwrap();
            let due = s.due_for_purge(1000).unwrap();
            assert_eq!(due, vec![(old.grant_id, "expired".to_owned())]);
            let r = s
                .purge(&old.grant_id, "expired", 1000, signer("del"))
                .unwrap();
            assert_eq!(
                s.purge(&old.grant_id, "expired", 1001, signer("x"))
                    .unwrap(),
                r
            );
            assert!(s.due_for_purge(1000).unwrap().is_empty());
            assert!(matches!(
                s.purge(&twin_types::GrantId::random(), "expired", 1, signer("d")),
                Err(StoreError::NotFound(_))
            ));
        }

        #[test]
        fn refresh_replaces_values_and_refuses_rollback() {
            let (_t, s) = store();
            let c = claims(false, 1000);
            s.redeem(new(&c, r#"{"a":1}"#)).unwrap();
            s.refresh(
                &c.grant_id,
                2,
                zeroize::Zeroizing::new(br#"{"a":2}"#.to_vec()),
                200,
            )
            .unwrap();
            assert_eq!(
                s.refresh(&c.grant_id, 2, Default::default(), 201),
                Err(StoreError::Rollback)
            );
            assert_eq!(
                s.refresh(&c.grant_id, 1, Default::default(), 201),
                Err(StoreError::Rollback)
            );
            assert_eq!(
                s.open(&c.grant_id, 202, signer("a"))
                    .unwrap()
                    .values
                    .as_slice(),
                br#"{"a":2}"#
            );
            assert!(matches!(
                s.refresh(&twin_types::GrantId::random(), 1, Default::default(), 1),
                Err(StoreError::NotFound(_))
            ));
        }

        #[test]
        fn a_redemption_spends_its_request_nonce_in_the_same_commit() {
            let (_t, s) = store();
            let anyone = twin_protocol::SignPublic([0; 32]);
            let mut g = new(&claims(false, 1000), "{}");
            g.nonce = Some(("n-redeem".into(), 10_000));
            assert!(!s.nonce_used(&anyone, "n-redeem").unwrap());
            s.redeem(g).unwrap();
            assert!(s.nonce_used(&anyone, "n-redeem").unwrap());
            let mut again = new(&claims(false, 1000), "{}");
            again.nonce = Some(("n-redeem".into(), 10_000));
            let id = again.claims.grant_id;
            assert_eq!(s.redeem(again), Err(StoreError::NonceReused));
            assert!(
                s.grant(&id).unwrap().is_none(),
                "nothing kept from a replayed request"
            );
            // A nonce spent elsewhere is refused here too.
            assert!(s.use_nonce(&anyone, "n-other", 10_000, 150).unwrap());
            let mut third = new(&claims(false, 1000), "{}");
            third.nonce = Some(("n-other".into(), 10_000));
            assert_eq!(s.redeem(third), Err(StoreError::NonceReused));
        }

        #[test]
        fn nonces_are_used_once_per_signer_until_they_lapse() {
            let (_t, s) = store();
            let a = twin_protocol::KeyPair::generate().sign_public();
            let b = twin_protocol::KeyPair::generate().sign_public();
            assert!(s.use_nonce(&a, "n1", 100, 0).unwrap());
            assert!(!s.use_nonce(&a, "n1", 100, 50).unwrap());
            assert!(s.use_nonce(&b, "n1", 100, 50).unwrap());
            // After it lapsed it is forgotten (a stale signature is refused before this).
            assert!(s.use_nonce(&a, "n1", 300, 200).unwrap());
        }

        #[test]
        fn inbox_pages_records_requests_links_and_staff() {
            let (_t, s) = store();
            let c = claims(false, 1000);
            s.redeem(new(&c, "{}")).unwrap();
            let row = $crate::RecordRow {
                record_id: "r1".into(),
                grant_id: c.grant_id,
                record_type: "benefit-award/v1".into(),
                issued_at: 300,
            };
            s.add_record(&row, &c.citizen_sign, b"sealed").unwrap();
            assert!(matches!(
                s.add_record(&row, &c.citizen_sign, b"sealed"),
                Err(StoreError::Exists(_))
            ));
            assert_eq!(s.records(&c.grant_id).unwrap(), vec![row]);
            s.add_request(&$crate::RequestRow {
                request_id: "q1".into(),
                case_ref: Some("CASE-1".into()),
                body: b"req".to_vec(),
                created_at: 310,
                to: Some(c.citizen_sign),
            })
            .unwrap();
            s.add_request(&$crate::RequestRow {
                request_id: "q2".into(),
                case_ref: None,
                body: b"req2".to_vec(),
                created_at: 311,
                to: None,
            })
            .unwrap();
            assert_eq!(s.requests().unwrap().len(), 2);
            let all = s.inbox(&c.citizen_sign, 0, 100).unwrap();
            assert_eq!(
                all.iter().map(|i| i.kind.as_str()).collect::<Vec<_>>(),
                ["record", "request"]
            );
            let page = s.inbox(&c.citizen_sign, all[0].seq, 1).unwrap();
            assert_eq!(page.len(), 1);
            assert_eq!(page[0].body, b"req");
            s.link("CASE-1", &c.citizen_sign, &c.grant_id, 320).unwrap();
            s.link("CASE-1", &c.citizen_sign, &c.grant_id, 321).unwrap();
            let other = twin_protocol::KeyPair::generate().sign_public();
            assert!(matches!(
                s.link("CASE-1", &other, &c.grant_id, 322),
                Err(StoreError::Exists(_))
            ));
            assert_eq!(s.linked("CASE-1").unwrap(), Some(c.citizen_sign));
            assert_eq!(s.linked("CASE-2").unwrap(), None);
            s.add_staff("Alice Smith", &other, 1).unwrap();
            assert!(matches!(
                s.add_staff("Alice Smith", &other, 2),
                Err(StoreError::Exists(_))
            ));
            assert_eq!(s.staff("Alice Smith").unwrap(), Some(other));
        }

        #[test]
        fn concurrent_writers_are_all_answered_and_kept() {
            let (_t, s) = store();
            let s = Arc::new(s);
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let s = Arc::clone(&s);
                    std::thread::spawn(move || {
                        (0..25)
                            .map(|_| {
                                let c = claims(true, 1000);
                                s.redeem(new(&c, "{}")).unwrap();
                                c.grant_id
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            let ids: Vec<_> = handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect();
            assert_eq!(s.grants().unwrap().len(), 200);
            assert!(ids.iter().all(|id| s.grant(id).unwrap().is_some()));
        }
    };
}

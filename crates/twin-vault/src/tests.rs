use super::*;
use serde_json::json;

fn pass(s: &str) -> Passphrase {
    Passphrase::new(s.to_owned())
}

const P: &str = "correct horse battery";

#[test]
fn init_unlock_edit_and_wrong_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("v");
    let (mut v, _code) = Vault::init(&d, &pass(P)).unwrap();
    assert!(v.set("personal.full_name", "Alex Smith", None).unwrap());
    v.lock().unwrap();
    assert!(matches!(
        Vault::unlock(&d, &pass("wrong passphrase")),
        Err(VaultError::WrongPassphrase)
    ));
    let mut v = Vault::unlock(&d, &pass(P)).unwrap();
    assert_eq!(
        v.get("personal.full_name").unwrap(),
        Some(json!("Alex Smith"))
    );
    let log = v.audit().unwrap();
    assert!(
        log.iter()
            .any(|e| e.kind == "failed-unlocks" && e.line.starts_with("1 failed attempt"))
    );
    assert!(v.verify_audit().unwrap().is_intact());
}

#[test]
fn second_opener_is_told_the_vault_is_busy() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("v");
    let (_v, _) = Vault::init(&d, &pass(P)).unwrap();
    assert!(matches!(Vault::unlock(&d, &pass(P)), Err(VaultError::Busy)));
}

#[test]
fn recovery_code_sets_a_new_passphrase_and_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("v");
    let (v, code) = Vault::init(&d, &pass(P)).unwrap();
    v.lock().unwrap();
    let text = code.0.display();
    let (v, new_code) = Vault::recover(&d, &text, &pass("a brand new passphrase")).unwrap();
    v.lock().unwrap();
    assert!(matches!(
        Vault::unlock(&d, &pass(P)),
        Err(VaultError::WrongPassphrase)
    ));
    Vault::unlock(&d, &pass("a brand new passphrase"))
        .unwrap()
        .lock()
        .unwrap();
    assert!(matches!(
        Vault::recover(&d, &text, &pass("another passphrase!")),
        Err(VaultError::WrongRecoveryCode)
    ));
    Vault::recover(&d, &new_code.0.display(), &pass("another passphrase!")).unwrap();
}

#[test]
fn passphrase_change_does_not_rewrite_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("v");
    let (mut v, _) = Vault::init(&d, &pass(P)).unwrap();
    let db = locked_status(&d).unwrap().database;
    v.change_passphrase(&pass("the new passphrase")).unwrap();
    v.lock().unwrap();
    assert_eq!(locked_status(&d).unwrap().database, db);
    Vault::unlock(&d, &pass("the new passphrase")).unwrap();
}

#[test]
fn erase_rekeys_into_a_new_file_and_destroys_the_old() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("v");
    let (mut v, code) = Vault::init(&d, &pass(P)).unwrap();
    v.set("personal.email", "canary@example.org", None).unwrap();
    v.set("personal.full_name", "Keep", None).unwrap();
    let report = v.erase("personal.email").unwrap();
    assert!(!report.destroyed_database.exists());
    assert!(report.new_database.exists());
    assert_eq!(v.get("personal.email").unwrap(), None);
    assert_eq!(v.get("personal.full_name").unwrap(), Some(json!("Keep")));
    v.lock().unwrap();
    let mut v = Vault::unlock(&d, &pass(P)).unwrap();
    assert!(
        v.verify_audit().unwrap().is_intact(),
        "{:?}",
        v.audit().unwrap()
    );
    assert_eq!(v.history("personal.full_name").unwrap().len(), 1);
    v.lock().unwrap();
    // The recovery code still opens the re-keyed vault.
    Vault::recover(&d, &code.0.display(), &pass("after erasure pass")).unwrap();
}

#[test]
fn opt_out_erases_the_category() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("v");
    let (mut v, _) = Vault::init(&d, &pass(P)).unwrap();
    assert!(matches!(
        v.set("health.gp_practice", "Park Lane", None),
        Err(VaultError::Doc(twin_doc::DocError::NotOptedIn(_)))
    ));
    v.opt_in(Category::Health).unwrap();
    v.set("health.gp_practice", "Park Lane", None).unwrap();
    let r = v.opt_out(Category::Health).unwrap().unwrap();
    assert_eq!(r.fields_cleared.len(), 1);
    assert!(!v.opted_in(Category::Health));
    assert!(v.history("health.gp_practice").unwrap().is_empty());
}

#[test]
fn a_log_cut_short_at_rest_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("v");
    let (mut v, _) = Vault::init(&d, &pass(P)).unwrap();
    v.set("personal.full_name", "A B", None).unwrap();
    v.set("personal.full_name", "A C", None).unwrap();
    let key = v.data_key.clone();
    let db = v.keys.database_path(&d);
    v.lock().unwrap();
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch(&format!(
            "PRAGMA key = \"{}\";",
            key.sqlcipher_literal().as_str()
        ))
        .unwrap();
        c.execute(
            "DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit)",
            [],
        )
        .unwrap();
    }
    let mut v = Vault::unlock(&d, &pass(P)).unwrap();
    let report = v.verify_audit().unwrap();
    assert!(!report.is_intact());
    assert_eq!(report.cut_short.len(), 1);
}

#[test]
fn import_is_all_or_nothing_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("v");
    let (mut v, _) = Vault::init(&d, &pass(P)).unwrap();
    let bad = json!({"personal": {"full_name": "X", "household": {"size": 0}}});
    assert!(matches!(
        v.import(&bad, "f.json"),
        Err(VaultError::Import(_))
    ));
    assert_eq!(v.get("personal.full_name").unwrap(), None);
    let good = json!({"personal": {"full_name": "X", "address": {"town": "Leeds"}}});
    let r = v.import(&good, "f.json").unwrap();
    assert_eq!(r.changed.len(), 2);
    let r = v.import(&good, "f.json").unwrap();
    assert_eq!((r.changed.len(), r.unchanged.len()), (0, 2));
}

#[test]
fn delete_vault_removes_keys_first_and_everything() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("v");
    let (v, _) = Vault::init(&d, &pass(P)).unwrap();
    v.lock().unwrap();
    let r = delete_vault(&d).unwrap();
    assert!(r.removed[0].ends_with("vault.keys"));
    assert!(r.removed_folder);
    assert!(!d.exists());
    assert!(matches!(delete_vault(&d), Err(VaultError::NoVault(_))));
}

mod key_file_parsing {
    use super::*;
    use proptest::prelude::*;
    use std::sync::LazyLock;

    /// One real key file, made once (Argon2id is slow).
    static KEY_FILE: LazyLock<Vec<u8>> = LazyLock::new(|| {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("v");
        let (v, _) = Vault::init(&d, &pass(P)).unwrap();
        v.lock().unwrap();
        fs::read(d.join(KeyFile::NAME)).unwrap()
    });

    fn status_of(bytes: &[u8]) -> Result<LockedStatus, VaultError> {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(KeyFile::NAME), bytes).unwrap();
        locked_status(dir.path())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn arbitrary_bytes_are_refused_as_damaged(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let r = status_of(&bytes);
            prop_assert!(matches!(r, Err(VaultError::KeyFileDamaged { .. })), "{r:?}");
        }

        #[test]
        fn a_flipped_bit_is_refused_or_changes_nothing(pos in 0usize..4096, bit in 0u8..8) {
            let mut bytes = KEY_FILE.clone();
            let pos = pos % bytes.len();
            bytes[pos] ^= 1 << bit;
            match status_of(&bytes) {
                Err(VaultError::KeyFileDamaged { .. }) | Err(VaultError::Newer { .. }) => {}
                Ok(_) => {
                    // Only a change of letter case in a hex string leaves the content the same.
                    let original = KEY_FILE[pos];
                    prop_assert!(original.is_ascii_hexdigit() && original.is_ascii_alphabetic() && bit == 5);
                }
                Err(other) => prop_assert!(false, "unexpected error {other:?}"),
            }
        }
    }
}

mod sharing {
    use super::*;
    use twin_protocol::{
        AgencyCard, AgencyView, CardKey, KeyPair, Limits, Purpose, RecordClaims, UnverifiedGrant,
    };
    use twin_types::AgencyId;

    fn sandbox_anchor() -> KeyPair {
        let text = include_str!("../../../packaging/trust/sandbox/anchor-private.json");
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        let mut seed = [0u8; 32];
        hex::decode_to_slice(v["sign_seed"].as_str().unwrap(), &mut seed).unwrap();
        KeyPair::from_seeds(seed, [0; 32])
    }

    fn card(agency_key: &KeyPair) -> AgencyCard {
        let now = now_ms() / 1000;
        AgencyCard {
            v: 1,
            agency: AgencyId::parse("sandbox-benefits").unwrap(),
            name: "Sandbox Benefits Agency".into(),
            endpoint: "http://127.0.0.1:8700".into(),
            sandbox: true,
            keys: vec![CardKey {
                kid: "k1".into(),
                sign: agency_key.sign_public(),
                seal: agency_key.seal_public(),
                not_after: now + 100 * 86_400,
            }],
            record_types: vec!["benefit-award/v1".into()],
            purposes: vec![Purpose {
                code: "pension-credit-check".into(),
                words: "Pension Credit check".into(),
                fields: vec![
                    "personal.date_of_birth".into(),
                    "personal.address.postcode".into(),
                ],
                legal_basis: "State Pension Credit Act 2002".into(),
                retention_days: 30,
            }],
            expires_at: now + 365 * 86_400,
        }
    }

    #[test]
    fn requests_are_approved_trimmed_or_declined() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("v");
        let (mut v, _) = Vault::init(&d, &pass(P)).unwrap();
        v.set("personal.date_of_birth", "1958-03-14", None).unwrap();
        v.set("personal.email", "a@example.org", None).unwrap();
        let agency_key = KeyPair::generate();
        let card = card(&agency_key);
        let trust = trust_list(None, true).unwrap();
        v.add_agency(&card.sign("sandbox-anchor", &sandbox_anchor()).0, &trust)
            .unwrap();
        let now = now_ms() / 1000;
        let ask = |n: u8| {
            twin_protocol::AgencyRequest {
                v: 1,
                request_id: twin_types::MessageId::from_bytes([n; 16]),
                agency: card.agency.clone(),
                fields: vec![
                    "personal.date_of_birth".parse().unwrap(),
                    "personal.email".parse().unwrap(),
                ],
                purpose: "pension-credit-check".into(),
                case_ref: Some("PC-1".into()),
                duration_secs: 7 * 86_400,
                issued_at: now,
                expires_at: now + 14 * 86_400,
            }
            .sign("k1", &agency_key)
        };
        let r = v.import_request(&ask(1)).unwrap();
        assert_eq!(r.over_asking, ["personal.email"]);
        assert_eq!(r.state, "pending");
        // Forged by someone else: refused.
        let forged = twin_protocol::AgencyRequest::verify(&ask(1), &card, now)
            .unwrap()
            .request
            .sign("k1", &KeyPair::generate());
        assert!(matches!(
            v.import_request(&forged),
            Err(VaultError::Request(_))
        ));
        // Approve with the over-asked field trimmed.
        let shared = v
            .approve_request(&r.id, &["personal.date_of_birth".into()], &trust)
            .unwrap();
        let keys = [("k1".to_owned(), &agency_key)];
        let view = AgencyView {
            card: &card,
            keys: &keys,
            limits: Limits::default(),
        };
        let g = UnverifiedGrant::parse(&shared.bytes, &view.limits)
            .unwrap()
            .verify(&view, now, |_, _| false, |_, _| false)
            .unwrap();
        assert_eq!(g.values.len(), 1);
        assert_eq!(g.claims.case_ref.as_deref(), Some("PC-1"));
        assert_eq!(
            g.claims.request_id,
            Some(twin_types::MessageId::from_bytes([1; 16]))
        );
        assert!(v.approve_request(&r.id, &[], &trust).is_err(), "only once");
        // A field the agency did not ask for cannot ride along.
        let r2 = v.import_request(&ask(2)).unwrap();
        assert!(matches!(
            v.approve_request(&r2.id, &["personal.full_name".into()], &trust),
            Err(VaultError::Request(_))
        ));
        assert_eq!(v.decline_request(&r2.id).unwrap().state, "declined");
        let states: Vec<String> = v.requests().into_iter().map(|r| r.state).collect();
        assert_eq!(states.len(), 2);
        let log = v.audit().unwrap();
        assert!(
            log.iter().any(
                |e| e.kind == "request-received" && e.line.contains("more than its card lists")
            )
        );
        assert!(log.iter().any(|e| e.kind == "request-declined"));
    }

    #[test]
    fn share_verify_at_the_agency_revoke_and_receive_a_record() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("v");
        let (mut v, _) = Vault::init(&d, &pass(P)).unwrap();
        v.set("personal.date_of_birth", "1958-03-14", None).unwrap();
        v.set("personal.address.postcode", "LS1 4AP", None).unwrap();
        let agency_key = KeyPair::generate();
        let card = card(&agency_key);
        let signed = card.sign("sandbox-anchor", &sandbox_anchor());

        // Not trusted without the sandbox switched on.
        let shipped = trust_list(None, false).unwrap();
        assert!(matches!(
            v.add_agency(&signed.0, &shipped),
            Err(VaultError::Card(_))
        ));
        let added = v
            .add_agency(&signed.0, &trust_list(None, true).unwrap())
            .unwrap();
        assert_eq!(added.display_name(), "Sandbox Benefits Agency (SANDBOX)");

        let req = ShareRequest {
            agency: card.agency.clone(),
            fields: vec![
                "personal.date_of_birth".into(),
                "personal.address.postcode".into(),
            ],
            purpose: "Pension Credit check".into(),
            duration_secs: 7 * 86_400,
            records: vec!["benefit-award/v1".into()],
            records_secs: 60 * 86_400,
            single_use: false,
        };
        // A sandbox agency gets nothing while sandbox trust is off.
        assert!(matches!(v.share(&req, &shipped), Err(VaultError::Card(_))));
        let shared = v.share(&req, &trust_list(None, true).unwrap()).unwrap();
        assert_eq!(shared.summary.state, GrantState::Active);
        let log = v.audit().unwrap();
        let line = &log.last().unwrap().line;
        assert!(line.starts_with("You shared your date of birth and postcode with Sandbox Benefits Agency (SANDBOX) for 'Pension Credit check' until"), "{line}");
        assert!(!line.contains("LS1"), "no values in the audit log");

        // The agency side, with nothing but the protocol crate.
        let keys = [("k1".to_owned(), &agency_key)];
        let view = AgencyView {
            card: &card,
            keys: &keys,
            limits: Limits::default(),
        };
        let now = now_ms() / 1000;
        let verified = UnverifiedGrant::parse(&shared.bytes, &view.limits)
            .unwrap()
            .verify(&view, now, |_, _| false, |_, _| false)
            .unwrap();
        assert_eq!(verified.values.len(), 2);
        let text = shared.text.unwrap();
        assert_eq!(
            twin_protocol::open_text(&text, &keys).unwrap(),
            shared.bytes
        );

        // A record back.
        let record = RecordClaims {
            v: 1,
            record_id: twin_types::MessageId::random(),
            record_type: "benefit-award/v1".into(),
            agency: card.agency.clone(),
            subject: verified.claims.citizen_sign,
            grant_id: verified.claims.grant_id,
            issued_at: now,
            body: r#"{"award": "Pension Credit"}"#.into(),
        }
        .issue("k1", &agency_key, &verified.claims.citizen_seal)
        .unwrap();
        let r = v.import_record(&record).unwrap();
        assert_eq!(r.body["award"], "Pension Credit");
        assert_eq!(v.records().unwrap().len(), 1);

        // Stop sharing: at once, with a notice for the agency.
        let stopped = v.revoke(&shared.summary.id.to_string()).unwrap();
        assert!(matches!(stopped.state, GrantState::Stopped { .. }));
        let notice = v.revocation_notice(&shared.summary.id).unwrap();
        let r = twin_protocol::Revocation::verify(&notice, &card.agency).unwrap();
        assert_eq!(r.signer, verified.claims.citizen_sign);
        v.lock().unwrap();
        let v = Vault::unlock(&d, &pass(P)).unwrap();
        assert!(matches!(v.grants()[0].state, GrantState::Stopped { .. }));
    }
}

mod review_regressions {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn an_older_key_file_never_destroys_the_live_database() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("v");
        let (mut v, _) = Vault::init(&d, &pass(P)).unwrap();
        v.set("personal.full_name", "Keep Me", None).unwrap();
        let old_keys = fs::read(d.join("vault.keys")).unwrap();
        v.set("personal.email", "a@example.org", None).unwrap();
        v.erase("personal.email").unwrap();
        v.lock().unwrap();
        let new_keys = fs::read(d.join("vault.keys")).unwrap();
        fs::write(d.join("vault.keys"), &old_keys).unwrap();
        assert!(Vault::unlock(&d, &pass(P)).is_err());
        assert!(
            d.join("twin-2.db").exists(),
            "the live database must survive"
        );
        fs::write(d.join("vault.keys"), &new_keys).unwrap();
        let v = Vault::unlock(&d, &pass(P)).unwrap();
        assert_eq!(v.get("personal.full_name").unwrap(), Some(json!("Keep Me")));
    }

    #[test]
    fn a_failed_recover_never_strands_the_printed_code() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("v");
        let (v, code) = Vault::init(&d, &pass(P)).unwrap();
        v.lock().unwrap();
        let code = code.0.display();
        fs::create_dir(d.join("vault.keys.tmp")).unwrap();
        assert!(Vault::recover(&d, &code, &pass("another good passphrase")).is_err());
        fs::remove_dir(d.join("vault.keys.tmp")).unwrap();
        let mut v = Vault::unlock(&d, &pass(P)).unwrap();
        assert!(
            !v.audit().unwrap().iter().any(|e| e.kind == "recovered"),
            "the log says only what happened"
        );
        v.set("personal.phone", "+44 20 7946 0000", None).unwrap();
        v.erase("personal.phone").unwrap();
        v.lock().unwrap();
        Vault::recover(&d, &code, &pass("another good passphrase")).unwrap();
    }

    #[test]
    fn a_failed_passphrase_change_keeps_the_old_one_and_the_log_true() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("v");
        let (mut v, _) = Vault::init(&d, &pass(P)).unwrap();
        fs::create_dir(d.join("vault.keys.tmp")).unwrap();
        assert!(v.change_passphrase(&pass("the new passphrase")).is_err());
        fs::remove_dir(d.join("vault.keys.tmp")).unwrap();
        v.set("personal.full_name", "A", None).unwrap();
        v.lock().unwrap();
        let mut v = Vault::unlock(&d, &pass(P)).unwrap();
        assert!(
            !v.audit()
                .unwrap()
                .iter()
                .any(|e| e.kind == "passphrase-changed")
        );
    }

    #[test]
    fn deletion_touches_only_vault_files_and_can_be_finished() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("v");
        fs::create_dir(&d).unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(d.join("twin-peaks-notes.txt"), "mine").unwrap();
        let (v, _) = Vault::init(&d, &pass(P)).unwrap();
        v.lock().unwrap();
        assert_eq!(
            fs::metadata(&d).unwrap().permissions().mode() & 0o777,
            0o755,
            "a folder in use keeps its mode"
        );
        // Interrupted after the key file went.
        fs::remove_file(d.join("vault.keys")).unwrap();
        let r = delete_vault(&d).unwrap();
        assert!(r.removed.iter().any(|p| p.ends_with("twin-1.db")));
        assert!(d.join("twin-peaks-notes.txt").exists(), "not a vault file");
        assert!(!r.removed_folder);
        assert!(matches!(delete_vault(&d), Err(VaultError::NoVault(_))));
    }
}

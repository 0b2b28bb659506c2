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
    assert!(v.check_passphrase(&pass(P)).is_ok());
    assert!(matches!(
        v.check_passphrase(&pass("not the passphrase")),
        Err(VaultError::WrongPassphrase)
    ));
    v.change_passphrase(&pass("the new passphrase")).unwrap();
    assert!(v.check_passphrase(&pass(P)).is_err());
    assert!(v.check_passphrase(&pass("the new passphrase")).is_ok());
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
    let r = delete_vault(&d, IfSharesActive::Refuse).unwrap();
    assert!(r.removed[0].ends_with("vault.keys"));
    assert!(r.removed_folder);
    assert!(!d.exists());
    assert!(matches!(
        delete_vault(&d, IfSharesActive::Refuse),
        Err(VaultError::NoVault(_))
    ));
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

    pub(super) fn sandbox_anchor() -> KeyPair {
        let text = include_str!("../../../packaging/trust/sandbox/anchor-private.json");
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        let mut seed = [0u8; 32];
        hex::decode_to_slice(v["sign_seed"].as_str().unwrap(), &mut seed).unwrap();
        KeyPair::from_seeds(seed, [0; 32])
    }

    pub(super) fn card(agency_key: &KeyPair) -> AgencyCard {
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
                records: Vec::new(),
                records_secs: 0,
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
        let r = delete_vault(&d, IfSharesActive::Refuse).unwrap();
        assert!(r.removed.iter().any(|p| p.ends_with("twin-1.db")));
        assert!(d.join("twin-peaks-notes.txt").exists(), "not a vault file");
        assert!(!r.removed_folder);
        assert!(matches!(
            delete_vault(&d, IfSharesActive::Refuse),
            Err(VaultError::NoVault(_))
        ));
    }
}

/// Online exchange with an agency, with the test acting as the agency through the
/// protocol crate's public API alone.
mod online {
    use super::sharing::{card, sandbox_anchor};
    use super::*;
    use twin_protocol::{
        AgencyCard, AgencyView, KeyPair, Limits, Receipt, ReceiptEvent, RecordClaims,
        UnverifiedGrant, VerifiedGrant,
    };
    use twin_types::{AgencyId, GrantId, MessageId};

    struct Setup {
        _dir: tempfile::TempDir,
        d: PathBuf,
        v: Vault,
        card: AgencyCard,
        key: KeyPair,
        grant: VerifiedGrant,
        id: GrantId,
    }

    fn now() -> i64 {
        now_ms() / 1000
    }

    /// A vault with a date of birth and a postcode, a sandbox agency, and one share of
    /// both with it (write-back of benefit awards allowed).
    fn setup() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("v");
        let (mut v, _) = Vault::init(&d, &pass(P)).unwrap();
        v.set("personal.date_of_birth", "1958-03-14", None).unwrap();
        v.set("personal.address.postcode", "LS1 4AP", None).unwrap();
        let key = KeyPair::generate();
        let card = card(&key);
        let trust = trust_list(None, true).unwrap();
        v.add_agency(&card.sign("sandbox-anchor", &sandbox_anchor()).0, &trust)
            .unwrap();
        let shared = v
            .share(
                &ShareRequest {
                    agency: card.agency.clone(),
                    fields: vec![
                        "personal.date_of_birth".into(),
                        "personal.address.postcode".into(),
                    ],
                    purpose: "pension-credit-check".into(),
                    duration_secs: 7 * 86_400,
                    records: vec!["benefit-award/v1".into()],
                    records_secs: 60 * 86_400,
                    single_use: false,
                },
                &trust,
            )
            .unwrap();
        let grant = {
            let keys = [("k1".to_owned(), &key)];
            let view = AgencyView {
                card: &card,
                keys: &keys,
                limits: Limits::default(),
            };
            UnverifiedGrant::parse(&shared.bytes, &view.limits)
                .unwrap()
                .verify(&view, now(), |_, _| false, |_, _| false)
                .unwrap()
        };
        let id = shared.summary.id;
        Setup {
            _dir: dir,
            d,
            v,
            card,
            key,
            grant,
            id,
        }
    }

    impl Setup {
        fn state(&self) -> GrantSummary {
            self.v
                .grants()
                .into_iter()
                .find(|g| g.id == self.id)
                .unwrap()
        }

        fn access(&self, seq: u64, prev: Vec<u8>, at: i64) -> Vec<u8> {
            Receipt {
                v: 1,
                agency: self.card.agency.clone(),
                grant_id: self.id,
                event: ReceiptEvent::Access {
                    seq,
                    prev,
                    staff: "Alice Smith".into(),
                    fields: self.grant.claims.fields.clone(),
                    purpose: "Pension Credit check".into(),
                },
                at,
            }
            .sign("k1", &self.key)
        }

        fn deletion(&self, reason: &str, key: &KeyPair) -> Vec<u8> {
            Receipt {
                v: 1,
                agency: self.card.agency.clone(),
                grant_id: self.id,
                event: ReceiptEvent::Deletion {
                    reason: reason.into(),
                },
                at: now(),
            }
            .sign("k1", key)
        }

        fn log(&mut self) -> Vec<AuditEntry> {
            self.v.audit().unwrap()
        }
    }

    fn sha(bytes: &[u8]) -> Vec<u8> {
        use sha2::Digest;
        sha2::Sha256::digest(bytes).to_vec()
    }

    #[test]
    fn a_share_marked_to_send_stays_marked_until_the_agency_answers() {
        let mut s = setup();
        assert_eq!(s.state().delivery, Delivery::ByHand);
        assert!(
            s.v.grants_to_send().is_empty(),
            "a share by hand is not sent"
        );
        s.v.mark_to_send(&s.id).unwrap();
        // A failed attempt changes nothing: it is still to send, after a lock too.
        s.v.lock().unwrap();
        s.v = Vault::unlock(&s.d, &pass(P)).unwrap();
        assert_eq!(s.state().delivery, Delivery::ToSend);
        let out = s.v.grants_to_send();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].bytes, s.grant_bytes());
        let at = now();
        let line = s.v.grant_accepted(&s.id, at).unwrap();
        assert!(
            line.starts_with(
                "Sandbox Benefits Agency (SANDBOX) received your share for 'Pension Credit check' over the internet on"
            ),
            "{line}"
        );
        assert_eq!(s.state().delivery, Delivery::Accepted { at });
        assert!(s.v.grants_to_send().is_empty());
        assert_eq!(s.log().last().unwrap().kind, "share-delivered");
    }

    impl Setup {
        fn grant_bytes(&self) -> Vec<u8> {
            let e = self.v.issued_entry(&self.id);
            crate::sharing::from_b64(e.get("grant")).unwrap()
        }
    }

    #[test]
    fn a_refused_share_is_never_sent_again_and_a_stopped_one_never_sent() {
        let mut s = setup();
        s.v.mark_to_send(&s.id).unwrap();
        s.v.grant_refused(
            &s.id,
            "grant-invalid-value",
            "a value does not\nfit the agency's rules.",
        )
        .unwrap();
        assert!(s.v.grants_to_send().is_empty());
        assert!(matches!(
            s.state().delivery,
            Delivery::Refused { ref code, ref message }
                if code == "grant-invalid-value" && message == "a value does not fit the agency's rules"
        ));
        assert!(
            s.v.outstanding_shares().is_empty(),
            "the agency does not hold it"
        );

        let mut s = setup();
        s.v.mark_to_send(&s.id).unwrap();
        s.v.revoke(&s.id.to_string()).unwrap();
        assert!(
            s.v.grants_to_send().is_empty(),
            "a stopped share is never sent"
        );
        assert_eq!(s.v.notices_to_send().len(), 1, "its notice is");
    }

    #[test]
    fn refreshes_follow_changed_values_with_rising_numbers_and_stop_when_revoked() {
        let mut s = setup();
        s.v.set("personal.address.postcode", "LS2 7HY", None)
            .unwrap();
        assert!(
            s.v.pending_refreshes().unwrap().is_empty(),
            "not before the agency acknowledged the share"
        );
        s.v.grant_accepted(&s.id, now()).unwrap();
        s.v.set("personal.address.postcode", "LS1 4AP", None)
            .unwrap();
        assert!(
            s.v.pending_refreshes().unwrap().is_empty(),
            "the agency already has these values"
        );
        s.v.set("personal.address.postcode", "LS2 7HY", None)
            .unwrap();
        let r = s.v.pending_refreshes().unwrap().remove(0);
        assert_eq!(r.seq, 1);
        // The agency opens it with the protocol crate.
        let (claims, values) =
            twin_protocol::open_refresh(&r.bytes, &s.grant.claims, &s.key, 0, now(), 300).unwrap();
        assert_eq!(claims.seq, 1);
        assert_eq!(
            values[&"personal.address.postcode".parse().unwrap()],
            json!("LS2 7HY")
        );
        let line = s.v.refresh_pushed(&r).unwrap();
        assert!(line.contains("postcode and date of birth"), "{line}");
        assert!(!line.contains("LS2"), "no values in the log");
        assert!(s.v.pending_refreshes().unwrap().is_empty());
        assert_eq!(s.state().refreshes, 1);

        // Another computer already used number 2: the next try takes a higher one.
        s.v.set("personal.address.postcode", "LS3 1AA", None)
            .unwrap();
        let r = s.v.pending_refreshes().unwrap().remove(0);
        assert_eq!(r.seq, 2);
        s.v.refresh_refused(&r, "refresh-rollback", "older")
            .unwrap();
        let r = s.v.pending_refreshes().unwrap().remove(0);
        assert_eq!(r.seq, 3);
        // Values the agency refuses are not offered again until they change.
        s.v.refresh_refused(&r, "refresh-invalid-value", "no")
            .unwrap();
        assert!(s.v.pending_refreshes().unwrap().is_empty());
        s.v.set("personal.address.postcode", "LS4 2BB", None)
            .unwrap();
        assert_eq!(s.v.pending_refreshes().unwrap()[0].seq, 4);

        // A stopped share never pushes again, whatever changes.
        s.v.revoke(&s.id.to_string()).unwrap();
        s.v.set("personal.address.postcode", "LS5 3CC", None)
            .unwrap();
        assert!(s.v.pending_refreshes().unwrap().is_empty());
    }

    #[test]
    fn a_revocation_notice_is_pending_until_the_agency_confirms_deletion() {
        let mut s = setup();
        s.v.grant_accepted(&s.id, now()).unwrap();
        assert_eq!(s.v.outstanding_shares().len(), 1, "active");
        s.v.revoke(&s.id.to_string()).unwrap();
        assert!(matches!(s.state().state, GrantState::Stopped { .. }));
        assert_eq!(
            s.v.outstanding_shares().len(),
            1,
            "stopped, agency not told"
        );
        let pending = s.v.notices_to_send();
        assert_eq!(pending.len(), 1);
        twin_protocol::Revocation::verify(&pending[0].bytes, &s.card.agency).unwrap();

        // A receipt signed by someone else is not kept, and is reported.
        let forged = s.deletion("revoked", &KeyPair::generate());
        let out =
            s.v.notice_answered(&s.id, NoticeStatus::Purged, Some(&forged))
                .unwrap();
        assert_eq!(out.deletion_confirmed, None);
        assert!(out.problem.is_some(), "{out:?}");
        assert!(matches!(s.state().state, GrantState::Stopped { .. }));
        assert!(s.v.notices_to_send().is_empty(), "the agency was told");
        assert!(s.v.outstanding_shares().is_empty());

        // The genuine receipt, from the inbox, confirms the deletion.
        let genuine = s.deletion("revoked", &s.key);
        let agency = s.card.agency.clone();
        let r = s.v.import_receipt(&agency, &genuine).unwrap();
        assert!(r.new);
        assert!(
            r.line.starts_with(
                "Sandbox Benefits Agency (SANDBOX) confirmed it deleted what you shared for 'Pension Credit check' on"
            ),
            "{}",
            r.line
        );
        assert!(
            r.line.ends_with("because you stopped sharing."),
            "{}",
            r.line
        );
        let GrantState::Deleted {
            reason, stopped_at, ..
        } = s.state().state
        else {
            panic!("{:?}", s.state().state)
        };
        assert_eq!(reason, "revoked");
        assert!(stopped_at.is_some());
        assert!(!s.v.import_receipt(&agency, &genuine).unwrap().new);
        assert_eq!(
            s.log()
                .iter()
                .filter(|e| e.kind == "deletion-confirmed")
                .count(),
            1
        );
    }

    #[test]
    fn a_notice_answered_with_a_receipt_confirms_at_once_and_survives_a_lock() {
        let mut s = setup();
        s.v.revoke(&s.id.to_string()).unwrap();
        let receipt = s.deletion("revoked", &s.key);
        let out =
            s.v.notice_answered(&s.id, NoticeStatus::Purged, Some(&receipt))
                .unwrap();
        assert!(out.deletion_confirmed.is_some());
        s.v.lock().unwrap();
        s.v = Vault::unlock(&s.d, &pass(P)).unwrap();
        assert!(matches!(s.state().state, GrantState::Deleted { .. }));
        assert_eq!(
            s.state().notice.unwrap().agency_status.as_deref(),
            Some("purged")
        );

        // An agency that never had the share says so; that counts as told.
        let mut s = setup();
        s.v.revoke(&s.id.to_string()).unwrap();
        let out =
            s.v.notice_answered(&s.id, NoticeStatus::Remembered, None)
                .unwrap();
        assert!(out.line.contains("had not received that share"), "{out:?}");
        assert!(matches!(s.state().state, GrantState::Stopped { .. }));
        assert!(s.v.outstanding_shares().is_empty());
    }

    #[test]
    fn access_receipts_are_kept_chained_and_gaps_reported_plainly() {
        let mut s = setup();
        let agency = s.card.agency.clone();
        let t = now();
        let r1 = s.access(1, vec![0; 32], t);
        let r2 = s.access(2, sha(&r1), t);
        let r4 = s.access(4, vec![7; 32], t);
        let r5 = s.access(5, vec![9; 32], t);

        let i1 = s.v.import_receipt(&agency, &r1).unwrap();
        assert!(i1.new && i1.problems.is_empty());
        assert!(
            i1.line.starts_with(
                "Sandbox Benefits Agency (SANDBOX): Alice Smith opened your postcode and date of birth for 'Pension Credit check' on"
            ),
            "{}",
            i1.line
        );
        assert!(
            s.v.import_receipt(&agency, &r2)
                .unwrap()
                .problems
                .is_empty()
        );
        assert!(
            !s.v.import_receipt(&agency, &r2).unwrap().new,
            "deduplicated"
        );

        let i4 = s.v.import_receipt(&agency, &r4).unwrap();
        assert_eq!(i4.problems, ["receipt 3 is missing"]);
        assert!(
            i4.line.contains(
                "Warning: Sandbox Benefits Agency (SANDBOX) has not accounted for every time your data was opened: receipt 3 is missing."
            ),
            "{}",
            i4.line
        );
        let i5 = s.v.import_receipt(&agency, &r5).unwrap();
        assert_eq!(i5.problems, ["receipt 5 does not follow on from receipt 4"]);

        let chain = s.state().access;
        assert_eq!(chain.receipts, 4);
        assert_eq!(chain.missing, [SeqRange { from: 3, to: 3 }]);
        assert_eq!(chain.broken, [5]);
        let listed: Vec<u64> =
            s.v.access_receipts(&s.id)
                .unwrap()
                .iter()
                .map(|r| r.seq)
                .collect();
        assert_eq!(listed, [1, 2, 4, 5]);
        assert_eq!(
            s.log()
                .iter()
                .filter(|e| e.kind == "access-receipt")
                .count(),
            4,
            "one line per receipt"
        );

        // Forged, or about a share this vault did not make: refused, nothing kept.
        let forged = Receipt {
            v: 1,
            agency: agency.clone(),
            grant_id: s.id,
            event: ReceiptEvent::Deletion {
                reason: "revoked".into(),
            },
            at: t,
        }
        .sign("k1", &KeyPair::generate());
        assert!(matches!(
            s.v.import_receipt(&agency, &forged),
            Err(VaultError::Receipt(_))
        ));
        let elsewhere = Receipt {
            v: 1,
            agency: agency.clone(),
            grant_id: GrantId::random(),
            event: ReceiptEvent::Deletion {
                reason: "revoked".into(),
            },
            at: t,
        }
        .sign("k1", &s.key);
        assert!(matches!(
            s.v.import_receipt(&agency, &elsewhere),
            Err(VaultError::Receipt(_))
        ));
        assert!(matches!(s.state().state, GrantState::Active));
    }

    #[test]
    fn the_inbox_cursor_is_kept_and_imports_say_what_was_new() {
        let mut s = setup();
        let agency = s.card.agency.clone();
        assert_eq!(s.v.inbox_cursor(&agency).unwrap(), 0);
        s.v.set_inbox_cursor(&agency, 42).unwrap();
        s.v.lock().unwrap();
        s.v = Vault::unlock(&s.d, &pass(P)).unwrap();
        assert_eq!(s.v.inbox_cursor(&agency).unwrap(), 42);

        let request = twin_protocol::AgencyRequest {
            v: 1,
            request_id: MessageId::random(),
            agency: agency.clone(),
            fields: vec!["personal.date_of_birth".parse().unwrap()],
            purpose: "pension-credit-check".into(),
            case_ref: None,
            duration_secs: 86_400,
            records: Vec::new(),
            records_secs: 0,
            issued_at: now(),
            expires_at: now() + 86_400,
        }
        .sign("k1", &s.key);
        assert!(s.v.import_request_from(&agency, &request).unwrap().new);
        assert!(!s.v.import_request_from(&agency, &request).unwrap().new);
        let other = AgencyId::parse("sandbox-other").unwrap();
        assert!(s.v.import_request_from(&other, &request).is_err());

        let record = RecordClaims {
            v: 1,
            record_id: MessageId::random(),
            record_type: "benefit-award/v1".into(),
            agency: agency.clone(),
            subject: s.grant.claims.citizen_sign,
            grant_id: s.id,
            issued_at: now(),
            body: r#"{"award": "Pension Credit"}"#.into(),
        }
        .issue("k1", &s.key, &s.grant.claims.citizen_seal)
        .unwrap();
        let first = s.v.import_record_from(&agency, &record).unwrap();
        assert!(first.new && first.item.verified);
        assert!(!s.v.import_record_from(&agency, &record).unwrap().new);
        assert_eq!(s.v.records().unwrap().len(), 1);
    }

    #[test]
    fn a_record_can_be_hidden_never_altered_and_an_unverified_one_is_marked() {
        let mut s = setup();
        let record = RecordClaims {
            v: 1,
            record_id: MessageId::random(),
            record_type: "benefit-award/v1".into(),
            agency: s.card.agency.clone(),
            subject: s.grant.claims.citizen_sign,
            grant_id: s.id,
            issued_at: now(),
            body: r#"{"award": "Pension Credit"}"#.into(),
        }
        .issue("k1", &s.key, &s.grant.claims.citizen_seal)
        .unwrap();
        let r = s.v.import_record(&record).unwrap();
        assert!(r.verified && !r.hidden);
        let hidden = s.v.hide_record(&r.id).unwrap();
        assert!(hidden.hidden);
        s.v.lock().unwrap();
        s.v = Vault::unlock(&s.d, &pass(P)).unwrap();
        let listed = s.v.records().unwrap();
        assert!(listed[0].hidden && listed[0].verified);
        assert_eq!(
            listed[0].body,
            json!({"award": "Pension Credit"}),
            "unaltered"
        );
        assert!(!s.v.unhide_record(&r.id).unwrap().hidden);
        assert!(matches!(
            s.v.hide_record("0123"),
            Err(VaultError::UnknownRecord(_))
        ));
        let kinds: Vec<String> = s.log().into_iter().map(|e| e.kind).collect();
        assert!(kinds.contains(&"record-hidden".to_owned()));
        assert!(kinds.contains(&"record-shown".to_owned()));

        // A record whose signed copy no longer verifies is listed, marked, contents withheld.
        let prov = s.v.prov("test");
        let entry = json!({"type": "benefit-award/v1", "grant": s.id.to_string(), "issued_at": now(), "signed": "AAAA", "hidden": false});
        s.v.doc
            .ledger_put(
                &["records", "sandbox-benefits"],
                &[("feedfeed", Value::String(entry.to_string()))],
                &prov,
            )
            .unwrap();
        let bad =
            s.v.records()
                .unwrap()
                .into_iter()
                .find(|r| r.id == "feedfeed")
                .unwrap();
        assert!(!bad.verified);
        assert_eq!(bad.body, Value::Null);
        assert!(bad.problem.is_some());
    }

    #[test]
    fn deleting_the_vault_is_refused_while_an_agency_has_not_been_told() {
        let mut s = setup();
        assert!(
            may_have_active_shares(&s.d),
            "known at once, before any lock"
        );
        s.v.lock().unwrap();
        assert!(may_have_active_shares(&s.d));
        assert!(matches!(
            delete_vault(&s.d, IfSharesActive::Refuse),
            Err(VaultError::ActiveShares)
        ));
        assert!(s.d.join("vault.keys").exists(), "nothing was deleted");

        // Stopped and told: deletion goes ahead without the passphrase.
        s.v = Vault::unlock(&s.d, &pass(P)).unwrap();
        s.v.revoke(&s.id.to_string()).unwrap();
        s.v.lock().unwrap();
        assert!(may_have_active_shares(&s.d), "stopped but not told");
        s.v = Vault::unlock(&s.d, &pass(P)).unwrap();
        s.v.notice_answered(&s.id, NoticeStatus::Remembered, None)
            .unwrap();
        s.v.lock().unwrap();
        assert!(!may_have_active_shares(&s.d));
        let r = delete_vault(&s.d, IfSharesActive::Refuse).unwrap();
        assert!(r.removed_folder);

        // Or the citizen says so explicitly.
        let s = setup();
        s.v.lock().unwrap();
        delete_vault(&s.d, IfSharesActive::DeleteAnyway).unwrap();
        assert!(!s.d.exists());
    }
}

#[test]
fn computers_are_named_in_the_twin_and_bad_names_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("v");
    let (mut v, _code) = Vault::init(&d, &pass(P)).unwrap();
    let (_, me) = v.devices();
    assert!(v.device_names().is_empty());
    v.name_this_device("Kitchen laptop").unwrap();
    assert!(matches!(
        v.name_this_device("   "),
        Err(VaultError::BadDeviceName)
    ));
    assert!(matches!(
        v.name_this_device("a\u{7}b"),
        Err(VaultError::BadDeviceName)
    ));
    v.lock().unwrap();
    let mut v = Vault::unlock(&d, &pass(P)).unwrap();
    assert_eq!(
        v.device_names().get(&me).map(String::as_str),
        Some("Kitchen laptop")
    );
    assert!(
        v.audit()
            .unwrap()
            .iter()
            .any(|e| e.line == "You named this computer \"Kitchen laptop\".")
    );
}

mod rules {
    use super::sharing::{card, sandbox_anchor};
    use super::*;
    use twin_protocol::KeyPair;

    const PACK: &str = include_str!("../../../packaging/rules/benefits.json");

    fn today() -> time::Date {
        time::OffsetDateTime::now_utc().date()
    }

    fn version(n: u32) -> Vec<u8> {
        let mut v: serde_json::Value = serde_json::from_str(PACK).unwrap();
        v["version"] = n.into();
        serde_json::to_vec(&v).unwrap()
    }

    /// A vault with the sandbox agency added, and its signing key.
    fn vault_with_agency(d: &std::path::Path) -> (Vault, KeyPair, twin_protocol::AgencyCard) {
        let (mut v, _) = Vault::init(d, &pass(P)).unwrap();
        let agency_key = KeyPair::generate();
        let card = card(&agency_key);
        let trust = trust_list(None, true).unwrap();
        v.add_agency(&card.sign("sandbox-anchor", &sandbox_anchor()).0, &trust)
            .unwrap();
        (v, agency_key, card)
    }

    #[test]
    fn accepted_prefill_lines_are_checked_kept_and_alone_in_the_share() {
        let dir = tempfile::tempdir().unwrap();
        let (mut v, key, card) = vault_with_agency(&dir.path().join("v"));
        // The sample tax pack, published by this test's agency.
        let mut tax: serde_json::Value =
            serde_json::from_str(include_str!("../../../packaging/rules/tax.json")).unwrap();
        tax["publisher"] = card.agency.as_str().into();
        let signed = twin_protocol::sign_rule_pack(&serde_json::to_vec(&tax).unwrap(), "k1", &key);
        v.add_rule_pack(&signed, today()).unwrap();
        v.set("government.tax.reference", "AB123456C", None)
            .unwrap();
        v.set("government.tax.annual_income", "18250.5", None)
            .unwrap();
        let line = |l: &str, value: serde_json::Value| (l.to_owned(), value);

        for (lines, says) in [
            (vec![], "at least one line"),
            (
                vec![line("1.1", json!("AB123456C")), line("1.1", json!("XY"))],
                "accepted twice",
            ),
            (vec![line("1.4", json!("lots"))], "needs a number"),
            // From an employer's statement the twin does not hold: nothing proposed.
            (vec![line("1.2", json!(1000.0))], "no value to accept"),
            (vec![line("9.9", json!(1.0))], "no value to accept"),
        ] {
            let e = v
                .accept_prefill("self-assessment", &lines, today())
                .unwrap_err();
            assert_eq!(e.code(), "rule-pack-refused");
            assert!(e.to_string().contains(says), "{e}");
            assert_eq!(v.get("government.tax.return_lines").unwrap(), None);
        }
        let e = v
            .accept_prefill(
                "below-personal-allowance",
                &[line("1.1", json!("x"))],
                today(),
            )
            .unwrap_err();
        assert!(e.to_string().contains("not a pre-fill rule"), "{e}");

        let plan = v
            .accept_prefill(
                "self-assessment",
                &[line("1.1", json!("AB123456C")), line("1.4", json!(18500.0))],
                today(),
            )
            .unwrap();
        assert_eq!(plan.fields, vec!["government.tax.return_lines".to_owned()]);
        assert_eq!(plan.agency, card.agency);
        assert!(plan.records.is_empty());
        let kept = v.get("government.tax.return_lines").unwrap().unwrap();
        let kept: Vec<(&str, &serde_json::Value)> = kept
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (l["line"].as_str().unwrap(), &l["value"]))
            .collect();
        assert_eq!(
            kept,
            vec![("1.1", &json!("AB123456C")), ("1.4", &json!(18500.0))]
        );
    }

    #[test]
    fn packs_are_verified_against_the_pinned_card_kept_by_version_and_evaluated_quietly() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("v");
        let (mut v, _) = Vault::init(&d, &pass(P)).unwrap();
        let agency_key = KeyPair::generate();
        let signed = twin_protocol::sign_rule_pack(&version(1), "k1", &agency_key);
        // Not added yet.
        let e = v.add_rule_pack(&signed, today()).unwrap_err();
        assert_eq!(e.code(), "rule-pack-refused");
        let card = card(&agency_key);
        let trust = trust_list(None, true).unwrap();
        v.add_agency(&card.sign("sandbox-anchor", &sandbox_anchor()).0, &trust)
            .unwrap();
        // Signed by someone else.
        let forged = twin_protocol::sign_rule_pack(&version(1), "k1", &KeyPair::generate());
        assert!(matches!(
            v.add_rule_pack(&forged, today()),
            Err(VaultError::RulePack(_))
        ));
        let s = v.add_rule_pack(&signed, today()).unwrap();
        assert_eq!((s.pack.as_str(), s.version), ("benefits", 1));
        // The same version again is refused; a newer one replaces it.
        assert!(v.add_rule_pack(&signed, today()).is_err());
        let v2 = twin_protocol::sign_rule_pack(&version(2), "k1", &agency_key);
        v.add_rule_pack(&v2, today()).unwrap();
        let list = v.rule_packs(today());
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].version, 2);

        v.set("personal.date_of_birth", "1951-07-19", None).unwrap();
        v.set("government.tax.annual_income", "9000", None).unwrap();
        let out = v.suggest(today(), &[]).unwrap();
        let pc = out
            .iter()
            .find(|o| o.rule.to_string() == "pension-credit")
            .unwrap();
        assert_eq!(pc.status, twin_rules::Status::Applies);
        let plan = v.rule_share("pension-credit", today()).unwrap();
        assert_eq!(plan.agency.as_str(), "sandbox-benefits");
        assert_eq!(plan.purpose, pc.purpose);
        assert_eq!(
            plan.fields,
            pc.fields_read
                .iter()
                .map(|f| f.to_string())
                .collect::<Vec<_>>()
        );

        let audit: Vec<String> = v.audit().unwrap().into_iter().map(|a| a.line).collect();
        let evaluated: Vec<_> = audit
            .iter()
            .filter(|l| l.starts_with("Rules were evaluated"))
            .collect();
        assert_eq!(evaluated.len(), 1, "{audit:?}");
        assert!(
            audit
                .iter()
                .any(|l| l.contains("You added rule pack benefits version 2"))
        );
        assert!(
            !audit
                .iter()
                .any(|l| l.contains("Pension Credit") || l.contains("9000"))
        );
    }
}

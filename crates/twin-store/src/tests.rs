use super::*;

fn row(seq: u64) -> AuditRow {
    AuditRow {
        seq,
        at_ms: seq as i64,
        kind: "edit".into(),
        line: format!("line {seq}"),
        hash: [seq as u8; 32],
    }
}

#[test]
fn create_commit_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("twin.db");
    let key = DataKey::generate();
    let mut s = Store::create(&path, &key).unwrap();
    s.commit(Batch {
        change: Some(vec![1, 2, 3]),
        audit: vec![row(1)],
        meta: vec![("a".into(), vec![9])],
    })
    .unwrap();
    s.close().unwrap();
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let s = Store::open(&path, &key).unwrap();
    assert_eq!(s.meta("a").unwrap(), Some(vec![9]));
    assert_eq!(s.load_doc().unwrap(), (vec![], vec![vec![1, 2, 3]]));
    assert_eq!(s.audit_head().unwrap(), Some((1, [1; 32])));
}

#[test]
fn wrong_key_and_missing_file_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("twin.db");
    Store::create(&path, &DataKey::generate())
        .unwrap()
        .close()
        .unwrap();
    assert!(matches!(
        Store::open(&path, &DataKey::generate()),
        Err(StoreError::Damaged { .. })
    ));
    let missing = dir.path().join("nope.db");
    assert!(matches!(
        Store::open(&missing, &DataKey::generate()),
        Err(StoreError::Missing(_))
    ));
    assert!(!missing.exists(), "open never creates");
    assert!(matches!(
        Store::create(&path, &DataKey::generate()),
        Err(StoreError::Exists(_))
    ));
}

#[test]
fn nothing_in_clear_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("twin.db");
    let key = DataKey::generate();
    let mut s = Store::create(&path, &key).unwrap();
    s.commit(Batch {
        change: Some(b"CANARY-STORE-1".to_vec()),
        ..Default::default()
    })
    .unwrap();
    for f in files_of(&path) {
        if let Ok(bytes) = fs::read(&f) {
            assert!(!bytes.windows(6).any(|w| w == b"CANARY"), "{f:?}");
        }
    }
}

#[test]
fn compaction_replaces_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("twin.db");
    let mut s = Store::create(&path, &DataKey::generate()).unwrap();
    for i in 0..3 {
        s.commit(Batch {
            change: Some(vec![i]),
            ..Default::default()
        })
        .unwrap();
    }
    assert_eq!(s.pending_changes().unwrap().0, 3);
    s.compact(b"snap").unwrap();
    assert_eq!(s.load_doc().unwrap(), (b"snap".to_vec(), vec![]));
}

#[test]
fn write_fresh_copies_meta_and_audit_only() {
    let dir = tempfile::tempdir().unwrap();
    let key = DataKey::generate();
    let mut s = Store::create(&dir.path().join("a.db"), &key).unwrap();
    s.commit(Batch {
        change: Some(b"old".to_vec()),
        audit: vec![row(1)],
        meta: vec![("m".into(), vec![1])],
    })
    .unwrap();
    let key2 = DataKey::generate();
    let extra = Batch {
        audit: vec![row(2)],
        ..Default::default()
    };
    let f = s
        .write_fresh(&dir.path().join("b.db"), &key2, b"new", extra)
        .unwrap();
    assert_eq!(f.load_doc().unwrap(), (b"new".to_vec(), vec![]));
    assert_eq!(f.meta("m").unwrap(), Some(vec![1]));
    assert_eq!(f.audit().unwrap().len(), 2);
}

#[test]
fn truncated_file_is_damaged_not_recreated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("twin.db");
    let key = DataKey::generate();
    let mut s = Store::create(&path, &key).unwrap();
    for i in 0..200u32 {
        s.commit(Batch {
            change: Some(vec![i as u8; 3000]),
            ..Default::default()
        })
        .unwrap();
    }
    s.close().unwrap();
    let len = fs::metadata(&path).unwrap().len();
    let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(len / 2).unwrap();
    let r = Store::open(&path, &key).and_then(|s| s.load_doc().map(|_| ()));
    assert!(matches!(r, Err(StoreError::Damaged { .. })), "{r:?}");
}

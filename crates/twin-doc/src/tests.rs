use super::*;
use serde_json::json;

fn prov(why: &str, at_ms: i64) -> Provenance {
    Provenance {
        who: "you".into(),
        why: why.into(),
        at_ms,
    }
}

fn p(s: &str) -> FieldPath {
    FieldPath::parse(s).unwrap()
}

fn field(s: &str) -> &'static Field {
    Catalog::get().field(s).unwrap()
}

fn new_doc() -> TwinDoc {
    TwinDoc::create(&[1; 16], LineageId::random(), &prov("created", 1))
}

#[test]
fn set_get_and_history_with_provenance() {
    let mut d = new_doc();
    d.edit(
        &[(p("personal.full_name"), Some(json!("Alex Smith")))],
        &prov("first", 10),
    )
    .unwrap();
    d.edit(
        &[(p("personal.full_name"), Some(json!("Alex Jones")))],
        &prov("married", 20),
    )
    .unwrap();
    d.edit(
        &[(p("personal.household.size"), Some(json!(2)))],
        &prov("x", 30),
    )
    .unwrap();
    assert_eq!(
        d.get(field("personal.full_name")),
        Some(json!("Alex Jones"))
    );
    let h = d.history(&p("personal.full_name"));
    assert_eq!(h.len(), 2);
    assert_eq!(
        (h[0].at_ms, h[0].why.as_str(), h[0].value.clone()),
        (10, "first", Some(json!("Alex Smith")))
    );
    assert_eq!((h[1].at_ms, h[1].why.as_str()), (20, "married"));
    d.edit(&[(p("personal.full_name"), None)], &prov("cleared", 40))
        .unwrap();
    assert_eq!(d.get(field("personal.full_name")), None);
    assert_eq!(
        d.history(&p("personal.full_name")).last().unwrap().value,
        None
    );
}

#[test]
fn unchanged_edits_make_no_change() {
    let mut d = new_doc();
    d.edit(&[(p("personal.full_name"), Some(json!("A")))], &prov("", 1))
        .unwrap();
    let n = d.change_count();
    assert!(
        d.edit(&[(p("personal.full_name"), Some(json!("A")))], &prov("", 2))
            .unwrap()
            .is_empty()
    );
    assert_eq!(d.change_count(), n);
}

#[test]
fn opt_in_is_enforced() {
    let mut d = new_doc();
    let e = d
        .edit(
            &[(p("health.gp_practice"), Some(json!("Park Lane")))],
            &prov("", 1),
        )
        .unwrap_err();
    assert!(matches!(e, DocError::NotOptedIn(Category::Health)));
    assert!(e.to_string().contains("twin opt-in health"));
    d.set_opt_in(Category::Health, true, &prov("", 2));
    d.edit(
        &[(p("health.gp_practice"), Some(json!("Park Lane")))],
        &prov("", 3),
    )
    .unwrap();
}

#[test]
fn edits_are_all_or_nothing() {
    let mut d = new_doc();
    let r = d.edit(
        &[
            (p("personal.full_name"), Some(json!("A"))),
            (p("personal.household.size"), Some(json!(99))),
        ],
        &prov("", 1),
    );
    assert!(matches!(r, Err(DocError::Invalid(_))));
    assert_eq!(d.get(field("personal.full_name")), None);
}

#[test]
fn save_load_round_trip_keeps_history() {
    let mut d = new_doc();
    let base = d.heads();
    d.edit(
        &[(p("personal.email"), Some(json!("a@example.org")))],
        &prov("", 5),
    )
    .unwrap();
    let snap = d.save();
    let inc = {
        d.edit(
            &[(p("personal.address.town"), Some(json!("Leeds")))],
            &prov("", 6),
        )
        .unwrap();
        d.save_after(&base)
    };
    let back = TwinDoc::load(&snap, [inc.as_slice()], &[2; 16]).unwrap();
    assert_eq!(
        back.get(field("personal.address.town")),
        Some(json!("Leeds"))
    );
    assert_eq!(back.history(&p("personal.email")).len(), 1);
    assert!(TwinDoc::load(b"garbage", [], &[2; 16]).is_err());
}

#[test]
fn rebuild_drops_every_byte_of_the_erased_value_and_keeps_the_rest() {
    let mut d = new_doc();
    d.set_opt_in(Category::Health, true, &prov("", 1));
    d.edit(
        &[(p("personal.full_name"), Some(json!("Keep Me")))],
        &prov("named", 2),
    )
    .unwrap();
    d.edit(
        &[(p("health.gp_practice"), Some(json!("CANARY-7781")))],
        &prov("", 3),
    )
    .unwrap();
    d.edit(
        &[(p("health.gp_practice"), Some(json!("CANARY-7782")))],
        &prov("", 4),
    )
    .unwrap();
    d.edit(
        &[(p("personal.full_name"), Some(json!("Keep Me Too")))],
        &prov("renamed", 5),
    )
    .unwrap();
    let old_lineage = d.lineage().unwrap();
    let lineage = LineageId::random();
    let r = d.rebuild_without(&p("health"), lineage, &prov("erased health", 6));
    assert_eq!(r.lineage(), Some(lineage));
    assert_ne!(r.lineage(), Some(old_lineage));
    assert_eq!(r.erased_paths(), vec!["health".to_string()]);
    assert_eq!(r.get(field("health.gp_practice")), None);
    assert_eq!(
        r.get(field("personal.full_name")),
        Some(json!("Keep Me Too"))
    );
    let h = r.history(&p("personal.full_name"));
    assert_eq!(
        h.iter().map(|e| e.why.as_str()).collect::<Vec<_>>(),
        ["named", "renamed"]
    );
    assert!(r.history(&p("health.gp_practice")).is_empty());
    let bytes = r.save();
    assert!(!bytes.windows(6).any(|w| w == b"CANARY"));
    // Saved uncompressed too, in case compression hid it.
    assert!(!r.doc.save_nocompress().windows(6).any(|w| w == b"CANARY"));
}

#[test]
fn concurrent_edits_show_as_conflicts() {
    let mut a = new_doc();
    let mut b = TwinDoc::load(&a.save(), [], &[9; 16]).unwrap();
    a.edit(
        &[(p("personal.address.town"), Some(json!("Leeds")))],
        &prov("", 2),
    )
    .unwrap();
    b.edit(
        &[(p("personal.address.town"), Some(json!("York")))],
        &prov("", 2),
    )
    .unwrap();
    a.doc.merge(&mut b.doc).unwrap();
    let all = a.get_all(field("personal.address.town"));
    assert_eq!(all.len(), 2);
    assert_eq!(a.devices().len(), 2);
}

#[test]
fn nest_and_describe() {
    let v = nest(&[
        (p("personal.address.town"), json!("Leeds")),
        (p("personal.full_name"), json!("A")),
    ]);
    assert_eq!(
        v,
        json!({"personal": {"address": {"town": "Leeds"}, "full_name": "A"}})
    );
    assert_eq!(
        describe(&[p("personal.full_name"), p("personal.address.town")]),
        "full name (personal.full_name) and town or city (personal.address.town)"
    );
}

#[test]
fn erasing_twice_keeps_both_paths_listed() {
    let mut d = new_doc();
    d.edit(
        &[(p("personal.email"), Some(json!("a@example.org")))],
        &prov("", 1),
    )
    .unwrap();
    d.edit(
        &[(p("personal.phone"), Some(json!("+44 1234 567890")))],
        &prov("", 2),
    )
    .unwrap();
    let d = d.rebuild_without(&p("personal.email"), LineageId::random(), &prov("", 3));
    let d = d.rebuild_without(&p("personal.phone"), LineageId::random(), &prov("", 4));
    let mut erased = d.erased_paths();
    erased.sort();
    assert_eq!(erased, ["personal.email", "personal.phone"]);
}

#[test]
fn ledger_entries_round_trip_and_stay_off_field_paths() {
    let mut d = new_doc();
    d.ledger_put(
        &["grants", "issued", "abc"],
        &[("agency", json!("x")), ("expires_at", json!(5))],
        &prov("", 1),
    )
    .unwrap();
    let e = d.ledger_get(&["grants", "issued", "abc"]);
    assert_eq!(
        (e["agency"].clone(), e["expires_at"].clone()),
        (json!("x"), json!(5))
    );
    assert_eq!(
        d.ledger_children(&["grants", "issued"]),
        vec!["abc".to_string()]
    );
    assert!(
        d.ledger_put(&["personal"], &[("full_name", json!("x"))], &prov("", 2))
            .is_err()
    );
}

#[test]
fn a_revocation_always_survives_a_merge() {
    let mut a = new_doc();
    a.ledger_put(
        &["grants", "issued", "g1"],
        &[("agency", json!("x"))],
        &prov("", 1),
    )
    .unwrap();
    let mut b = TwinDoc::load(&a.save(), [], &[9; 16]).unwrap();
    // Computer A stops the grant; computer B, unaware, edits the grant's entry later.
    a.ledger_put(
        &["grants", "revoked", "g1"],
        &[("at", json!(5))],
        &prov("", 5),
    )
    .unwrap();
    b.ledger_put(
        &["grants", "issued", "g1"],
        &[("purpose", json!("y"))],
        &prov("", 9),
    )
    .unwrap();
    b.ledger_put(&["grants", "revoked"], &[], &prov("", 9))
        .unwrap();
    a.doc.merge(&mut b.doc).unwrap();
    b.doc.merge(&mut a.doc).unwrap();
    for d in [&a, &b] {
        assert_eq!(d.ledger_get(&["grants", "revoked", "g1"])["at"], json!(5));
    }
}

#[test]
fn maps_made_on_two_computers_at_once_are_both_read() {
    let mut a = new_doc();
    let mut b = TwinDoc::load(&a.save(), [], &[9; 16]).unwrap();
    a.ledger_put(
        &["records", "agency-x", "r1"],
        &[("type", json!("t"))],
        &prov("", 1),
    )
    .unwrap();
    b.ledger_put(
        &["records", "agency-x", "r2"],
        &[("type", json!("t"))],
        &prov("", 1),
    )
    .unwrap();
    a.doc.merge(&mut b.doc).unwrap();
    assert_eq!(a.ledger_children(&["records", "agency-x"]), ["r1", "r2"]);
    assert_eq!(
        a.ledger_get(&["records", "agency-x", "r2"])["type"],
        json!("t")
    );
}

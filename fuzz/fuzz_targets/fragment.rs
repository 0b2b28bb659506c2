//! `twin import` fragments: any JSON, checked against the field schemas.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let catalog = twin_schema::Catalog::get();
        if let Ok(pairs) = catalog.flatten(&v) {
            for (path, value) in pairs {
                assert!(catalog.field(path.as_str()).unwrap().check(&value).is_ok());
            }
        }
    }
});

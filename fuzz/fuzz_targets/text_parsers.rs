//! Field paths, agency ids and recovery codes: whatever a citizen or a file types.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(p) = twin_types::FieldPath::parse(text) {
            assert_eq!(p.as_str(), text);
        }
        let _ = twin_types::AgencyId::parse(text);
        let _ = text.parse::<twin_types::GrantId>();
        if let Ok(code) = twin_crypto::RecoveryCode::parse(text) {
            // A parsed code prints back to a form that parses to the same key.
            let again = twin_crypto::RecoveryCode::parse(&code.display()).expect("round trip");
            assert!(again.to_kek(&[0; 16]) == code.to_kek(&[0; 16]));
        }
    }
});

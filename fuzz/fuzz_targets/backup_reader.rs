//! `.twinbackup` files: `inspect`, `verify` and `open` on any bytes. Seeded from the
//! committed vectors, whose recovery code is used here, so mutations of the body reach
//! the section decryption of `open`. Invariants: no panic; a file that `verify` accepts
//! opens completely; `open` never reports a complete backup that `verify` refuses.
#![no_main]
use libfuzzer_sys::fuzz_target;
use twin_backup::Unlock;

const CODE: &str = "0410Q-6105C-0R3G7-G28AA-1C60S-T3GF8-208H7-44RM5";

fuzz_target!(|data: &[u8]| {
    let _ = twin_backup::inspect(std::io::Cursor::new(data));
    let verified = twin_backup::verify(data);
    let code = twin_crypto::RecoveryCode::parse(CODE).unwrap();
    if let Ok(opened) = twin_backup::open(data, Unlock::RecoveryCode(&code)) {
        if opened.is_complete() {
            assert!(verified.is_ok(), "open says complete, verify says {verified:?}");
        }
        if verified.is_ok() {
            assert!(opened.is_complete(), "verify accepts, open lost {:?}", opened.lost);
        }
    }
});

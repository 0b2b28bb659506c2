//! Several threads open their first stores at the same moment, in a fresh process (each
//! integration test file is its own binary). SQLCipher finishes its process-wide start-up
//! after SQLite reports itself ready, so without `init_sqlcipher` one of them could key
//! too early and fail with "SQL logic error" (seen in CI, about 1 run in 150 here).
use std::sync::{Arc, Barrier};
use twin_crypto::DataKey;
use twin_store::Store;

#[test]
fn threads_opening_their_first_store_together_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let threads = 32;
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let path = dir.path().join(format!("{i}.db"));
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                Store::create(&path, &DataKey::generate()).map(|s| s.close())
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap().unwrap().unwrap();
    }
}

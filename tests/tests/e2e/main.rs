//! End-to-end tests: the real `twin` binary against real vaults on disk.
//!
//! One test binary (this folder) so the vault crates are linked once. Every test has its
//! own temporary world (see `common::World`) and depends on no other. Argon2id runs once
//! per command, so tests group several steps of one story into one test.

mod common;

mod agency;
mod backup;

mod canary;
mod contract;
mod damage;
mod erase;
mod input;
mod kill;
mod lifecycle;
mod rules;
mod sharing;

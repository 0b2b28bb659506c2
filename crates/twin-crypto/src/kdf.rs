use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{Kek, Passphrase};

/// Argon2id parameters, stored in the vault's key file next to the salt.
///
/// Values read from disk pass [`KdfParams::check`] before use, so a hostile key file
/// cannot make unlock take an hour or all memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl KdfParams {
    /// The default for new vaults: 64 MiB, 3 passes, 1 lane (RFC 9106's second recommended
    /// option, sized for a desktop; about half a second here).
    pub const DEFAULT: KdfParams = KdfParams {
        memory_kib: 64 * 1024,
        iterations: 3,
        parallelism: 1,
    };
    /// Least memory accepted from a file: 8 MiB.
    pub const MIN_MEMORY_KIB: u32 = 8 * 1024;
    /// Most memory accepted from a file: 1 GiB.
    pub const MAX_MEMORY_KIB: u32 = 1024 * 1024;
    /// Most passes accepted from a file.
    pub const MAX_ITERATIONS: u32 = 10;
    /// Most lanes accepted from a file.
    pub const MAX_PARALLELISM: u32 = 4;

    /// Checks parameters read from a file against the bounds above.
    pub fn check(self) -> Result<Self, KdfError> {
        let ok = (Self::MIN_MEMORY_KIB..=Self::MAX_MEMORY_KIB).contains(&self.memory_kib)
            && (1..=Self::MAX_ITERATIONS).contains(&self.iterations)
            && (1..=Self::MAX_PARALLELISM).contains(&self.parallelism);
        if ok {
            Ok(self)
        } else {
            Err(KdfError::OutOfBounds(self))
        }
    }
}

/// Why a key could not be derived.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KdfError {
    /// The stored parameters are outside what this program accepts.
    #[error(
        "the key file asks for unlock settings outside safe limits ({} KiB memory, {} passes, {} lanes)",
        .0.memory_kib, .0.iterations, .0.parallelism
    )]
    OutOfBounds(KdfParams),
    /// Argon2 rejected the input (salt length, parameters).
    #[error("the passphrase could not be turned into a key")]
    Argon2,
}

/// Argon2id(passphrase, salt, params) → a key-encryption key. Checks `params` first.
pub fn derive_kek(
    passphrase: &Passphrase,
    salt: &[u8; 16],
    params: KdfParams,
) -> Result<Kek, KdfError> {
    let params = params.check()?;
    let p = argon2::Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        Some(32),
    )
    .map_err(|_| KdfError::Argon2)?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, p);
    let mut out = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passphrase.expose().as_bytes(), salt, out.as_mut())
        .map_err(|_| KdfError::Argon2)?;
    Ok(Kek::from_bytes(*out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_parameters_are_refused_before_any_work() {
        for bad in [
            KdfParams {
                memory_kib: u32::MAX,
                ..KdfParams::DEFAULT
            },
            KdfParams {
                iterations: 1_000_000,
                ..KdfParams::DEFAULT
            },
            KdfParams {
                parallelism: 0,
                ..KdfParams::DEFAULT
            },
            KdfParams {
                memory_kib: 8,
                ..KdfParams::DEFAULT
            },
        ] {
            let r = derive_kek(&Passphrase::new("x".into()), &[0; 16], bad);
            assert!(matches!(r, Err(KdfError::OutOfBounds(_))), "{bad:?}");
        }
    }

    #[test]
    fn same_input_same_key_different_salt_different_key() {
        let p = Passphrase::new("correct horse battery".into());
        let small = KdfParams {
            memory_kib: KdfParams::MIN_MEMORY_KIB,
            iterations: 1,
            parallelism: 1,
        };
        let a = derive_kek(&p, &[1; 16], small).unwrap();
        let b = derive_kek(&p, &[1; 16], small).unwrap();
        let c = derive_kek(&p, &[2; 16], small).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}

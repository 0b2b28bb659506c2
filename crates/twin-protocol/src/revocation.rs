//! Revocation notices: the citizen's signed "stop using this grant".
//!
//! Signed by the same pairwise key as the grant. An agency remembers a notice even for a
//! grant id it has not yet seen, together with the key that signed it; a grant that
//! arrives later with that id and that key is refused as revoked.

use serde::{Deserialize, Serialize};
use twin_types::{AgencyId, GrantId};

use crate::cbor;
use crate::cose::{self, Unchecked};
use crate::keys::{KeyPair, SignPublic};

/// What a revocation notice says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// Format version: 1.
    pub v: u8,
    /// The grant stopped.
    pub grant_id: GrantId,
    /// The agency it was shared with.
    pub agency: AgencyId,
    /// When the citizen stopped it (seconds since 1970, UTC).
    pub revoked_at: i64,
    /// The pairwise key that signed the grant and this notice.
    pub signer: SignPublic,
}

/// Why a revocation notice was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RevocationError {
    /// Not a notice.
    #[error("this is not a revocation notice, or it is damaged")]
    Malformed,
    /// For another agency.
    #[error("this revocation notice is for another agency")]
    WrongAudience,
    /// The signature does not hold.
    #[error("this revocation notice's signature does not check out")]
    BadSignature,
}

impl Revocation {
    /// Signs a notice with the citizen's pairwise key.
    pub fn sign(
        grant_id: GrantId,
        agency: AgencyId,
        revoked_at: i64,
        citizen: &KeyPair,
    ) -> Vec<u8> {
        let r = Revocation {
            v: 1,
            grant_id,
            agency,
            revoked_at,
            signer: citizen.sign_public(),
        };
        cose::sign(
            cose::kind::REVOCATION,
            &r.signer.0,
            cbor::to_vec(&r),
            citizen,
        )
    }

    /// Verifies a notice addressed to `agency`: signed by the key it names.
    pub fn verify(bytes: &[u8], agency: &AgencyId) -> Result<Revocation, RevocationError> {
        let cose = Unchecked::parse(bytes, cose::kind::REVOCATION)
            .map_err(|_| RevocationError::Malformed)?;
        let r: Revocation =
            cbor::from_slice(cose.payload_unchecked()).ok_or(RevocationError::Malformed)?;
        if r.v != 1 {
            return Err(RevocationError::Malformed);
        }
        if cose.kid() != r.signer.0 || !cose.verify(&r.signer) {
            return Err(RevocationError::BadSignature);
        }
        if &r.agency != agency {
            return Err(RevocationError::WrongAudience);
        }
        Ok(r)
    }
}

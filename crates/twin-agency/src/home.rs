//! The agency's folder: its keys, its card, its staff, its store.
//!
//! ```text
//! DIR/card.twincard        the signed card (public; served at /.well-known/twin-agency)
//! DIR/card.json            the same card, readable
//! DIR/agency-keys.json     the agency's secret key seeds, by key id (0600)
//! DIR/staff/<name>.json    each member of staff's secret signing seed (0600)
//! DIR/agency.db, keys.db   the store (see twin-agency-store)
//! ```

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use twin_protocol::{AgencyCard, CardKey, KeyPair, Purpose, SignedCard};
use twin_types::AgencyId;
use zeroize::Zeroizing;

/// The sandbox anchor (its private key is public on purpose).
const SANDBOX_ANCHOR: &str = include_str!("../../../packaging/trust/sandbox/anchor-private.json");

/// Why the agency's folder could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HomeError {
    /// `init` on a folder that already has an agency.
    #[error("{0} already holds an agency; nothing was overwritten")]
    Exists(PathBuf),
    /// No agency here.
    #[error("{0} holds no agency: run `twin-agency init --dir {0} --name NAME --sandbox` first")]
    Missing(PathBuf),
    /// A file that is not what it should be.
    #[error("{0} is damaged or not an agency file")]
    Damaged(PathBuf),
    /// A bad argument.
    #[error("{0}")]
    Invalid(String),
    /// No such member of staff.
    #[error(
        "there is no member of staff called \"{0}\" here: add them with `twin-agency staff add \"{0}\"`"
    )]
    NoStaff(String),
    /// Reading or writing failed.
    #[error("could not write or read {0}: {1}")]
    Io(PathBuf, std::io::Error),
}

#[derive(Serialize, Deserialize)]
struct SecretKey {
    kid: String,
    sign: String,
    seal: String,
}

#[derive(Serialize, Deserialize)]
struct SecretKeys {
    keys: Vec<SecretKey>,
}

#[derive(Serialize, Deserialize)]
struct StaffFile {
    name: String,
    sign: String,
}

/// What `init` makes the card from.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The agency's name for people.
    pub name: String,
    /// Its id (default: made from the name).
    pub id: Option<String>,
    /// Where citizens reach it.
    pub endpoint: String,
    /// Sign with the sandbox anchor (for local use and tests only).
    pub sandbox: bool,
    /// Sign with this anchor instead: its id and Ed25519 seed.
    pub anchor: Option<(String, Zeroizing<[u8; 32]>)>,
    /// What it asks for and why (default: the sandbox set).
    pub purposes: Option<Vec<Purpose>>,
    /// Record types it issues.
    pub record_types: Vec<String>,
    /// How long the card and its key are valid, in days.
    pub valid_days: i64,
}

/// A loaded agency: card and keys.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Its card.
    pub card: AgencyCard,
    /// The card as signed bytes.
    pub signed_card: Vec<u8>,
    /// Its key pairs, by key id.
    pub keys: Vec<(String, Arc<KeyPair>)>,
}

fn io(p: &Path) -> impl FnOnce(std::io::Error) -> HomeError + '_ {
    move |e| HomeError::Io(p.to_path_buf(), e)
}

/// Writes `bytes` to `path` atomically (temp file, fsync, rename), with `mode`.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), HomeError> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(bytes).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))?;
    Ok(())
}

fn seed(hex_text: &str, path: &Path) -> Result<Zeroizing<[u8; 32]>, HomeError> {
    let mut out = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(hex_text, out.as_mut()).map_err(|_| HomeError::Damaged(path.into()))?;
    Ok(out)
}

/// The purposes a sandbox agency asks for.
pub fn sandbox_purposes() -> Vec<Purpose> {
    vec![
        Purpose {
            code: "pension-credit-check".into(),
            words: "Pension Credit check".into(),
            fields: vec![
                "personal.date_of_birth".into(),
                "personal.address.postcode".into(),
            ],
            legal_basis: "State Pension Credit Act 2002, section 1".into(),
            retention_days: 30,
        },
        Purpose {
            code: "housing-support".into(),
            words: "Help with housing costs".into(),
            fields: vec![
                "personal.full_name".into(),
                "personal.address.line1".into(),
                "personal.address.town".into(),
                "personal.address.postcode".into(),
                "personal.household.size".into(),
                "government.tax.annual_income".into(),
            ],
            legal_basis: "Housing Benefit Regulations 2006, regulation 2".into(),
            retention_days: 90,
        },
    ]
}

/// An agency id made from a name: "Sandbox Benefits Agency" → `sandbox-benefits-agency`.
pub fn id_from_name(name: &str) -> String {
    let mut id = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c.to_ascii_lowercase());
        } else if !id.ends_with('-') && !id.is_empty() {
            id.push('-');
        }
    }
    id.trim_end_matches('-').chars().take(64).collect()
}

/// Makes a new agency in `dir`: keys, a card signed by the anchor, an empty store.
pub fn init(dir: &Path, opts: &InitOptions, now: i64) -> Result<Identity, HomeError> {
    if dir.join("card.twincard").exists() || dir.join("agency-keys.json").exists() {
        return Err(HomeError::Exists(dir.into()));
    }
    let id = opts.id.clone().unwrap_or_else(|| id_from_name(&opts.name));
    let agency = AgencyId::parse(&id).map_err(|e| HomeError::Invalid(format!("{e}: \"{id}\"")))?;
    if opts.name.trim().is_empty() || opts.name.len() > 120 {
        return Err(HomeError::Invalid(
            "the agency's name must be 1 to 120 characters".into(),
        ));
    }
    let (anchor_id, anchor_seed) = match (&opts.anchor, opts.sandbox) {
        (Some((id, seed)), _) => (id.clone(), seed.clone()),
        (None, true) => {
            let v: serde_json::Value =
                serde_json::from_str(SANDBOX_ANCHOR).expect("the committed sandbox anchor");
            let s = seed(
                v["sign_seed"].as_str().unwrap_or_default(),
                Path::new("sandbox anchor"),
            )?;
            (v["id"].as_str().unwrap_or_default().to_owned(), s)
        }
        (None, false) => {
            return Err(HomeError::Invalid(
                "a card must be signed by a trust anchor: pass --sandbox (local use and tests) or --anchor-key FILE".into(),
            ));
        }
    };
    for p in opts.purposes.iter().flatten() {
        for f in &p.fields {
            twin_schema::Catalog::get()
                .field(f)
                .map_err(|e| HomeError::Invalid(format!("purpose {}: {e}", p.code)))?;
        }
    }
    for t in &opts.record_types {
        if !twin_schema::record_types().any(|k| k == t) {
            return Err(HomeError::Invalid(format!(
                "no schema is known for record type {t}; known: {}",
                twin_schema::record_types().collect::<Vec<_>>().join(", ")
            )));
        }
    }
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
    let key = KeyPair::generate();
    let valid_until = now.saturating_add(opts.valid_days.saturating_mul(86_400));
    let card = AgencyCard {
        v: 1,
        agency,
        name: opts.name.trim().to_owned(),
        endpoint: opts.endpoint.clone(),
        sandbox: opts.sandbox,
        keys: vec![CardKey {
            kid: "k1".into(),
            sign: key.sign_public(),
            seal: key.seal_public(),
            not_after: valid_until,
        }],
        record_types: opts.record_types.clone(),
        purposes: opts.purposes.clone().unwrap_or_else(sandbox_purposes),
        expires_at: valid_until,
    };
    let anchor_key = KeyPair::from_seeds(*anchor_seed, [0; 32]);
    let signed = card.sign(&anchor_id, &anchor_key);
    let seeds = key.to_seeds();
    let secret = Zeroizing::new(
        serde_json::to_vec_pretty(&SecretKeys {
            keys: vec![SecretKey {
                kid: "k1".into(),
                sign: hex::encode(&seeds[..32]),
                seal: hex::encode(&seeds[32..]),
            }],
        })
        .expect("keys serialise"),
    );
    write_atomic(&dir.join("agency-keys.json"), &secret, 0o600)?;
    write_atomic(
        &dir.join("card.json"),
        &serde_json::to_vec_pretty(&card).expect("cards serialise"),
        0o644,
    )?;
    write_atomic(&dir.join("card.twincard"), &signed.0, 0o644)?;
    load(dir)
}

/// Loads the agency in `dir`.
pub fn load(dir: &Path) -> Result<Identity, HomeError> {
    let card_path = dir.join("card.twincard");
    let keys_path = dir.join("agency-keys.json");
    if !card_path.exists() || !keys_path.exists() {
        return Err(HomeError::Missing(dir.into()));
    }
    let signed_card = std::fs::read(&card_path).map_err(io(&card_path))?;
    let card = SignedCard(signed_card.clone())
        .read_pinned()
        .ok_or_else(|| HomeError::Damaged(card_path.clone()))?;
    let text = Zeroizing::new(std::fs::read(&keys_path).map_err(io(&keys_path))?);
    let secret: SecretKeys =
        serde_json::from_slice(&text).map_err(|_| HomeError::Damaged(keys_path.clone()))?;
    let mut keys = Vec::new();
    for k in &secret.keys {
        let pair = KeyPair::from_seeds(*seed(&k.sign, &keys_path)?, *seed(&k.seal, &keys_path)?);
        let on_card = card.keys.iter().find(|c| c.kid == k.kid);
        if on_card.is_none_or(|c| c.sign != pair.sign_public() || c.seal != pair.seal_public()) {
            return Err(HomeError::Damaged(keys_path.clone()));
        }
        keys.push((k.kid.clone(), Arc::new(pair)));
    }
    Ok(Identity {
        card,
        signed_card,
        keys,
    })
}

fn staff_path(dir: &Path, name: &str) -> Result<PathBuf, HomeError> {
    let slug = id_from_name(name);
    if slug.is_empty() || name.trim().is_empty() || name.len() > 80 {
        return Err(HomeError::Invalid(
            "a member of staff's name must be 1 to 80 characters with a letter or digit".into(),
        ));
    }
    Ok(dir.join("staff").join(format!("{slug}.json")))
}

/// Makes a member of staff's signing key and keeps its secret half in `staff/`.
pub fn add_staff(dir: &Path, name: &str) -> Result<KeyPair, HomeError> {
    let path = staff_path(dir, name)?;
    if path.exists() {
        return Err(HomeError::Invalid(format!(
            "there is already a member of staff called \"{name}\""
        )));
    }
    let staff_dir = dir.join("staff");
    std::fs::create_dir_all(&staff_dir).map_err(io(&staff_dir))?;
    std::fs::set_permissions(&staff_dir, std::fs::Permissions::from_mode(0o700))
        .map_err(io(&staff_dir))?;
    let key = KeyPair::generate();
    let seeds = key.to_seeds();
    let file = Zeroizing::new(
        serde_json::to_vec_pretty(&StaffFile {
            name: name.trim().to_owned(),
            sign: hex::encode(&seeds[..32]),
        })
        .expect("staff files serialise"),
    );
    write_atomic(&path, &file, 0o600)?;
    Ok(key)
}

/// A member of staff's key, by name.
pub fn staff_key(dir: &Path, name: &str) -> Result<(String, KeyPair), HomeError> {
    let path = staff_path(dir, name)?;
    if !path.exists() {
        return Err(HomeError::NoStaff(name.to_owned()));
    }
    let text = Zeroizing::new(std::fs::read(&path).map_err(io(&path))?);
    let f: StaffFile =
        serde_json::from_slice(&text).map_err(|_| HomeError::Damaged(path.clone()))?;
    let s = seed(&f.sign, &path)?;
    Ok((f.name, KeyPair::from_seeds(*s, [0; 32])))
}

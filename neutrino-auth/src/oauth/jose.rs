//! ID-token verification on `jsonwebtoken`: the signature with a key of the
//! provider's JWKS, the `alg` pinned per provider, `iss`, `aud` (and `azp`),
//! `exp`, `nbf`, `iat`, `nonce` and `at_hash`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256, Sha384, Sha512};
use subtle::ConstantTimeEq;

use super::error::OAuthError;

/// Longest ID token read, in bytes.
pub(crate) const MAX_ID_TOKEN_LEN: usize = 16 * 1024;
/// Clock skew allowed on `exp`, `nbf` and `iat`.
pub(crate) const LEEWAY: Duration = Duration::from_secs(60);
/// Oldest `iat` accepted.
const MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// The claims of a verified ID token that sign-in uses.
#[derive(Clone, Deserialize)]
pub(crate) struct IdClaims {
    pub(crate) sub: String,
    #[serde(default)]
    pub(crate) email: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub(crate) email_verified: Option<bool>,
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) picture: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    at_hash: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    aud: Audience,
    #[serde(default)]
    iat: Option<i64>,
}

#[derive(Clone, Default, Deserialize)]
#[serde(untagged)]
enum Audience {
    #[default]
    None,
    Many(Vec<String>),
    Other(serde::de::IgnoredAny),
}

/// `true`, `false`, or the strings `"true"` / `"false"` some providers send.
pub(crate) fn lenient_bool<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        B(bool),
        S(String),
    }
    Ok(match Option::<B>::deserialize(d)? {
        Some(B::B(b)) => Some(b),
        Some(B::S(s)) => Some(s == "true"),
        None => None,
    })
}

/// What an ID token must satisfy.
pub(crate) struct Expect<'a> {
    /// The provider's issuer, exactly.
    pub(crate) issuer: &'a str,
    /// The client ID: the audience.
    pub(crate) client_id: &'a str,
    /// The nonce this handshake sent; `None`: the token must carry none.
    pub(crate) nonce: Option<&'a str>,
    /// The access token the token endpoint returned with the ID token.
    pub(crate) access_token: Option<&'a str>,
    /// Now.
    pub(crate) now: SystemTime,
}

/// Whether `alg` is an asymmetric algorithm this crate verifies.
pub(crate) fn is_asymmetric(alg: Algorithm) -> bool {
    is_rsa(alg) || is_ec(alg)
}

/// The RSA signatures (PKCS#1 v1.5 and PSS).
fn is_rsa(alg: Algorithm) -> bool {
    use Algorithm::*;
    matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512)
}

/// The elliptic-curve signatures verified here (P-256, P-384).
fn is_ec(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::ES256 | Algorithm::ES384)
}

fn bad(reason: &'static str) -> OAuthError {
    OAuthError::InvalidIdToken { reason }
}

/// Whether `jwk` may verify a token signed with `alg`: its key type fits the
/// algorithm's family and its own `alg`, when it names one, is `alg`.
fn key_fits(jwk: &Jwk, alg: Algorithm) -> bool {
    let family_fits = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => is_rsa(alg),
        AlgorithmParameters::EllipticCurve(_) => is_ec(alg),
        // Symmetric (`oct`) and other keys never verify an ID token here.
        _ => false,
    };
    let alg_fits = match jwk.common.key_algorithm {
        None => true,
        Some(k) => key_algorithm(alg) == Some(k),
    };
    let use_fits = !matches!(
        jwk.common.public_key_use,
        Some(jsonwebtoken::jwk::PublicKeyUse::Encryption)
    );
    family_fits && alg_fits && use_fits
}

fn key_algorithm(alg: Algorithm) -> Option<KeyAlgorithm> {
    Some(match alg {
        Algorithm::RS256 => KeyAlgorithm::RS256,
        Algorithm::RS384 => KeyAlgorithm::RS384,
        Algorithm::RS512 => KeyAlgorithm::RS512,
        Algorithm::PS256 => KeyAlgorithm::PS256,
        Algorithm::PS384 => KeyAlgorithm::PS384,
        Algorithm::PS512 => KeyAlgorithm::PS512,
        Algorithm::ES256 => KeyAlgorithm::ES256,
        Algorithm::ES384 => KeyAlgorithm::ES384,
        _ => return None,
    })
}

/// The header of `token`: its algorithm (refused unless pinned) and key ID.
/// `alg: none`, unknown algorithms and HS* never pass.
pub(crate) fn header(
    token: &str,
    algorithms: &[Algorithm],
) -> Result<(Algorithm, Option<String>), OAuthError> {
    if token.len() > MAX_ID_TOKEN_LEN {
        return Err(bad("too long"));
    }
    let header =
        jsonwebtoken::decode_header(token).map_err(|_| bad("malformed or unsupported header"))?;
    if !is_asymmetric(header.alg) || !algorithms.contains(&header.alg) {
        return Err(bad("algorithm not allowed for this provider"));
    }
    Ok((header.alg, header.kid))
}

/// The key of `keys` that verifies a token with `alg` and `kid`: the one
/// with that `kid`, or, without a `kid`, the only key that fits.
pub(crate) fn find_key<'k>(keys: &'k JwkSet, alg: Algorithm, kid: Option<&str>) -> Option<&'k Jwk> {
    match kid {
        Some(kid) => keys
            .keys
            .iter()
            .find(|k| k.common.key_id.as_deref() == Some(kid) && key_fits(k, alg)),
        None => {
            let mut fitting = keys.keys.iter().filter(|k| key_fits(k, alg));
            let first = fitting.next();
            if fitting.next().is_some() {
                None
            } else {
                first
            }
        }
    }
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Verifies `token` with `key` against `expect`.
pub(crate) fn verify(
    token: &str,
    alg: Algorithm,
    key: &Jwk,
    expect: &Expect<'_>,
) -> Result<IdClaims, OAuthError> {
    let decoding = DecodingKey::from_jwk(key).map_err(|_| bad("unusable key"))?;
    let mut validation = Validation::new(alg);
    validation.algorithms = vec![alg];
    validation.set_issuer(&[expect.issuer]);
    validation.set_audience(&[expect.client_id]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.leeway = LEEWAY.as_secs();
    let data = jsonwebtoken::decode::<IdClaims>(token, &decoding, &validation).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind as K;
        bad(match e.kind() {
            K::InvalidSignature => "bad signature",
            K::ExpiredSignature => "expired",
            K::ImmatureSignature => "not yet valid",
            K::InvalidIssuer => "wrong issuer",
            K::InvalidAudience => "wrong audience",
            K::InvalidAlgorithm => "algorithm not allowed for this provider",
            K::MissingRequiredClaim(_) => "missing claim",
            _ => "invalid token",
        })
    })?;
    let claims = data.claims;
    // Several audiences: the authorized party must be this client.
    let many = matches!(&claims.aud, Audience::Many(v) if v.len() > 1);
    match claims.azp.as_deref() {
        Some(azp) if azp != expect.client_id => return Err(bad("wrong authorized party")),
        None if many => return Err(bad("wrong authorized party")),
        _ => {}
    }
    let now = unix(expect.now);
    let leeway = i64::try_from(LEEWAY.as_secs()).unwrap_or(60);
    let max_age = i64::try_from(MAX_AGE.as_secs()).unwrap_or(86_400);
    match claims.iat {
        Some(iat) if iat <= now + leeway && iat >= now - max_age => {}
        _ => return Err(bad("issued-at out of range")),
    }
    let nonce_ok = match (claims.nonce.as_deref(), expect.nonce) {
        (Some(n), Some(want)) => bool::from(n.as_bytes().ct_eq(want.as_bytes())),
        (None, None) => true,
        _ => false,
    };
    if !nonce_ok {
        return Err(bad("nonce mismatch"));
    }
    if let (Some(at_hash), Some(access)) = (claims.at_hash.as_deref(), expect.access_token)
        && at_hash != token_hash(alg, access)
    {
        return Err(bad("access token hash mismatch"));
    }
    if claims.sub.is_empty() || claims.sub.len() > 255 {
        return Err(bad("bad subject"));
    }
    Ok(claims)
}

/// OIDC's `at_hash`: the left half of the access token's hash (the hash of
/// the signing algorithm), base64url.
pub(crate) fn token_hash(alg: Algorithm, token: &str) -> String {
    let digest: Vec<u8> = match alg {
        Algorithm::RS384 | Algorithm::PS384 | Algorithm::ES384 | Algorithm::HS384 => {
            Sha384::digest(token.as_bytes()).to_vec()
        }
        Algorithm::RS512 | Algorithm::PS512 | Algorithm::HS512 => {
            Sha512::digest(token.as_bytes()).to_vec()
        }
        _ => Sha256::digest(token.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

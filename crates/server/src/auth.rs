//! Who is calling, and whether they may: API tokens (`Authorization: Bearer …`) and login
//! sessions (an HttpOnly cookie, with a CSRF token every call but a read must echo in
//! `X-CSRF-Token`). Secrets are 256 random bits; the store keeps only their SHA-256, and
//! passwords only as Argon2id hashes.

use std::sync::{Arc, Mutex};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use base64::Engine;
use sha2::{Digest, Sha256};
use store::{Principal, Role};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "netvigil_session";
/// The header a session's calls that change something carry its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// What every API token starts with (so a leaked one is recognisable by scanners).
pub const TOKEN_PREFIX: &str = "nvt_";

/// A failed hashing (the system's random source or the hasher failed).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SecretError(String);

/// `n` random bytes from the system.
fn random(n: usize) -> Result<Vec<u8>, SecretError> {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).map_err(|e| SecretError(format!("no random numbers: {e}")))?;
    Ok(b)
}

/// A new secret: `prefix` and 256 random bits, URL-safe.
pub fn new_secret(prefix: &str) -> Result<String, SecretError> {
    let b = random(32)?;
    Ok(format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    ))
}

/// What the store keeps of a secret: its SHA-256, hex.
pub fn secret_hash(secret: &str) -> String {
    let d = Sha256::digest(secret.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// A password's Argon2id hash (PHC string, with its own salt).
pub fn hash_password(password: &str) -> Result<String, SecretError> {
    let salt =
        SaltString::encode_b64(&random(16)?).map_err(|e| SecretError(format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| SecretError(format!("hashing the password: {e}")))
}

/// Whether `password` matches a stored hash (a hash that does not parse matches nothing).
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash no password matches, verified against when a login names no user, so that a wrong
/// name takes as long as a wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("netvigil decoy").unwrap_or_default())
}

/// Refuses passwords too short to resist guessing.
pub fn check_password(password: &str) -> Result<(), String> {
    if password.chars().count() < 10 {
        return Err("a password needs at least 10 characters".into());
    }
    Ok(())
}

/// Who the request log names as the caller: filled once the caller is known.
#[derive(Clone, Default)]
pub struct CallerSlot(pub Arc<Mutex<Option<String>>>);

/// The authenticated caller of a request.
#[derive(Clone, Debug)]
pub struct Caller {
    /// Who.
    pub who: Principal,
    /// Through a session (else a token): its CSRF token.
    pub csrf: Option<String>,
}

impl Caller {
    /// Refuses (403) unless the caller's role is at least `role`.
    pub fn require(&self, role: Role, what: &str) -> ApiResult<()> {
        if self.who.role >= role {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "{what} needs the {role} role; {} is {}",
                self.who.name, self.who.role
            )))
        }
    }
}

/// The value of cookie `name` in a request's headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn bearer(parts: &Parts) -> Option<&str> {
    let v = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let now = packet::Timestamp::now().0;
        let caller = if let Some(token) = bearer(parts) {
            let hash = secret_hash(token);
            let who = state
                .pool
                .run(move |s| s.token_principal(&hash, now))
                .await?
                .ok_or_else(|| {
                    ApiError::unauthenticated(
                        "the token is not valid (revoked, expired or mistyped)",
                    )
                })?;
            Caller { who, csrf: None }
        } else if let Some(session) = cookie(&parts.headers, SESSION_COOKIE) {
            let hash = secret_hash(session);
            let (who, csrf) = state
                .pool
                .run(move |s| s.session_principal(&hash, now))
                .await?
                .ok_or_else(|| ApiError::unauthenticated("the session has ended; log in again"))?;
            if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
                let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
                if sent != Some(csrf.as_str()) {
                    return Err(ApiError::forbidden(format!(
                        "a change made through a session must carry its CSRF token in {CSRF_HEADER}"
                    )));
                }
            }
            Caller {
                who,
                csrf: Some(csrf),
            }
        } else {
            return Err(ApiError::unauthenticated(
                "credentials needed: Authorization: Bearer <token>, or log in (POST /api/session)",
            ));
        };
        if let Some(slot) = parts.extensions.get::<CallerSlot>() {
            if let Ok(mut s) = slot.0.lock() {
                *s = Some(caller.who.name.clone());
            }
        }
        Ok(caller)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let h = hash_password("correct horse battery").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "correct horse battery"));
        assert!(!verify_password(&h, "correct horse batterY"));
        assert!(!verify_password("not a hash", "correct horse battery"));
    }

    #[test]
    fn secrets_are_distinct_and_stored_as_their_digest() {
        let (a, b) = (
            new_secret(TOKEN_PREFIX).expect("secret"),
            new_secret(TOKEN_PREFIX).expect("secret"),
        );
        assert_ne!(a, b);
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 43);
        assert_eq!(
            secret_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}

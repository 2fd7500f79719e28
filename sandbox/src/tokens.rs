//! Identifiers, secrets and signed tokens (JWTs) the sandbox mints and later checks.
//!
//! Tokens are real compact JWTs (HS256 with a key that lives as long as the sandbox), so clients
//! that peek at claims (`exp`, `aud`, `tid`) see what Entra ID or a CI OIDC issuer would give them.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Value, json};

/// Seconds an access token lives unless the `token-ttl` fault says otherwise.
pub const DEFAULT_TTL: u64 = 3600;

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // SystemRandom only fails when the OS has no entropy source, which no supported platform lacks.
    SystemRandom::new()
        .fill(&mut buf)
        .expect("the operating system's random number generator is available");
    buf
}

pub fn random_hex(bytes: usize) -> String {
    let mut out = String::with_capacity(bytes * 2);
    let mut left = bytes;
    while left > 0 {
        let chunk = random_bytes::<16>();
        for b in chunk.iter().take(left.min(16)) {
            out.push_str(&format!("{b:02x}"));
        }
        left = left.saturating_sub(16);
    }
    out
}

/// A random version-4 GUID, as Azure spells ids.
pub fn guid() -> String {
    let mut b = random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

fn key() -> &'static hmac::Key {
    static KEY: OnceLock<hmac::Key> = OnceLock::new();
    KEY.get_or_init(|| hmac::Key::new(hmac::HMAC_SHA256, &random_bytes::<32>()))
}

/// Signs `claims` into a compact JWT.
pub fn jwt(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT","kid":"apim-sandbox"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let sig = hmac::sign(key(), signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
}

/// The claims of a JWT this sandbox signed, or `None` for anything else (expiry not checked here).
pub fn verify_jwt(token: &str) -> Option<Value> {
    let (signing_input, sig) = token.rsplit_once('.')?;
    let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
    hmac::verify(key(), signing_input.as_bytes(), &sig).ok()?;
    let (_, payload) = signing_input.split_once('.')?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

/// Why a bearer token was refused, in ARM's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    Missing,
    Invalid,
    Expired,
}

/// ARM access tokens issued by the Entra emulator.
#[derive(Default)]
pub struct TokenStore {
    issued: Mutex<HashMap<String, u64>>,
}

impl TokenStore {
    /// Issues an ARM access token living `ttl` seconds (`None`: a day, for `SANDBOX_TOKEN`).
    pub fn issue(&self, ttl: Option<u64>) -> String {
        let exp = now_secs() + ttl.unwrap_or(86_400);
        let token = jwt(&json!({
            "aud": "https://management.azure.com/",
            "iss": "https://sts.windows.net/apim-sandbox/",
            "exp": exp,
            "nbf": now_secs(),
            "jti": random_hex(8),
        }));
        self.issued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token.clone(), exp);
        token
    }

    /// Checks an `Authorization` header value.
    pub fn check(&self, authorization: Option<&str>) -> Result<(), TokenProblem> {
        let token = authorization
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .ok_or(TokenProblem::Missing)?;
        let issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        let exp = issued.get(token.trim()).ok_or(TokenProblem::Invalid)?;
        if *exp <= now_secs() {
            return Err(TokenProblem::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_round_trips_and_rejects_tampering() {
        let t = jwt(&json!({"sub": "x"}));
        assert_eq!(verify_jwt(&t).unwrap()["sub"], "x");
        let mut tampered = t.clone();
        tampered.insert(t.len() - 3, 'A');
        assert!(verify_jwt(&tampered).is_none());
    }

    #[test]
    fn tokens_expire() {
        let store = TokenStore::default();
        let live = store.issue(Some(100));
        assert_eq!(store.check(Some(&format!("Bearer {live}"))), Ok(()));
        assert_eq!(store.check(None), Err(TokenProblem::Missing));
        assert_eq!(store.check(Some("Bearer nope")), Err(TokenProblem::Invalid));
        let dead = store.issue(Some(0));
        assert_eq!(
            store.check(Some(&format!("Bearer {dead}"))),
            Err(TokenProblem::Expired)
        );
    }

    #[test]
    fn guids_look_like_guids() {
        let g = guid();
        assert_eq!(g.len(), 36);
        assert_eq!(g.as_bytes()[14], b'4');
    }
}

//! Dashboard sessions: an API key, presented once on the sign-in form, is exchanged for a
//! signed cookie naming the tenant, the key's id and an expiry (`HttpOnly`, `SameSite=Strict`).
//! The key itself is never stored in the browser. Every page checks the signature and that the
//! key is still active, so revoking a key ends its sessions, and that the session was issued
//! after the key last signed out, so signing out ends it on the server, not only in the browser. Forms carry a CSRF token derived
//! from the session (HMAC-SHA256 under the server's secret).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use valdrix_core::TenantId;

/// The session cookie's name.
pub const COOKIE: &str = "vdx_session";
/// The sign-in form's CSRF cookie.
pub const LOGIN_COOKIE: &str = "vdx_login";
/// How long a session lasts, in seconds.
pub const LIFETIME_SECS: i64 = 12 * 3600;

/// The server's signing secret (random at start unless configured: restarting then ends
/// sessions, which is safe).
#[derive(Clone)]
pub struct SessionKey([u8; 32]);

impl SessionKey {
    /// A random secret.
    pub fn random() -> Result<SessionKey, String> {
        let mut k = [0u8; 32];
        getrandom::fill(&mut k).map_err(|e| format!("no randomness for the session secret: {e}"))?;
        Ok(SessionKey(k))
    }

    /// A secret from configuration (at least 32 bytes of text).
    pub fn from_secret(secret: &str) -> Result<SessionKey, String> {
        if secret.len() < 32 {
            return Err("the session secret must be at least 32 characters".into());
        }
        let mut k = [0u8; 32];
        k.copy_from_slice(&<Sha256 as sha2::Digest>::digest(secret.as_bytes()));
        Ok(SessionKey(k))
    }

    fn mac(&self, purpose: &str, text: &str) -> String {
        // HMAC accepts keys of any length: this cannot fail.
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        m.update(purpose.as_bytes());
        m.update(b"\0");
        m.update(text.as_bytes());
        hex::encode(m.finalize().into_bytes())
    }

    /// The cookie value of a session of `tenant`'s key `key_id` issued at `issued_ms` (Unix
    /// milliseconds: signing out ends the sessions issued until then) and ending at `expires`
    /// (Unix time).
    pub fn issue(&self, tenant: &TenantId, key_id: &str, issued_ms: i64, expires: i64) -> String {
        let body = format!("v2.{}.{key_id}.{issued_ms}.{expires}", tenant.as_str());
        let mac = self.mac("session", &body);
        format!("{body}.{mac}")
    }

    /// The tenant, key id and issue instant (Unix milliseconds) of a valid, unexpired session
    /// cookie.
    pub fn verify(&self, cookie: &str, now: i64) -> Option<(TenantId, String, i64)> {
        let (body, mac) = cookie.rsplit_once('.')?;
        if !constant_eq(self.mac("session", body).as_bytes(), mac.as_bytes()) {
            return None;
        }
        let mut parts = body.split('.');
        let (v, tenant, key_id) = (parts.next()?, parts.next()?, parts.next()?);
        let (issued, expires) = (parts.next()?.parse::<i64>().ok()?, parts.next()?.parse::<i64>().ok()?);
        if v != "v2" || parts.next().is_some() || expires <= now {
            return None;
        }
        Some((TenantId::parse(tenant).ok()?, key_id.to_string(), issued))
    }

    /// The CSRF token of a session (or of a sign-in form's nonce).
    pub fn csrf(&self, cookie: &str) -> String {
        self.mac("csrf", cookie)[..32].to_string()
    }

    /// Whether `token` is the CSRF token of `cookie`.
    pub fn check_csrf(&self, cookie: &str, token: &str) -> bool {
        constant_eq(self.csrf(cookie).as_bytes(), token.as_bytes())
    }
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').map(str::trim).find_map(|c| c.strip_prefix(name)?.strip_prefix('='))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_valid_until_it_expires_and_cannot_be_altered() {
        let k = SessionKey::from_secret("0123456789abcdef0123456789abcdef").unwrap();
        let t = TenantId::parse("acme").unwrap();
        let c = k.issue(&t, "00112233aabbccdd", 5, 1000);
        assert_eq!(k.verify(&c, 999), Some((t.clone(), "00112233aabbccdd".to_string(), 5)));
        assert_eq!(k.verify(&c.replace(".5.", ".6."), 10), None, "issued later");
        assert_eq!(k.verify(&c, 1000), None, "expired");
        assert_eq!(k.verify(&c.replace("acme", "evil"), 10), None, "another tenant");
        assert_eq!(k.verify(&c.replace(".1000.", ".9999.").to_string(), 10), None, "extended");
        let other = SessionKey::from_secret("another secret of at least 32 chars!").unwrap();
        assert_eq!(other.verify(&c, 10), None, "another server's secret");
        assert!(k.check_csrf(&c, &k.csrf(&c)));
        assert!(!k.check_csrf(&c, &k.csrf("something else")));
    }

    #[test]
    fn cookies_are_found_by_name() {
        assert_eq!(cookie("a=1; vdx_session=x.y; b=2", "vdx_session"), Some("x.y"));
        assert_eq!(cookie("vdx_session_old=1", "vdx_session"), None);
    }
}

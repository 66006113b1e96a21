//! Google Cloud credentials, as Google's own tools find them: an access token in
//! `GOOGLE_OAUTH_ACCESS_TOKEN`, a key file named by `GOOGLE_APPLICATION_CREDENTIALS` (a service
//! account's key, or the user credentials `gcloud auth application-default login` writes, which
//! is also looked for in its default place), else the metadata server of the instance it runs on.

use crate::provider::ProviderError;
use crate::rest::{form, Credential, Http, Token};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use futures::future::BoxFuture;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Read-only access to every API: the scan lists and reads, never changes.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform.read-only";
/// Google's token endpoint, when a key file names none.
const TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// The metadata server of Compute Engine, GKE and Cloud Run.
const METADATA_HOST: &str = "metadata.google.internal";

/// How to obtain Google Cloud access tokens.
#[derive(Clone)]
pub enum GcpCredential {
    /// A token obtained elsewhere (`GOOGLE_OAUTH_ACCESS_TOKEN`, e.g. `gcloud auth print-access-token`).
    AccessToken(String),
    /// A service account's key: a signed assertion exchanged for a token.
    ServiceAccount {
        /// The account's email.
        email: String,
        /// Its private key, PKCS#8 DER.
        key: Vec<u8>,
        /// The key's id.
        key_id: Option<String>,
        /// Where tokens are issued.
        token_uri: String,
    },
    /// A user's refresh token (`gcloud auth application-default login`).
    AuthorizedUser {
        /// OAuth client id.
        client_id: String,
        /// OAuth client secret.
        client_secret: String,
        /// The refresh token.
        refresh_token: String,
        /// Where tokens are issued.
        token_uri: String,
    },
    /// The instance's service account, from the metadata server (`GCE_METADATA_HOST`).
    Metadata {
        /// Host (and port) of the metadata server.
        host: String,
    },
}

impl std::fmt::Debug for GcpCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

fn invalid(file: &Path, message: impl std::fmt::Display) -> ProviderError {
    ProviderError::Call {
        service: "gcp".into(),
        operation: "credentials".into(),
        message: format!("{}: {message}", file.display()),
    }
}

/// A PEM block's DER bytes.
fn pem_der(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem.lines().map(str::trim).filter(|l| !l.starts_with("-----") && !l.is_empty()).collect();
    STANDARD.decode(body).ok()
}

impl GcpCredential {
    /// The credential the environment offers, and the project its key file names, if any.
    pub fn from_env() -> Result<(GcpCredential, Option<String>), ProviderError> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if let Some(token) = var("GOOGLE_OAUTH_ACCESS_TOKEN") {
            return Ok((GcpCredential::AccessToken(token), None));
        }
        let default_file = directories::BaseDirs::new()
            .map(|d| d.home_dir().join(".config/gcloud/application_default_credentials.json"))
            .filter(|p| p.is_file());
        if let Some(file) = var("GOOGLE_APPLICATION_CREDENTIALS").map(PathBuf::from).or(default_file) {
            return GcpCredential::from_file(&file);
        }
        let host = var("GCE_METADATA_HOST").unwrap_or_else(|| METADATA_HOST.to_string());
        Ok((GcpCredential::Metadata { host }, None))
    }

    /// A key file's credential and project.
    pub fn from_file(file: &Path) -> Result<(GcpCredential, Option<String>), ProviderError> {
        let text = std::fs::read_to_string(file).map_err(|e| invalid(file, e))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| invalid(file, e))?;
        let field = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let need = |k: &str| field(k).ok_or_else(|| invalid(file, format!("no {k}")));
        let token_uri = field("token_uri").unwrap_or_else(|| TOKEN_URI.to_string());
        match field("type").as_deref() {
            Some("service_account") => {
                let pem = need("private_key")?;
                let key = pem_der(&pem).ok_or_else(|| invalid(file, "private_key is not a PEM block"))?;
                // Checked now, so that a bad key fails before the scan starts.
                RsaKeyPair::from_pkcs8(&key).map_err(|e| invalid(file, format!("private_key: {e}")))?;
                Ok((
                    GcpCredential::ServiceAccount {
                        email: need("client_email")?,
                        key,
                        key_id: field("private_key_id"),
                        token_uri,
                    },
                    field("project_id"),
                ))
            }
            Some("authorized_user") => Ok((
                GcpCredential::AuthorizedUser {
                    client_id: need("client_id")?,
                    client_secret: need("client_secret")?,
                    refresh_token: need("refresh_token")?,
                    token_uri,
                },
                field("quota_project_id"),
            )),
            other => Err(invalid(file, format!("credentials of type {other:?} are not supported"))),
        }
    }
}

/// A signed JWT asking for a token for `email` with the read-only scope.
pub fn assertion(email: &str, key: &[u8], key_id: Option<&str>, audience: &str, now: i64) -> Result<String, String> {
    let mut header = json!({"alg": "RS256", "typ": "JWT"});
    if let Some(k) = key_id {
        header["kid"] = json!(k);
    }
    let claims = json!({"iss": email, "scope": SCOPE, "aud": audience, "iat": now, "exp": now + 3600});
    let signing_input =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let pair = RsaKeyPair::from_pkcs8(key).map_err(|e| e.to_string())?;
    let mut signature = vec![0; pair.public_modulus_len()];
    pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), signing_input.as_bytes(), &mut signature)
        .map_err(|e| e.to_string())?;
    Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

fn token_of(v: &Value, operation: &str) -> Result<Token, ProviderError> {
    let value = v.get("access_token").and_then(Value::as_str).ok_or_else(|| ProviderError::Call {
        service: "gcp".into(),
        operation: operation.into(),
        message: "the answer has no access_token".into(),
    })?;
    let lifetime = v.get("expires_in").and_then(Value::as_u64).unwrap_or(3600);
    Ok(Token { value: value.to_string(), lifetime: Duration::from_secs(lifetime) })
}

async fn post_form(http: &Http, uri: &str, body: String) -> Result<Token, ProviderError> {
    let v = http
        .send("token", |c| c.post(uri).header("content-type", "application/x-www-form-urlencoded").body(body.clone()))
        .await?;
    token_of(&v, "token")
}

impl Credential for GcpCredential {
    fn fetch<'a>(&'a self, http: &'a Http) -> BoxFuture<'a, Result<Token, ProviderError>> {
        Box::pin(async move {
            match self {
                // Its lifetime is unknown: an hour is what Google issues.
                GcpCredential::AccessToken(t) => Ok(Token { value: t.clone(), lifetime: Duration::from_secs(3600) }),
                GcpCredential::ServiceAccount { email, key, key_id, token_uri } => {
                    let now = chrono::Utc::now().timestamp();
                    let jwt = assertion(email, key, key_id.as_deref(), token_uri, now).map_err(|m| {
                        ProviderError::Call { service: "gcp".into(), operation: "sign".into(), message: m }
                    })?;
                    let body =
                        form(&[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", &jwt)]);
                    post_form(http, token_uri, body).await
                }
                GcpCredential::AuthorizedUser { client_id, client_secret, refresh_token, token_uri } => {
                    let body = form(&[
                        ("grant_type", "refresh_token"),
                        ("client_id", client_id),
                        ("client_secret", client_secret),
                        ("refresh_token", refresh_token),
                    ]);
                    post_form(http, token_uri, body).await
                }
                GcpCredential::Metadata { host } => {
                    let url = format!("http://{host}/computeMetadata/v1/instance/service-accounts/default/token");
                    let v = http.send("metadata token", |c| c.get(&url).header("Metadata-Flavor", "Google")).await?;
                    token_of(&v, "metadata token")
                }
            }
        })
    }

    fn describe(&self) -> String {
        match self {
            GcpCredential::AccessToken(_) => "the token in GOOGLE_OAUTH_ACCESS_TOKEN".into(),
            GcpCredential::ServiceAccount { email, .. } => format!("service account {email}"),
            GcpCredential::AuthorizedUser { client_id, .. } => format!("user credentials of OAuth client {client_id}"),
            GcpCredential::Metadata { host } => format!("the instance's service account ({host})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::{KeyPair, KeySize};
    use aws_lc_rs::signature::{KeyPair as _, UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};

    #[test]
    fn a_service_account_assertion_is_a_verifiable_rs256_jwt() {
        let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let der = pair.as_der().unwrap();
        let jwt =
            assertion("scan@p.iam.gserviceaccount.com", der.as_ref(), Some("k1"), "https://t/token", 1_000).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["iss"], "scan@p.iam.gserviceaccount.com");
        assert_eq!(claims["scope"], SCOPE);
        assert_eq!(claims["aud"], "https://t/token");
        assert_eq!(claims["exp"], 4_600);
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!((header["alg"].as_str(), header["kid"].as_str()), (Some("RS256"), Some("k1")));
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        let public = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, pair.public_key().as_ref());
        public.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature).unwrap();
        // A changed claim no longer verifies.
        assert!(public.verify(format!("{}.x{}", parts[0], parts[1]).as_bytes(), &signature).is_err());
    }

    #[test]
    fn key_files_are_read_and_bad_ones_named() {
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join("adc.json");
        std::fs::write(
            &user,
            r#"{"type":"authorized_user","client_id":"c","client_secret":"s","refresh_token":"r","quota_project_id":"p1"}"#,
        )
        .unwrap();
        let (cred, project) = GcpCredential::from_file(&user).unwrap();
        assert!(matches!(cred, GcpCredential::AuthorizedUser { .. }));
        assert_eq!(project.as_deref(), Some("p1"));
        let bad = dir.path().join("sa.json");
        std::fs::write(&bad, r#"{"type":"service_account","client_email":"a@b","private_key":"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}"#).unwrap();
        let e = GcpCredential::from_file(&bad).unwrap_err().to_string();
        assert!(e.contains("sa.json") && e.contains("private_key"), "{e}");
        let other = dir.path().join("x.json");
        std::fs::write(&other, r#"{"type":"external_account"}"#).unwrap();
        assert!(GcpCredential::from_file(&other).unwrap_err().to_string().contains("external_account"));
    }
}

//! Azure credentials, in the order Azure's own tools try them: an app's client secret from the
//! environment, a managed identity where the platform announces one, the Azure CLI's signed-in
//! account, and the VM's instance metadata service.

use crate::provider::ProviderError;
use crate::rest::{form, Credential, Http, Token};
use futures::future::BoxFuture;
use serde_json::Value;
use std::time::Duration;

/// The scope of an Azure Resource Manager token.
const ARM_SCOPE: &str = "https://management.azure.com/.default";
/// The same, as the older token endpoints name it.
const ARM_RESOURCE: &str = "https://management.azure.com/";
/// Microsoft Entra ID's public-cloud login host.
const AUTHORITY: &str = "https://login.microsoftonline.com/";
/// The VM instance metadata service's token endpoint.
const IMDS: &str = "http://169.254.169.254/metadata/identity/oauth2/token";

/// How to obtain Azure Resource Manager tokens.
#[derive(Debug, Clone)]
pub enum AzureCredential {
    /// An app registration's client secret (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
    /// `AZURE_CLIENT_SECRET`; `AZURE_AUTHORITY_HOST` for another cloud).
    ClientSecret {
        /// Login host.
        authority: String,
        /// Directory (tenant) id.
        tenant: String,
        /// Application (client) id.
        client_id: String,
        /// The secret.
        secret: String,
    },
    /// A managed identity through the endpoint App Service and Functions announce
    /// (`IDENTITY_ENDPOINT`, `IDENTITY_HEADER`), or the VM's instance metadata service.
    ManagedIdentity {
        /// The platform's endpoint (none: the instance metadata service).
        endpoint: Option<String>,
        /// The header value the platform's endpoint wants.
        header: Option<String>,
        /// A user-assigned identity's client id (`AZURE_CLIENT_ID`).
        client_id: Option<String>,
    },
    /// The account `az login` signed in.
    AzureCli,
}

impl AzureCredential {
    /// The credential the environment offers.
    pub fn from_env() -> AzureCredential {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if let (Some(tenant), Some(client_id), Some(secret)) =
            (var("AZURE_TENANT_ID"), var("AZURE_CLIENT_ID"), var("AZURE_CLIENT_SECRET"))
        {
            let authority = var("AZURE_AUTHORITY_HOST").unwrap_or_else(|| AUTHORITY.to_string());
            return AzureCredential::ClientSecret { authority, tenant, client_id, secret };
        }
        if let Some(endpoint) = var("IDENTITY_ENDPOINT") {
            return AzureCredential::ManagedIdentity {
                endpoint: Some(endpoint),
                header: var("IDENTITY_HEADER"),
                client_id: var("AZURE_CLIENT_ID"),
            };
        }
        let az_on_path = std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("az").is_file() || d.join("az.cmd").is_file()));
        if az_on_path {
            return AzureCredential::AzureCli;
        }
        AzureCredential::ManagedIdentity { endpoint: None, header: None, client_id: var("AZURE_CLIENT_ID") }
    }
}

/// Seconds written as a number or a string.
fn seconds(v: Option<&Value>) -> Option<u64> {
    let v = v?;
    v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn token_of(v: &Value, key: &str, operation: &str) -> Result<Token, ProviderError> {
    let value = v.get(key).and_then(Value::as_str).ok_or_else(|| ProviderError::Call {
        service: "azure".into(),
        operation: operation.into(),
        message: format!("the answer has no {key}"),
    })?;
    let lifetime = seconds(v.get("expires_in")).unwrap_or(3600);
    Ok(Token { value: value.to_string(), lifetime: Duration::from_secs(lifetime) })
}

impl Credential for AzureCredential {
    fn fetch<'a>(&'a self, http: &'a Http) -> BoxFuture<'a, Result<Token, ProviderError>> {
        Box::pin(async move {
            match self {
                AzureCredential::ClientSecret { authority, tenant, client_id, secret } => {
                    let url = format!("{}/{tenant}/oauth2/v2.0/token", authority.trim_end_matches('/'));
                    let body = form(&[
                        ("grant_type", "client_credentials"),
                        ("client_id", client_id),
                        ("client_secret", secret),
                        ("scope", ARM_SCOPE),
                    ]);
                    let v = http
                        .send("token", |c| {
                            c.post(&url).header("content-type", "application/x-www-form-urlencoded").body(body.clone())
                        })
                        .await?;
                    token_of(&v, "access_token", "token")
                }
                AzureCredential::ManagedIdentity { endpoint, header, client_id } => {
                    let (url, version) = match endpoint {
                        Some(e) => (e.clone(), "2019-08-01"),
                        None => (IMDS.to_string(), "2018-02-01"),
                    };
                    let mut query = vec![("api-version", version), ("resource", ARM_RESOURCE)];
                    if let Some(id) = client_id {
                        query.push(("client_id", id));
                    }
                    let mut url = reqwest::Url::parse(&url).map_err(|e| ProviderError::Call {
                        service: "azure".into(),
                        operation: "managed identity token".into(),
                        message: format!("{url}: {e}"),
                    })?;
                    url.query_pairs_mut().extend_pairs(&query);
                    let v = http
                        .send("managed identity token", |c| {
                            let mut r = c.get(url.clone()).header("Metadata", "true");
                            if let Some(h) = header {
                                r = r.header("X-IDENTITY-HEADER", h);
                            }
                            r
                        })
                        .await?;
                    token_of(&v, "access_token", "managed identity token")
                }
                AzureCredential::AzureCli => {
                    let out = tokio::task::spawn_blocking(|| {
                        std::process::Command::new("az")
                            .args(["account", "get-access-token", "--resource", ARM_RESOURCE, "--output", "json"])
                            .output()
                    })
                    .await;
                    let fail = |message: String| ProviderError::Call {
                        service: "azure".into(),
                        operation: "az account get-access-token".into(),
                        message,
                    };
                    let out = out.map_err(|e| fail(e.to_string()))?.map_err(|e| fail(e.to_string()))?;
                    if !out.status.success() {
                        return Err(fail(String::from_utf8_lossy(&out.stderr).trim().to_string()));
                    }
                    let v: Value = serde_json::from_slice(&out.stdout).map_err(|e| fail(e.to_string()))?;
                    let mut token = token_of(&v, "accessToken", "az account get-access-token")?;
                    // The CLI says when it expires (`expires_on`, Unix seconds).
                    if let Some(at) = seconds(v.get("expires_on")) {
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map(|d| d.as_secs())
                            .unwrap_or(0);
                        token.lifetime = Duration::from_secs(at.saturating_sub(now));
                    }
                    Ok(token)
                }
            }
        })
    }

    fn describe(&self) -> String {
        match self {
            AzureCredential::ClientSecret { tenant, client_id, .. } => {
                format!("client secret of app {client_id} in tenant {tenant}")
            }
            AzureCredential::ManagedIdentity { endpoint: Some(_), .. } => "the platform's managed identity".into(),
            AzureCredential::ManagedIdentity { endpoint: None, .. } => {
                "the VM's managed identity (instance metadata service)".into()
            }
            AzureCredential::AzureCli => "the Azure CLI's signed-in account".into(),
        }
    }
}

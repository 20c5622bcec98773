//! Who is calling (authentication) and what they may touch (authorization).
//!
//! Credentials are `X-API-Key: <key>` or `Authorization: Bearer <jwt>` (HS256 only). Keys are
//! kept as BLAKE3 digests and compared in constant time against every configured digest, so
//! neither the comparison nor the loop leaks how much of a key matched; a principal is named
//! in logs and the audit by a short fingerprint, never by the key.

use std::collections::{BTreeMap, BTreeSet};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use subtle::ConstantTimeEq;
use warp::http::HeaderMap;

use crate::config::{AuthConfig, JwtConfig};
use crate::error::{ApiError, ErrorCode};

/// The tenants a principal may touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantScope {
    /// Every tenant (still bounded by the server's allowlist).
    All,
    /// Only these.
    Only(BTreeSet<String>),
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// A stable, non-secret name: `key:<fingerprint>`, `jwt:<sub>` or `anonymous`.
    pub id: String,
    /// What it may touch.
    pub tenants: TenantScope,
    /// May call the admin and storage-debug endpoints.
    pub admin: bool,
}

struct KeyEntry {
    digest: [u8; 32],
    id: String,
    tenants: TenantScope,
    admin: bool,
}

/// Checks credentials and tenant access.
pub struct Authenticator {
    keys: Vec<KeyEntry>,
    revoked: Vec<[u8; 32]>,
    jwt: Option<JwtVerifier>,
    allowlist: Option<BTreeSet<String>>,
    open: bool,
}

struct JwtVerifier {
    default_key: Option<DecodingKey>,
    keys_by_kid: BTreeMap<String, DecodingKey>,
    validation: Validation,
    tenant_claim: String,
}

fn digest(key: &str) -> [u8; 32] {
    *blake3::hash(key.as_bytes()).as_bytes()
}

/// A short public name for a key: a hash under its own context, so it reveals nothing usable.
fn fingerprint(key: &str) -> String {
    let full = blake3::derive_key("dash-server api-key fingerprint v1", key.as_bytes());
    format!("key:{}", hex::encode(&full[..6]))
}

impl Authenticator {
    /// Builds the checker from validated configuration.
    #[must_use]
    pub fn new(config: &AuthConfig) -> Self {
        let mut keys = Vec::new();
        let admin: BTreeSet<&str> = config.admin_api_keys.iter().map(String::as_str).collect();
        let all: BTreeSet<&str> = config
            .api_keys
            .iter()
            .chain(&config.admin_api_keys)
            .map(String::as_str)
            .collect();
        for key in all {
            keys.push(KeyEntry {
                digest: digest(key),
                id: fingerprint(key),
                tenants: config
                    .key_scopes
                    .get(key)
                    .map_or(TenantScope::All, |t| TenantScope::Only(t.clone())),
                admin: admin.contains(key),
            });
        }
        Self {
            keys,
            revoked: config.revoked_api_keys.iter().map(|k| digest(k)).collect(),
            jwt: config.jwt.as_ref().map(JwtVerifier::new),
            allowlist: config.tenant_allowlist.clone(),
            open: config.open,
        }
    }

    /// True when the server runs without credentials.
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Identifies the caller from the request headers.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
        if let Some(value) = headers.get("x-api-key") {
            let key = value
                .to_str()
                .map_err(|_| ApiError::unauthorized("X-API-Key is not valid text"))?;
            return self.check_key(key.trim());
        }
        if let Some(value) = headers.get("authorization") {
            let text = value
                .to_str()
                .map_err(|_| ApiError::unauthorized("Authorization is not valid text"))?;
            let Some(token) = text
                .strip_prefix("Bearer ")
                .or_else(|| text.strip_prefix("bearer "))
            else {
                return Err(ApiError::unauthorized(
                    "Authorization must be `Bearer <jwt>`",
                ));
            };
            return match &self.jwt {
                Some(jwt) => jwt.verify(token.trim()),
                None => Err(ApiError::unauthorized("this server does not accept JWTs")),
            };
        }
        if self.open {
            return Ok(Principal {
                id: "anonymous".to_owned(),
                tenants: TenantScope::All,
                admin: true,
            });
        }
        Err(ApiError::unauthorized(
            "credentials required: X-API-Key or Authorization: Bearer",
        ))
    }

    fn check_key(&self, key: &str) -> Result<Principal, ApiError> {
        let presented = digest(key);
        // Visit every entry whatever matches, so timing does not tell which entry matched.
        let mut revoked = subtle::Choice::from(0);
        for r in &self.revoked {
            revoked |= r.ct_eq(&presented);
        }
        let mut found: Option<&KeyEntry> = None;
        for entry in &self.keys {
            if bool::from(entry.digest.ct_eq(&presented)) {
                found = Some(entry);
            }
        }
        if bool::from(revoked) {
            return Err(ApiError::unauthorized("API key revoked"));
        }
        match found {
            Some(entry) => Ok(Principal {
                id: entry.id.clone(),
                tenants: entry.tenants.clone(),
                admin: entry.admin,
            }),
            None => Err(ApiError::unauthorized("unknown API key")),
        }
    }

    /// May `principal` touch `tenant`? Checks the server allowlist, then the principal's scope.
    pub fn authorize(&self, principal: &Principal, tenant: &str) -> Result<(), ApiError> {
        if let Some(allow) = &self.allowlist {
            if !allow.contains(tenant) {
                return Err(ApiError::new(
                    ErrorCode::TenantNotAllowed,
                    "this server does not serve that tenant",
                ));
            }
        }
        match &principal.tenants {
            TenantScope::All => Ok(()),
            TenantScope::Only(set) if set.contains(tenant) => Ok(()),
            TenantScope::Only(_) => Err(ApiError::forbidden(
                "these credentials may not access that tenant",
            )),
        }
    }

    /// May `principal` call admin endpoints?
    pub fn authorize_admin(&self, principal: &Principal) -> Result<(), ApiError> {
        if principal.admin {
            Ok(())
        } else {
            Err(ApiError::forbidden("admin credentials required"))
        }
    }
}

impl JwtVerifier {
    fn new(config: &JwtConfig) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = config.leeway_secs;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        // NOTE: jsonwebtoken checks `iss`/`aud` only when the token carries them; a configured
        // issuer or audience must also be a required claim, or a token could simply omit it.
        let mut required = vec!["exp"];
        if let Some(iss) = &config.issuer {
            validation.set_issuer(&[iss]);
            required.push("iss");
        }
        match &config.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        Self {
            default_key: config
                .default_secret
                .as_ref()
                .map(|s| DecodingKey::from_secret(s.as_bytes())),
            keys_by_kid: config
                .secrets_by_kid
                .iter()
                .map(|(kid, s)| (kid.clone(), DecodingKey::from_secret(s.as_bytes())))
                .collect(),
            validation,
            tenant_claim: config.tenant_claim.clone(),
        }
    }

    fn verify(&self, token: &str) -> Result<Principal, ApiError> {
        use jsonwebtoken::errors::ErrorKind;
        // The header is read first only to pick the key; `decode` re-checks the algorithm, so a
        // token cannot choose its own (`none`, RS256 with the secret as a public key, ...).
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| ApiError::unauthorized("malformed or unsupported JWT"))?;
        if header.alg != Algorithm::HS256 {
            return Err(ApiError::unauthorized("JWT algorithm must be HS256"));
        }
        let key = match &header.kid {
            Some(kid) => self
                .keys_by_kid
                .get(kid)
                .ok_or_else(|| ApiError::unauthorized("unknown JWT kid"))?,
            None => self
                .default_key
                .as_ref()
                .ok_or_else(|| ApiError::unauthorized("JWT needs a kid"))?,
        };
        let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            key,
            &self.validation,
        )
        .map_err(|e| {
            ApiError::unauthorized(match e.kind() {
                ErrorKind::ExpiredSignature => "JWT expired",
                ErrorKind::ImmatureSignature => "JWT not valid yet (nbf)",
                ErrorKind::InvalidAudience => "JWT audience not accepted",
                ErrorKind::InvalidIssuer => "JWT issuer not accepted",
                ErrorKind::InvalidSignature => "JWT signature does not verify",
                ErrorKind::InvalidAlgorithm => "JWT algorithm must be HS256",
                ErrorKind::MissingRequiredClaim(_) => {
                    "JWT lacks a required claim (exp, iss or aud)"
                }
                _ => "invalid JWT",
            })
        })?;
        let claims = data.claims;
        let tenants: BTreeSet<String> = match claims.get(&self.tenant_claim) {
            Some(serde_json::Value::String(t)) => std::iter::once(t.clone()).collect(),
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or_else(|| ApiError::unauthorized("JWT tenant claim must hold strings"))?,
            _ => {
                return Err(ApiError::unauthorized(format!(
                    "JWT lacks the `{}` tenant claim",
                    self.tenant_claim
                )))
            }
        };
        let sub = claims
            .get("sub")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("-");
        Ok(Principal {
            id: format!("jwt:{}", sub.chars().take(128).collect::<String>()),
            tenants: TenantScope::Only(tenants),
            admin: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warp::http::HeaderValue;

    fn auth(keys: &[&str], revoked: &[&str]) -> Authenticator {
        Authenticator::new(&AuthConfig {
            api_keys: keys.iter().map(|s| (*s).to_owned()).collect(),
            revoked_api_keys: revoked.iter().map(|s| (*s).to_owned()).collect(),
            ..AuthConfig::default()
        })
    }

    fn with_key(key: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-api-key", HeaderValue::from_str(key).unwrap());
        h
    }

    #[test]
    fn keys_rotation_and_revocation() {
        let a = auth(
            &["old-key-0123456789", "new-key-0123456789"],
            &["old-key-0123456789"],
        );
        assert!(a.authenticate(&with_key("new-key-0123456789")).is_ok());
        let err = a.authenticate(&with_key("old-key-0123456789")).unwrap_err();
        assert_eq!(err.status, 401);
        assert!(err.message.contains("revoked"));
        assert!(a.authenticate(&with_key("other-key-0123456789")).is_err());
        assert!(a.authenticate(&HeaderMap::new()).is_err());
    }

    #[test]
    fn fingerprint_does_not_contain_the_key() {
        let a = auth(&["secret-key-0123456789"], &[]);
        let p = a.authenticate(&with_key("secret-key-0123456789")).unwrap();
        assert!(p.id.starts_with("key:"));
        assert!(!p.id.contains("secret"));
    }
}

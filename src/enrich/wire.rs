//! SuperOffice's answers as herald reads them. The API is .NET: an unset string, list or
//! object comes back as `null`, and `$select` nulls out every field it does not select. So
//! every field here may be `null` or missing: a `null` string reads as empty, a `null` list as
//! empty, a `null` number as absent.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A field that may be `null`: its default then.
pub fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// A list of texts that may be `null`, or hold `null`s: those are left out.
pub fn texts<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let items = Option::<Vec<Option<String>>>::deserialize(d)?;
    Ok(items.into_iter().flatten().flatten().collect())
}

/// A number that may come as a number, as text, or as `null`.
pub fn number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

/// `POST {login}/api/PartnerSystemUser/Authenticate`'s answer.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Authenticated {
    #[serde(default, deserialize_with = "nullable")]
    pub is_successful: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub error_message: String,
    /// The JWT that carries the ticket.
    #[serde(default, deserialize_with = "nullable")]
    pub token: String,
}

/// `POST {login}/common/oauth/tokens`'s answer, or its OAuth error.
#[derive(Debug, Default, Deserialize)]
pub struct Tokens {
    #[serde(default, deserialize_with = "nullable")]
    pub access_token: String,
    #[serde(default, deserialize_with = "number")]
    pub expires_in: Option<i64>,
    /// Present when the login service rotates the refresh token.
    #[serde(default, deserialize_with = "nullable")]
    pub refresh_token: String,
    #[serde(default, deserialize_with = "nullable")]
    pub error: String,
    #[serde(default, deserialize_with = "nullable")]
    pub error_description: String,
}

/// `GET api/v1/User/currentPrincipal`: who herald is signed in as.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Principal {
    #[serde(default, deserialize_with = "nullable")]
    pub full_name: String,
    /// The login name.
    #[serde(default, deserialize_with = "nullable")]
    pub associate: String,
    #[serde(default, deserialize_with = "number")]
    pub associate_id: Option<i64>,
    #[serde(default, rename = "EMailAddress", deserialize_with = "nullable")]
    pub email: String,
    #[serde(default, deserialize_with = "nullable")]
    pub database_context_identifier: String,
}

/// `{login}/.well-known/jwks`: the keys SuperOffice signs its JWTs with.
#[derive(Debug, Default, Deserialize)]
pub struct KeySet {
    #[serde(default, deserialize_with = "nullable")]
    pub keys: Vec<Option<Jwk>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Jwk {
    #[serde(default, deserialize_with = "nullable")]
    pub kid: String,
    #[serde(default, deserialize_with = "nullable")]
    pub kty: String,
    /// The modulus, base64url.
    #[serde(default, deserialize_with = "nullable")]
    pub n: String,
    /// The exponent, base64url.
    #[serde(default, deserialize_with = "nullable")]
    pub e: String,
}

/// `GET {tenant_lookup}/api/state/{ContextIdentifier}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TenantState {
    #[serde(default, deserialize_with = "nullable")]
    pub api: String,
    #[serde(default, deserialize_with = "nullable")]
    pub valid_until: String,
    #[serde(default, deserialize_with = "nullable")]
    pub state: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field of every answer `null`, as .NET writes what is unset.
    fn all_null(fields: &[&str]) -> Value {
        Value::Object(
            fields
                .iter()
                .map(|f| (f.to_string(), Value::Null))
                .collect(),
        )
    }

    #[test]
    fn every_answer_decodes_with_every_field_null() {
        let a: Authenticated =
            serde_json::from_value(all_null(&["IsSuccessful", "ErrorMessage", "Token"])).unwrap();
        assert!(!a.is_successful && a.token.is_empty());
        let t: Tokens = serde_json::from_value(all_null(&[
            "access_token",
            "expires_in",
            "refresh_token",
            "token_type",
            "error",
            "error_description",
        ]))
        .unwrap();
        assert!(t.access_token.is_empty() && t.expires_in.is_none());
        let p: Principal = serde_json::from_value(all_null(&[
            "FullName",
            "Associate",
            "AssociateId",
            "EMailAddress",
            "DatabaseContextIdentifier",
            "Licenses",
            "FunctionRights",
        ]))
        .unwrap();
        assert!(p.full_name.is_empty() && p.associate_id.is_none());
        let k: KeySet = serde_json::from_value(all_null(&["keys"])).unwrap();
        assert!(k.keys.is_empty());
        let k: KeySet = serde_json::from_str(
            r#"{"keys":[null,{"kid":null,"kty":null,"n":null,"e":null,"x5c":null}]}"#,
        )
        .unwrap();
        assert_eq!(k.keys.len(), 2);
        let s: TenantState =
            serde_json::from_value(all_null(&["Api", "ValidUntil", "State", "IsRunning"])).unwrap();
        assert!(s.api.is_empty());
    }

    #[test]
    fn numbers_come_as_numbers_or_text() {
        let t: Tokens = serde_json::from_str(r#"{"expires_in":"3600"}"#).unwrap();
        assert_eq!(t.expires_in, Some(3600));
        let t: Tokens = serde_json::from_str(r#"{"expires_in":3600.0}"#).unwrap();
        assert_eq!(t.expires_in, Some(3600));
    }
}

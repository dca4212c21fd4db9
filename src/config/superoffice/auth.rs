//! `superoffice: auth:`, how herald signs in to SuperOffice's API: a system user (Online's
//! server-to-server flow: herald gets and renews tickets itself), OAuth with a refresh token
//! (herald renews access tokens itself), or a static `bearer:` token or `ticket:` (on-site
//! installations and tests).

use std::path::Path;

use url::Url;

use super::key::AppKey;
use crate::config::decode::{Decoder, Entries, get};
use crate::config::yaml::Node;
use crate::secret::Secret;

#[derive(Debug, Clone)]
pub enum Auth {
    /// A static access token, sent as `Authorization: Bearer`.
    Bearer(Secret<String>),
    /// A static system user ticket, sent with the application's token.
    Ticket {
        ticket: Secret<String>,
        app_token: Secret<String>,
    },
    /// SuperOffice Online's system user flow: tickets got and renewed by herald.
    SystemUser(SystemUser),
    /// OAuth 2.0 with a refresh token: access tokens got and renewed by herald.
    OAuth(OAuth),
}

#[derive(Debug, Clone)]
pub struct SystemUser {
    /// The system user token from the `id_token` the tenant's administrator's approval gave.
    pub token: Secret<String>,
    /// The application's private key, which signs the token.
    pub key: AppKey,
    /// The application's client secret: `ApplicationToken` and `SO-AppToken`.
    pub client_secret: Secret<String>,
    /// SuperOffice's login service, `https://sod.superoffice.com/login`.
    pub login: Url,
}

#[derive(Debug, Clone)]
pub struct OAuth {
    pub client_id: String,
    pub client_secret: Secret<String>,
    pub refresh_token: Secret<String>,
    pub login: Url,
}

impl Auth {
    /// Every value of this section that must never be printed.
    pub fn secrets(&self) -> Vec<String> {
        match self {
            Auth::Bearer(t) => vec![t.expose().clone()],
            Auth::Ticket { ticket, app_token } => {
                vec![ticket.expose().clone(), app_token.expose().clone()]
            }
            Auth::SystemUser(s) => {
                let mut all = vec![s.token.expose().clone(), s.client_secret.expose().clone()];
                all.extend(s.key.secret_lines().iter().cloned());
                all
            }
            Auth::OAuth(o) => vec![
                o.client_secret.expose().clone(),
                o.refresh_token.expose().clone(),
            ],
        }
    }

    /// Whether herald gets its credentials itself, and so can get new ones on a 401.
    pub fn renews(&self) -> bool {
        matches!(self, Auth::SystemUser(_) | Auth::OAuth(_))
    }
}

const WHAT: &str = "superoffice: auth";
const FORMS: &str = "`system_user:`, `oauth:`, `bearer:`, or `ticket:` with `app_token:`";

/// Decodes `auth:`. `api` is the API's address when one is given, for the default
/// `login:`.
pub fn decode(d: &mut Decoder<'_>, node: &Node, api: Option<&Url>) -> Option<Auth> {
    let entries = d.map(node, WHAT)?;
    d.only_keys(
        entries,
        &["system_user", "oauth", "bearer", "ticket", "app_token"],
        WHAT,
    );
    let kinds = ["system_user", "oauth", "bearer", "ticket"]
        .iter()
        .filter(|k| get(entries, k).is_some())
        .count();
    if kinds != 1 {
        d.sink
            .error(node.pos, format!("{WHAT} takes exactly one of {FORMS}"));
        return None;
    }
    if let Some(n) = get(entries, "system_user") {
        return system_user(d, n, api).map(Auth::SystemUser);
    }
    if let Some(n) = get(entries, "oauth") {
        return oauth(d, n, api).map(Auth::OAuth);
    }
    if get(entries, "bearer").is_some() {
        return secret(d, entries, "bearer", WHAT)
            .flatten()
            .map(Auth::Bearer);
    }
    match (get(entries, "ticket"), get(entries, "app_token")) {
        (Some(_), Some(_)) => {
            let ticket = secret(d, entries, "ticket", WHAT).flatten();
            let app_token = secret(d, entries, "app_token", WHAT).flatten();
            Some(Auth::Ticket {
                ticket: ticket?,
                app_token: app_token?,
            })
        }
        _ => {
            d.sink.error(
                node.pos,
                format!("{WHAT}: `ticket:` needs `app_token:` (the application's client secret)"),
            );
            None
        }
    }
}

fn system_user(d: &mut Decoder<'_>, node: &Node, api: Option<&Url>) -> Option<SystemUser> {
    let what = "superoffice: auth: system_user";
    let entries = d.map(node, what)?;
    d.only_keys(
        entries,
        &["token", "private_key", "client_secret", "login"],
        what,
    );
    let token = secret(d, entries, "token", what);
    let key = private_key(d, entries, node, what);
    let client_secret = secret(d, entries, "client_secret", what);
    let login = login(d, entries, node, what, api);
    Some(SystemUser {
        token: required(d, node, what, "token", token)?,
        key: key?,
        client_secret: required(d, node, what, "client_secret", client_secret)?,
        login: login?,
    })
}

fn oauth(d: &mut Decoder<'_>, node: &Node, api: Option<&Url>) -> Option<OAuth> {
    let what = "superoffice: auth: oauth";
    let entries = d.map(node, what)?;
    d.only_keys(
        entries,
        &["client_id", "client_secret", "refresh_token", "login"],
        what,
    );
    let client_id = secret(d, entries, "client_id", what);
    let client_secret = secret(d, entries, "client_secret", what);
    let refresh_token = secret(d, entries, "refresh_token", what);
    let login = login(d, entries, node, what, api);
    Some(OAuth {
        client_id: required(d, node, what, "client_id", client_id)?
            .expose()
            .clone(),
        client_secret: required(d, node, what, "client_secret", client_secret)?,
        refresh_token: required(d, node, what, "refresh_token", refresh_token)?,
        login: login?,
    })
}

/// A key that must be there: reports its absence at the section.
fn required<T>(
    d: &mut Decoder<'_>,
    node: &Node,
    what: &str,
    key: &str,
    found: Option<Option<T>>,
) -> Option<T> {
    match found {
        Some(Some(v)) => Some(v),
        Some(None) => None,
        None => {
            d.sink.error(node.pos, format!("{what} needs `{key}:`"));
            None
        }
    }
}

/// A text value that must not be empty once `${VAR}` is filled in; `None` when absent,
/// `Some(None)` when wrong (reported).
fn secret(
    d: &mut Decoder<'_>,
    entries: &Entries,
    key: &str,
    what: &str,
) -> Option<Option<Secret<String>>> {
    let n = get(entries, key)?;
    let Some(text) = d.text(n, &format!("{what}: {key}")) else {
        return Some(None);
    };
    if text.trim().is_empty() {
        d.sink.error(
            n.pos,
            format!("{what}: {key} is empty (if it comes from ${{VAR}}, is that variable set?)"),
        );
        return Some(None);
    }
    Some(Some(Secret::new(text.trim().to_string())))
}

/// `private_key:`, a file relative to the rules file, read and parsed now.
fn private_key(d: &mut Decoder<'_>, entries: &Entries, node: &Node, what: &str) -> Option<AppKey> {
    let Some(n) = get(entries, "private_key") else {
        d.sink.error(
            node.pos,
            format!("{what} needs `private_key:`, the application's RSA key file (PEM or RSA XML)"),
        );
        return None;
    };
    let name = d.text(n, &format!("{what}: private_key"))?;
    let base = d
        .sink
        .file()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let path = base.join(&name);
    let text = match crate::text::read_bounded(&path, 64 * 1024) {
        Ok(t) => t,
        Err(e) => {
            d.sink.error(
                n.pos,
                format!("{what}: private_key: cannot read {}: {e}", path.display()),
            );
            return None;
        }
    };
    match AppKey::parse(&text) {
        Ok(key) => Some(key),
        Err(e) => {
            d.sink.error(
                n.pos,
                format!("{what}: private_key: {} {e}", path.display()),
            );
            None
        }
    }
}

/// `login:`, or SuperOffice's login service for the API's environment.
fn login(
    d: &mut Decoder<'_>,
    entries: &Entries,
    node: &Node,
    what: &str,
    api: Option<&Url>,
) -> Option<Url> {
    if let Some(n) = get(entries, "login") {
        let text = d.text(n, &format!("{what}: login"))?;
        return match Url::parse(text.trim_end_matches('/')) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Some(u),
            _ => {
                d.sink
                    .error(n.pos, format!("{what}: login must be an http(s) URL"));
                None
            }
        };
    }
    match api.and_then(default_login) {
        Some(u) => Some(u),
        None => {
            d.sink.error(
                node.pos,
                format!(
                    "{what} needs `login:` (SuperOffice's login service, like https://online.superoffice.com/login): herald tells it from the API's address only for *.superoffice.com"
                ),
            );
            None
        }
    }
}

/// `https://sod2.superoffice.com/Cust12345/api` signs in at `https://sod.superoffice.com/login`:
/// the environment (sod, stage, qaonline, online) without the server's number.
pub fn default_login(api: &Url) -> Option<Url> {
    let host = api.host_str()?.to_ascii_lowercase();
    let first = host.strip_suffix(".superoffice.com")?;
    let env = first.trim_end_matches(|c: char| c.is_ascii_digit());
    matches!(env, "sod" | "stage" | "qaonline" | "online")
        .then(|| Url::parse(&format!("https://{env}.superoffice.com/login")).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_login_service_follows_the_api_environment() {
        let cases = [
            (
                "https://sod2.superoffice.com/Cust1/api",
                Some("https://sod.superoffice.com/login"),
            ),
            (
                "https://online3.superoffice.com/Cust1/api",
                Some("https://online.superoffice.com/login"),
            ),
            (
                "https://online.superoffice.com",
                Some("https://online.superoffice.com/login"),
            ),
            (
                "https://stage.superoffice.com/Cust1/api",
                Some("https://stage.superoffice.com/login"),
            ),
            ("https://crm.example.com/api", None),
            ("https://evil-sod.superoffice.com.example/api", None),
        ];
        for (api, want) in cases {
            let got = default_login(&Url::parse(api).unwrap());
            assert_eq!(got.as_ref().map(Url::as_str), want, "{api}");
        }
    }
}

//! Who a request's Basic credentials say the user is, checked by the `AuthBasicProvider`s in
//! force, as mod_auth_basic does it: the first provider that knows the user decides (a wrong
//! password is a 401 at once); a user none of them knows is a 401 too; a provider that cannot
//! decide (an unreadable file, a script that raised) is a 500.
//!
//! The providers are mod_authn_file's `file` (the `AuthUserFile`, [`crate::auth`]) and
//! mod_wsgi's `wsgi` (the `WSGIAuthUserScript`'s `check_password`, asked in the Python of the
//! request's group).
//!
//! `AuthType Digest` is mod_auth_digest's ([`crate::auth::digest`]): the `AuthDigestProvider`s
//! give the hash of the user's password in the realm (the `htdigest` file's, or the script's
//! `get_realm_hash`), and the client's answer to the nonce must be the one that hash gives.

use bytes::Bytes;
use oxwsgi_config::access::{AuthProvider, AuthSettings};
use oxwsgi_exchange::{AuthAnswer, AuthQuestion, Authenticated};

use super::access::Asker;
use crate::application::Application;
use crate::auth::digest::{self, DigestHeader, NonceCheck, digest_header};
use crate::auth::{CredentialsError, Outcome, credentials};
use crate::error_response::{DigestChallenge, Refusal};

/// What one provider found.
enum Found {
    /// The password is the user's; the user may have been renamed (a script's string).
    Granted(Option<Bytes>),
    /// The provider knows the user, with another password.
    Mismatch,
    /// The provider does not know the user: the next one is asked.
    Unknown,
}

/// The user the request's credentials authenticate, under `settings`; `seen` gets the user
/// they name as soon as they are read (the access log's `%u`).
pub(super) async fn authenticate<A: Application>(
    asker: &Asker<'_, A>,
    settings: &AuthSettings,
    seen: &mut Option<Authenticated>,
) -> Result<Authenticated, Refusal> {
    let uri = asker.uri();
    let remote = asker.conn.remote;
    let Some(auth_type) = settings.auth_type() else {
        tracing::error!(
            client.addr = %remote,
            "No authentication done but request not allowed without authentication for \
             {uri}. Authentication not configured?"
        );
        return Err(Refusal::Internal);
    };
    let Some(realm) = settings.name.as_deref() else {
        tracing::error!(client.addr = %remote, "need AuthName: {uri}");
        return Err(Refusal::Internal);
    };
    if auth_type.eq_ignore_ascii_case("digest") {
        return digest(asker, settings, realm, seen).await;
    }
    let unauthorized = || unauthorized(asker, settings, false);
    let sent = match credentials(asker.headers()) {
        Ok(sent) => sent,
        Err(CredentialsError::Missing) => return Err(unauthorized()),
        Err(CredentialsError::WrongScheme) => {
            tracing::info!(
                client.addr = %remote,
                "client used wrong authentication scheme: {uri}"
            );
            return Err(unauthorized());
        }
    };
    let mut user = Authenticated {
        user: sent.user.clone(),
        auth_type: auth_type.to_owned(),
    };
    *seen = Some(user.clone());
    let shown = String::from_utf8_lossy(&sent.user);
    let providers = settings
        .basic_providers
        .as_deref()
        .unwrap_or(&[AuthProvider::File]);
    for provider in providers {
        let found = match provider {
            AuthProvider::File => from_file(asker, settings, &sent.user, &sent.password).await?,
            AuthProvider::Wsgi => from_script(asker, settings, &sent.user, &sent.password).await?,
        };
        match found {
            Found::Granted(renamed) => {
                if let Some(renamed) = renamed {
                    // mod_wsgi sets `r->user` to the name the script returned.
                    user.user = renamed;
                    *seen = Some(user.clone());
                }
                return Ok(user);
            }
            Found::Mismatch => {
                tracing::info!(
                    client.addr = %remote,
                    "user {shown}: authentication failure for \"{uri}\": Password Mismatch"
                );
                return Err(unauthorized());
            }
            Found::Unknown => {}
        }
    }
    tracing::info!(client.addr = %remote, "user {shown} not found: {uri}");
    Err(unauthorized())
}

/// mod_authn_file: the `AuthUserFile`.
async fn from_file<A: Application>(
    asker: &Asker<'_, A>,
    settings: &AuthSettings,
    user: &[u8],
    password: &[u8],
) -> Result<Found, Refusal> {
    let remote = asker.conn.remote;
    let Some(file) = settings.user_file.as_deref() else {
        tracing::error!(
            client.addr = %remote,
            "AuthUserFile not specified in the configuration: {}",
            asker.uri()
        );
        return Err(Refusal::Internal);
    };
    match asker.files().check(file, user, password).await {
        Outcome::Granted => Ok(Found::Granted(None)),
        Outcome::Mismatch => Ok(Found::Mismatch),
        Outcome::UnknownUser => Ok(Found::Unknown),
        Outcome::Unreadable(why) => {
            tracing::error!(
                client.addr = %remote,
                "Could not open password file: {}: {why}",
                file.display()
            );
            Err(Refusal::Internal)
        }
    }
}

/// mod_wsgi's `wsgi` provider: the `WSGIAuthUserScript`'s `check_password`.
async fn from_script<A: Application>(
    asker: &Asker<'_, A>,
    settings: &AuthSettings,
    user: &Bytes,
    password: &[u8],
) -> Result<Found, Refusal> {
    let Some(script) = settings.user_script.as_deref() else {
        tracing::error!(
            client.addr = %asker.conn.remote,
            "Location of WSGI user authentication script not provided."
        );
        return Err(Refusal::Internal);
    };
    let question = AuthQuestion::CheckPassword {
        user: user.clone(),
        password: Bytes::copy_from_slice(password),
    };
    match asker.ask(script, question, None).await {
        AuthAnswer::Granted { user } => Ok(Found::Granted(user)),
        AuthAnswer::Denied => Ok(Found::Mismatch),
        AuthAnswer::UnknownUser => Ok(Found::Unknown),
        // Failed (logged on the Python side), or an answer to another question.
        _ => Err(Refusal::Internal),
    }
}

/// The 401 of `settings`' `AuthType`: a Basic challenge, or a Digest one with a fresh
/// nonce (`stale` when the client's was too old).
pub(super) fn unauthorized<A: Application>(
    asker: &Asker<'_, A>,
    settings: &AuthSettings,
    stale: bool,
) -> Refusal {
    let realm = settings.name.clone().unwrap_or_default();
    let is_digest = settings
        .auth_type()
        .is_some_and(|t| t.eq_ignore_ascii_case("digest"));
    let digest = is_digest.then(|| {
        Box::new(DigestChallenge {
            nonce: asker.files().nonces.make(&realm, now()),
            domain: settings.digest.domain.clone(),
            stale,
            qop: settings.digest.qop.unwrap_or(true),
        })
    });
    Refusal::Unauthorized { realm, digest }
}

/// Seconds since the epoch.
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// mod_auth_digest's `authenticate_digest_user`, in its order: the header, the `uri`, the
/// realm, the algorithm, the user's hash from the providers, the client's digest, and last
/// the nonce, so that a right answer to an old nonce gets `stale=true`.
async fn digest<A: Application>(
    asker: &Asker<'_, A>,
    settings: &AuthSettings,
    realm: &str,
    seen: &mut Option<Authenticated>,
) -> Result<Authenticated, Refusal> {
    let uri = asker.uri();
    let remote = asker.conn.remote;
    let sent = match digest_header(asker.headers()) {
        DigestHeader::Complete(sent) => sent,
        DigestHeader::Missing => return Err(unauthorized(asker, settings, false)),
        DigestHeader::WrongScheme => {
            tracing::error!(
                client.addr = %remote,
                "client used wrong authentication scheme: {uri}"
            );
            return Err(unauthorized(asker, settings, false));
        }
        DigestHeader::Incomplete => {
            tracing::error!(
                client.addr = %remote,
                "missing user, realm, nonce, uri, digest, cnonce, or nonce_count in \
                 authorization header: {uri}"
            );
            return Err(unauthorized(asker, settings, false));
        }
    };
    let user = Authenticated {
        user: Bytes::copy_from_slice(&sent.username),
        auth_type: "Digest".to_owned(),
    };
    *seen = Some(user.clone());
    let shown = String::from_utf8_lossy(&sent.username);
    if !digest::uri_matches(&sent.uri, asker.target()) {
        tracing::error!(
            client.addr = %remote,
            "uri mismatch - <{}> does not match request-uri <{}>",
            String::from_utf8_lossy(&sent.uri),
            asker.target()
        );
        return Err(Refusal::BadRequest(
            "the Digest credentials are for another URI",
        ));
    }
    if sent.realm != realm.as_bytes() {
        tracing::error!(
            client.addr = %remote,
            "realm mismatch - got `{}' but expected `{realm}'",
            String::from_utf8_lossy(&sent.realm)
        );
        return Err(unauthorized(asker, settings, false));
    }
    if let Some(algorithm) = &sent.algorithm {
        if !algorithm.eq_ignore_ascii_case(b"MD5") {
            tracing::error!(
                client.addr = %remote,
                "unknown algorithm `{}' received: {uri}",
                String::from_utf8_lossy(algorithm)
            );
            return Err(unauthorized(asker, settings, false));
        }
    }
    let Some(ha1) = realm_hash(asker, settings, &user.user, realm).await? else {
        tracing::error!(
            client.addr = %remote,
            "user `{shown}' in realm `{realm}' not found: {uri}"
        );
        return Err(unauthorized(asker, settings, false));
    };
    let qop_offered = settings.digest.qop.unwrap_or(true);
    if let Some(qop) = &sent.qop {
        if !(qop_offered && qop.eq_ignore_ascii_case(b"auth")) {
            tracing::error!(
                client.addr = %remote,
                "invalid qop `{}' received: {uri}",
                String::from_utf8_lossy(qop)
            );
            return Err(unauthorized(asker, settings, false));
        }
    }
    let expected = digest::expected(&ha1, asker.method().as_str(), &sent);
    if !digest::matches(&sent, &expected) {
        tracing::error!(
            client.addr = %remote,
            "user {shown}: password mismatch: {uri}"
        );
        return Err(unauthorized(asker, settings, false));
    }
    let lifetime = settings.digest.nonce_lifetime.unwrap_or(300);
    match asker
        .files()
        .nonces
        .check(&sent.nonce, realm.as_bytes(), now(), lifetime)
    {
        NonceCheck::Fresh => Ok(user),
        NonceCheck::Stale => {
            tracing::info!(
                client.addr = %remote,
                "user {shown}: nonce expired - sending new nonce"
            );
            Err(unauthorized(asker, settings, true))
        }
        NonceCheck::Forged => {
            tracing::error!(
                client.addr = %remote,
                "invalid nonce {} received",
                String::from_utf8_lossy(&sent.nonce)
            );
            Err(unauthorized(asker, settings, true))
        }
    }
}

/// The hash of `user`'s password in `realm`, from the first `AuthDigestProvider` that knows
/// the user; `None` when none does.
async fn realm_hash<A: Application>(
    asker: &Asker<'_, A>,
    settings: &AuthSettings,
    user: &Bytes,
    realm: &str,
) -> Result<Option<Vec<u8>>, Refusal> {
    let remote = asker.conn.remote;
    let providers = settings
        .digest_providers
        .as_deref()
        .unwrap_or(&[AuthProvider::File]);
    for provider in providers {
        match provider {
            AuthProvider::File => {
                let Some(file) = settings.user_file.as_deref() else {
                    tracing::error!(
                        client.addr = %remote,
                        "AuthUserFile not specified in the configuration: {}",
                        asker.uri()
                    );
                    return Err(Refusal::Internal);
                };
                match asker.files().realm_hash(file, user, realm.as_bytes()).await {
                    Ok(Some(hash)) => return Ok(Some(hash)),
                    Ok(None) => {}
                    Err(why) => {
                        tracing::error!(
                            client.addr = %remote,
                            "Could not open password file: {}: {why}",
                            file.display()
                        );
                        return Err(Refusal::Internal);
                    }
                }
            }
            AuthProvider::Wsgi => {
                let Some(script) = settings.user_script.as_deref() else {
                    tracing::error!(
                        client.addr = %remote,
                        "Location of WSGI user authentication script not provided."
                    );
                    return Err(Refusal::Internal);
                };
                let question = AuthQuestion::RealmHash {
                    user: user.clone(),
                    realm: realm.to_owned(),
                };
                match asker.ask(script, question, None).await {
                    AuthAnswer::RealmHash(hash) => return Ok(Some(hash.to_vec())),
                    AuthAnswer::UnknownUser => {}
                    _ => return Err(Refusal::Internal),
                }
            }
        }
    }
    Ok(None)
}

/// Bytes as Latin-1 text, as mod_wsgi decodes user and group names.
pub(super) fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

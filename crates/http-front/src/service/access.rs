//! The access check of a request: its path's rule, decided as httpd decides it
//! (`ap_process_request_internal` with mod_authz_core, mod_auth_basic and mod_authn_file),
//! asking for Basic credentials when the rule wants a user.
//!
//! In httpd's order: the rule is first decided without a user; a grant lets the request in
//! (with no user, whatever `Authorization` it carries), a denial refuses it (403). Only a
//! rule that a user could satisfy ([`Decision::DeniedNoUser`]) makes the server authenticate:
//! `AuthType Basic` and `AuthName` must be in force (else a 500, as httpd's), the credentials
//! must name a user of the `AuthUserFile` with the right password (else a 401 that asks for
//! them again), and the rule, decided again with that user (and their groups, when it names
//! groups), must let the user in — else a 401 too, as httpd answers an authenticated user the
//! rules refuse (`AH01631 user X: authorization failure`).

use oxwsgi_config::access::{Decision, User};
use oxwsgi_exchange::{Authenticated, ErrorRedirect};

use super::shared::{ConnShared, HostShared};
use crate::application::Application;
use crate::auth::{CredentialsError, Outcome, credentials};
use crate::error_response::Refusal;

/// Checks whether the request `head` may have the decoded, normalised `path`; the user it
/// runs as, if it was authenticated. `seen` gets the user the credentials name as soon as
/// they are read, whether or not they are right (the access log's `%u`, as httpd's
/// `r->user`); for the internal request of an `ErrorDocument`, whose rule is the failed
/// request's, it is that request's user.
pub(super) async fn check<A: Application>(
    conn: &ConnShared<A>,
    host: &HostShared,
    head: &http::request::Parts,
    path: &[u8],
    redirect: Option<&ErrorRedirect>,
    seen: &mut Option<Authenticated>,
) -> Result<Option<Authenticated>, Refusal> {
    let uri = head.uri.path();
    let Some(rule) = host.access.rule_for(path) else {
        // httpd's AH01627.
        if !host.access.auth_locations.is_empty() || !host.access.auth_directories.is_empty() {
            if let Some(auth_type) = host.access.auth_for(path).auth_type() {
                tracing::error!(
                    client.addr = %conn.remote,
                    "AuthType {auth_type} configured with no corresponding authorization \
                     directives: {uri}"
                );
                return Err(Refusal::Internal);
            }
        }
        return Ok(None);
    };
    // httpd checks an internal redirect's access again, unless the section that decides it
    // is the failed request's own (`ap_process_request_internal` skips the check when the
    // configuration did not change, and keeps the failed request's user).
    let inherited = redirect
        .and_then(|failed| host.access.rule_for(&failed.url))
        .is_some_and(|failed| std::ptr::eq(failed, rule));
    if inherited {
        return Ok(seen.clone());
    }
    let ip = conn.remote.ip();
    // Only a rule naming hosts waits for the client's name (once per connection).
    let name = if rule.needs_name() {
        conn.client_name.get().await
    } else {
        None
    };
    match rule.decide(ip, name, None) {
        Decision::Granted => return Ok(None),
        Decision::Denied | Decision::Neutral => return Err(Refusal::Forbidden),
        Decision::DeniedNoUser => {}
    }
    let settings = host.access.auth_for(path);
    let Some(auth_type) = settings.auth_type() else {
        tracing::error!(
            client.addr = %conn.remote,
            "No authentication done but request not allowed without authentication for \
             {uri}. Authentication not configured?"
        );
        return Err(Refusal::Internal);
    };
    let Some(realm) = settings.name.as_deref() else {
        tracing::error!(client.addr = %conn.remote, "need AuthName: {uri}");
        return Err(Refusal::Internal);
    };
    let unauthorized = || Refusal::Unauthorized {
        realm: realm.to_owned(),
    };
    let sent = match credentials(&head.headers) {
        Ok(sent) => sent,
        Err(CredentialsError::Missing) => return Err(unauthorized()),
        Err(CredentialsError::WrongScheme) => {
            tracing::info!(
                client.addr = %conn.remote,
                "client used wrong authentication scheme: {uri}"
            );
            return Err(unauthorized());
        }
    };
    let user = Authenticated {
        user: sent.user.clone(),
        auth_type: auth_type.to_owned(),
    };
    *seen = Some(user.clone());
    let shown = String::from_utf8_lossy(&sent.user);
    let Some(file) = settings.user_file.as_deref() else {
        tracing::error!(
            client.addr = %conn.remote,
            "AuthUserFile not specified in the configuration: {uri}"
        );
        return Err(Refusal::Internal);
    };
    match host.auth.check(file, &sent.user, &sent.password).await {
        Outcome::Granted => {}
        Outcome::Mismatch => {
            tracing::info!(
                client.addr = %conn.remote,
                "user {shown}: authentication failure for \"{uri}\": Password Mismatch"
            );
            return Err(unauthorized());
        }
        Outcome::UnknownUser => {
            tracing::info!(client.addr = %conn.remote, "user {shown} not found: {uri}");
            return Err(unauthorized());
        }
        Outcome::Unreadable(why) => {
            tracing::error!(
                client.addr = %conn.remote,
                "Could not open password file: {}: {why}",
                file.display()
            );
            return Err(Refusal::Internal);
        }
    }
    let groups = if rule.needs_groups() {
        host.auth
            .groups(settings.group_file.as_deref(), &sent.user)
            .await
    } else {
        Vec::new()
    };
    let authenticated = User {
        name: &sent.user,
        groups: &groups,
    };
    match rule.decide(ip, name, Some(&authenticated)) {
        Decision::Granted => Ok(Some(user)),
        _ => {
            tracing::info!(
                client.addr = %conn.remote,
                "user {shown}: authorization failure for \"{uri}\""
            );
            Err(unauthorized())
        }
    }
}

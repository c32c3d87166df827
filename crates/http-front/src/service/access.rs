//! The access check of a request: its path's rule, decided as httpd decides it
//! (`ap_process_request_internal` with mod_authz_core, mod_auth_basic, mod_authn_file and
//! mod_wsgi's providers), asking for Basic credentials when the rule wants a user.
//!
//! In httpd's order: a `WSGIAccessScript` is asked first (mod_wsgi's access checker): `False`
//! is a 403, whatever the rules say. Then the rule is decided without a user; a grant lets the
//! request in (with no user, whatever `Authorization` it carries), a denial refuses it (403).
//! Only a rule that a user could satisfy ([`Decision::DeniedNoUser`]) makes the server
//! authenticate: `AuthType Basic` and `AuthName` must be in force (else a 500, as httpd's),
//! the credentials must name a user that one of the `AuthBasicProvider`s knows, with the right
//! password (else a 401 that asks for them again; [`super::authenticate`]), and the rule,
//! decided again with that user (and their groups, when it names groups), must let the user
//! in — else a 401 too, as httpd answers an authenticated user the rules refuse (`AH01631 user
//! X: authorization failure`).

use bytes::Bytes;
use oxwsgi_config::access::{Decision, User};
use oxwsgi_exchange::{AppRequest, AuthAnswer, AuthQuery, AuthQuestion};
use oxwsgi_exchange::{Authenticated, ErrorRedirect};

use super::Pending;
use super::authenticate::{authenticate, latin1, unauthorized};
use super::shared::{ConnShared, HostShared};
use crate::application::Application;
use crate::error_response::Refusal;
use crate::router::Route;

/// Checks whether the request `pending` may have the decoded, normalised `path`; the user it
/// runs as, if it was authenticated. `seen` gets the user the credentials name as soon as
/// they are read, whether or not they are right (the access log's `%u`, as httpd's
/// `r->user`); for the internal request of an `ErrorDocument`, whose rule is the failed
/// request's, it is that request's user.
pub(super) async fn check<A: Application>(
    conn: &ConnShared<A>,
    host: &HostShared,
    pending: &Pending,
    path: &Bytes,
    redirect: Option<&ErrorRedirect>,
    seen: &mut Option<Authenticated>,
) -> Result<Option<Authenticated>, Refusal> {
    let head = &pending.head;
    let uri = head.uri.path();
    let rule = host.access.rule_for(path);
    // httpd checks an internal redirect's access again, unless the section that decides it
    // is the failed request's own (`ap_process_request_internal` skips the check when the
    // configuration did not change, and keeps the failed request's user).
    let inherited = redirect
        .and_then(|failed| Some((failed, rule?)))
        .and_then(|(failed, rule)| Some((host.access.rule_for(&failed.url)?, rule)))
        .is_some_and(|(failed, rule)| std::ptr::eq(failed, rule));
    if inherited {
        return Ok(seen.clone());
    }
    let settings = host.access.auth_for(path);
    let asker = Asker {
        conn,
        host,
        pending,
        path,
        redirect,
    };
    if let Some(script) = &settings.access_script {
        // mod_wsgi's `wsgi_hook_access_checker`: the client's address (httpd's
        // `REMOTE_HOST` lookup finds no name with `HostnameLookups Off`).
        let question = AuthQuestion::AllowAccess {
            host: conn.remote.ip().to_canonical().to_string(),
        };
        match asker.ask(script, question, None).await {
            AuthAnswer::Access(None | Some(true)) => {}
            _ => {
                tracing::error!(
                    client.addr = %conn.remote,
                    "Client denied by server configuration: '{uri}'."
                );
                return Err(Refusal::Forbidden);
            }
        }
    }
    let Some(rule) = rule else {
        // httpd's AH01627.
        if !host.access.auth_locations.is_empty() || !host.access.auth_directories.is_empty() {
            if let Some(auth_type) = settings.auth_type() {
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
    let user = authenticate(&asker, &settings, seen).await?;
    let groups = if rule.needs_groups() {
        host.auth
            .groups(settings.group_file.as_deref(), &user.user)
            .await
    } else {
        Vec::new()
    };
    let wsgi_groups = if rule.needs_wsgi_groups() {
        wsgi_groups(&asker, settings.group_script.as_deref(), &user).await
    } else {
        Vec::new()
    };
    let authenticated = User {
        name: &user.user,
        groups: &groups,
        wsgi_groups: &wsgi_groups,
    };
    match rule.decide(ip, name, Some(&authenticated)) {
        Decision::Granted => Ok(Some(user)),
        _ => {
            tracing::info!(
                client.addr = %conn.remote,
                "user {}: authorization failure for \"{uri}\"",
                String::from_utf8_lossy(&user.user)
            );
            Err(unauthorized(&asker, &settings, false))
        }
    }
}

/// The groups the `WSGIAuthGroupScript` puts `user` in (mod_wsgi's `wsgi-group` provider):
/// none when there is no script, or it failed (said in the error log, where mod_wsgi says it).
async fn wsgi_groups<A: Application>(
    asker: &Asker<'_, A>,
    script: Option<&std::path::Path>,
    user: &Authenticated,
) -> Vec<String> {
    let Some(script) = script else {
        tracing::error!("Location of WSGI group authorization script not provided.");
        return Vec::new();
    };
    let question = AuthQuestion::GroupsForUser {
        user: user.user.clone(),
    };
    match asker.ask(script, question, Some(user.clone())).await {
        AuthAnswer::Groups(groups) => {
            if groups.is_empty() {
                tracing::error!(
                    client.addr = %asker.conn.remote,
                    "Authorization of user '{}' to access '{}' failed. User is not a member \
                     of any groups.",
                    latin1(&user.user),
                    asker.pending.head.uri.path()
                );
            }
            groups.iter().map(|group| latin1(group)).collect()
        }
        _ => Vec::new(),
    }
}

/// Asks the Python side of the request's group questions about one request.
pub(super) struct Asker<'a, A> {
    pub(super) conn: &'a ConnShared<A>,
    host: &'a HostShared,
    pending: &'a Pending,
    path: &'a Bytes,
    redirect: Option<&'a ErrorRedirect>,
}

impl<A: Application> Asker<'_, A> {
    /// Asks `script` the `question`; `user` is who the request is authenticated as so far
    /// (`REMOTE_USER` in the script's environ).
    pub(super) async fn ask(
        &self,
        script: &std::path::Path,
        question: AuthQuestion,
        user: Option<Authenticated>,
    ) -> AuthAnswer {
        let (app, script_name_len) = match self.host.router.route(self.path) {
            Route::App {
                app,
                script_name_len,
            } => (app, script_name_len),
            _ => (self.host.router.first_app().unwrap_or(0), 0),
        };
        let Pending {
            head,
            request_id,
            received_at,
            proxied,
        } = self.pending.copy();
        let request = AppRequest {
            app,
            listener: self.conn.listener,
            head,
            path: self.path.clone(),
            script_name_len,
            body: None,
            body_limit: 0,
            remote: self.conn.remote,
            local: self.conn.local,
            request_id,
            received_at,
            redirect: self.redirect.cloned(),
            tls: self.conn.tls.clone(),
            proxied,
            authenticated: user,
        };
        let query = AuthQuery {
            script: script.to_owned(),
            question,
            request,
        };
        self.conn.server.app.authorize(query).await
    }

    /// The request's path, for the log.
    pub(super) fn uri(&self) -> &str {
        self.pending.head.uri.path()
    }

    /// The request's headers.
    pub(super) fn headers(&self) -> &http::HeaderMap {
        &self.pending.head.headers
    }

    /// The request's target, as sent.
    pub(super) fn target(&self) -> &http::Uri {
        &self.pending.head.uri
    }

    /// The request's method.
    pub(super) fn method(&self) -> &http::Method {
        &self.pending.head.method
    }

    /// The password and group files of the request's virtual host.
    pub(super) fn files(&self) -> &crate::auth::Authenticator {
        &self.host.auth
    }
}

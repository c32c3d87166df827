//! What a forwarded request carries besides itself: what the group's worker would otherwise
//! learn from the client's connection, and how the worker says its application produced no
//! response.
//!
//! The hop is HTTP/1.1 over a unix socket, with the client's request as it came (method,
//! target, headers, body) and a few fields of its own, each a header named
//! `oxwsgi-internal-…`. The front tier removes any such header a client sends before adding
//! its own, and the worker removes them all before the application sees the request: they
//! never reach an environ. Only the front tier can connect to a group's socket (it is its
//! user's, mode 0600), so the worker may trust them.
//!
//! A question for one of the group's Python authentication scripts ([`AuthQuery`]) crosses
//! the same way: the request it is about, with the same fields, no body, and the question in
//! fields of its own ([`AuthHop`]); the worker answers it in [`ANSWER`] ([`write_answer`]).

use std::ffi::OsString;
use std::fmt;
use std::net::SocketAddr;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Version, header};

/// What a path escapes in its hop header: everything but unreserved characters and `/`.
const ESCAPED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
use crate::error_response::APP_ERRORS;
use oxwsgi_exchange::{
    AppError, AuthAnswer, AuthQuestion, Authenticated, ErrorRedirect, Proxied, TlsDetails,
    UrlScheme,
};

/// Every header of the hop is named so.
const PREFIX: &str = "oxwsgi-internal-";

const APP: &str = "oxwsgi-internal-app";
const SCRIPT_NAME_LEN: &str = "oxwsgi-internal-script-name-len";
const LISTENER: &str = "oxwsgi-internal-listener";
const REMOTE: &str = "oxwsgi-internal-remote";
const LOCAL: &str = "oxwsgi-internal-local";
const REQUEST_ID: &str = "oxwsgi-internal-request-id";
const RECEIVED: &str = "oxwsgi-internal-received-us";
const BODY_LIMIT: &str = "oxwsgi-internal-body-limit";
const VERSION: &str = "oxwsgi-internal-version";
const PATH: &str = "oxwsgi-internal-path";
/// The fields of an internal request for a local `ErrorDocument` ([`ErrorRedirect`]); a
/// request without the first has none.
const REDIRECT_STATUS: &str = "oxwsgi-internal-redirect-status";
const REDIRECT_METHOD: &str = "oxwsgi-internal-redirect-method";
const REDIRECT_URI: &str = "oxwsgi-internal-redirect-uri";
const REDIRECT_URL: &str = "oxwsgi-internal-redirect-url";
/// On a request that came over TLS: whether the client's certificate was verified (`1`/`0`).
const TLS_VERIFIED: &str = "oxwsgi-internal-tls-verified";
/// One of mod_ssl's variables the listener passes ([`TlsDetails::environment`]), as
/// `NAME=escaped value`, once per variable; present (maybe empty) when it passes them.
const TLS_VARIABLES: &str = "oxwsgi-internal-tls-variables";
/// What a trusted proxy's headers said of the client's request ([`Proxied`]), as
/// `field=escaped value`, once per field said; present when they said something.
const PROXIED: &str = "oxwsgi-internal-proxied";
/// The user the front tier authenticated the request as ([`Authenticated`]), escaped; the
/// `AuthType` comes with it, in [`AUTH_TYPE`].
const USER: &str = "oxwsgi-internal-user";
const AUTH_TYPE: &str = "oxwsgi-internal-auth-type";
/// On a question for an authentication script ([`AuthHop`]), instead of a request for the
/// application: the question's kind ([`question_token`]); its presence makes the request one.
const QUESTION: &str = "oxwsgi-internal-auth-question";
/// The script to ask, its path's bytes escaped.
const SCRIPT: &str = "oxwsgi-internal-auth-script";
/// The question's arguments, escaped, as its kind has them.
const QUESTION_USER: &str = "oxwsgi-internal-auth-question-user";
/// Marked sensitive, and never in a log line or a `Debug` output.
const QUESTION_PASSWORD: &str = "oxwsgi-internal-auth-question-password";
const QUESTION_REALM: &str = "oxwsgi-internal-auth-question-realm";
const QUESTION_HOST: &str = "oxwsgi-internal-auth-question-host";
/// The client's framing headers (`Content-Length`, `Transfer-Encoding`), as `name=escaped
/// value` lines, moved out of the question's head: the hop's own request has no body, and
/// they would frame one. The worker puts them back, for the script's `environ`.
const FRAMING: &str = "oxwsgi-internal-auth-framing";
/// On the answer to a question: what the script returned ([`AuthAnswer`]), as lines, the
/// first `answer=KIND`.
const ANSWER: &str = "oxwsgi-internal-auth-answer";
/// On a response: the application produced none, and why ([`AppError`]).
pub(crate) const ERROR: HeaderName = HeaderName::from_static("oxwsgi-internal-error");

/// The fields a forwarded request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hop {
    /// The application's index among its group's applications.
    pub(crate) app: usize,
    pub(crate) script_name_len: usize,
    pub(crate) listener: usize,
    pub(crate) remote: SocketAddr,
    pub(crate) local: SocketAddr,
    pub(crate) request_id: String,
    pub(crate) received_at: SystemTime,
    pub(crate) body_limit: u64,
    /// The client's HTTP version (the hop is always HTTP/1.1).
    pub(crate) version: Version,
    /// The decoded path the request was routed by (it may differ from the target's: a
    /// directory's index script).
    pub(crate) path: Bytes,
    /// What the failed request was, when this one is for its `ErrorDocument`.
    pub(crate) redirect: Option<ErrorRedirect>,
    /// What the client's TLS connection says, when it came over TLS.
    pub(crate) tls: Option<TlsDetails>,
    /// What a trusted proxy's headers said of the client's request, when they said something.
    pub(crate) proxied: Option<Box<Proxied>>,
    /// The user the front tier authenticated, when it did.
    pub(crate) authenticated: Option<Authenticated>,
    /// Set when the request is a question for an authentication script, not for the
    /// application.
    pub(crate) auth: Option<AuthHop>,
}

/// A question for one of the group's authentication scripts: an [`AuthQuery`] without its
/// request (which the rest of the [`Hop`] carries).
///
/// [`AuthQuery`]: oxwsgi_exchange::AuthQuery
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct AuthHop {
    /// The script file.
    pub(crate) script: PathBuf,
    /// What to ask it.
    pub(crate) question: AuthQuestion,
}

/// Everything but the password, which is shown by its length only.
impl fmt::Debug for AuthHop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("AuthHop");
        debug
            .field("script", &self.script)
            .field("question", &question_token(&self.question));
        match &self.question {
            AuthQuestion::CheckPassword { user, password } => debug
                .field("user", user)
                .field("password", &format_args!("<{} bytes>", password.len())),
            AuthQuestion::RealmHash { user, realm } => {
                debug.field("user", user).field("realm", realm)
            }
            AuthQuestion::GroupsForUser { user } => debug.field("user", user),
            AuthQuestion::AllowAccess { host } => debug.field("host", host),
        };
        debug.finish()
    }
}

/// A forwarded request lacked a field of the hop, or had a malformed one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the forwarded request's {0} header is missing or malformed")]
pub(crate) struct HopError(&'static str);

impl Hop {
    /// Adds the fields to a request's headers, replacing any a client sent.
    pub(crate) fn write(&self, headers: &mut HeaderMap) {
        remove_all(headers);
        let received = self
            .received_at
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros();
        let number = |n: u128| HeaderValue::from(n as u64);
        headers.insert(HeaderName::from_static(APP), number(self.app as u128));
        headers.insert(
            HeaderName::from_static(SCRIPT_NAME_LEN),
            number(self.script_name_len as u128),
        );
        headers.insert(
            HeaderName::from_static(LISTENER),
            number(self.listener as u128),
        );
        headers.insert(
            HeaderName::from_static(REMOTE),
            text(&self.remote.to_string()),
        );
        headers.insert(
            HeaderName::from_static(LOCAL),
            text(&self.local.to_string()),
        );
        headers.insert(HeaderName::from_static(REQUEST_ID), text(&self.request_id));
        headers.insert(HeaderName::from_static(RECEIVED), number(received));
        headers.insert(
            HeaderName::from_static(BODY_LIMIT),
            HeaderValue::from(self.body_limit),
        );
        if self.version == Version::HTTP_10 {
            headers.insert(
                HeaderName::from_static(VERSION),
                HeaderValue::from_static("1.0"),
            );
        }
        headers.insert(HeaderName::from_static(PATH), escaped(&self.path));
        if let Some(redirect) = &self.redirect {
            headers.insert(
                HeaderName::from_static(REDIRECT_STATUS),
                HeaderValue::from(redirect.status.as_u16()),
            );
            headers.insert(
                HeaderName::from_static(REDIRECT_METHOD),
                escaped(redirect.method.as_str().as_bytes()),
            );
            headers.insert(
                HeaderName::from_static(REDIRECT_URI),
                escaped(redirect.uri.to_string().as_bytes()),
            );
            headers.insert(
                HeaderName::from_static(REDIRECT_URL),
                escaped(&redirect.url),
            );
        }
        if let Some(tls) = &self.tls {
            headers.insert(
                HeaderName::from_static(TLS_VERIFIED),
                HeaderValue::from_static(if tls.client_verified { "1" } else { "0" }),
            );
            if let Some(variables) = &tls.environment {
                let lines = variables.iter().map(|(n, v)| (*n, v.as_bytes()));
                write_lines(headers, TLS_VARIABLES, lines);
            }
        }
        if let Some(proxied) = &self.proxied {
            write_proxied(proxied, headers);
        }
        if let Some(authenticated) = &self.authenticated {
            headers.insert(HeaderName::from_static(USER), escaped(&authenticated.user));
            headers.insert(
                HeaderName::from_static(AUTH_TYPE),
                escaped(authenticated.auth_type.as_bytes()),
            );
        }
        if let Some(auth) = &self.auth {
            write_auth(auth, headers);
        }
    }

    /// Takes the fields out of a forwarded request's headers (every `oxwsgi-internal-` header
    /// goes, whatever it is).
    pub(crate) fn take(headers: &mut HeaderMap) -> Result<Hop, HopError> {
        let hop = Hop {
            app: parsed(headers, APP)?,
            script_name_len: parsed(headers, SCRIPT_NAME_LEN)?,
            listener: parsed(headers, LISTENER)?,
            remote: parsed(headers, REMOTE)?,
            local: parsed(headers, LOCAL)?,
            request_id: parsed(headers, REQUEST_ID)?,
            received_at: UNIX_EPOCH + Duration::from_micros(parsed(headers, RECEIVED)?),
            body_limit: parsed(headers, BODY_LIMIT)?,
            version: match headers.get(VERSION) {
                Some(value) if value == "1.0" => Version::HTTP_10,
                Some(_) => return Err(HopError(VERSION)),
                None => Version::HTTP_11,
            },
            path: unescaped(headers, PATH)?,
            redirect: match headers.get(REDIRECT_STATUS) {
                None => None,
                Some(_) => Some(ErrorRedirect {
                    status: parsed::<u16>(headers, REDIRECT_STATUS).and_then(|code| {
                        StatusCode::from_u16(code).map_err(|_| HopError(REDIRECT_STATUS))
                    })?,
                    method: http::Method::from_bytes(&unescaped(headers, REDIRECT_METHOD)?)
                        .map_err(|_| HopError(REDIRECT_METHOD))?,
                    uri: http::Uri::from_maybe_shared(unescaped(headers, REDIRECT_URI)?)
                        .map_err(|_| HopError(REDIRECT_URI))?,
                    url: unescaped(headers, REDIRECT_URL)?,
                }),
            },
            tls: match headers.get(TLS_VERIFIED).map(HeaderValue::as_bytes) {
                None => None,
                Some(verified @ (b"0" | b"1")) => Some(TlsDetails {
                    client_verified: verified == b"1",
                    environment: tls_variables(headers)?,
                }),
                Some(_) => return Err(HopError(TLS_VERIFIED)),
            },
            proxied: proxied(headers)?,
            authenticated: match headers.get(USER) {
                None => None,
                Some(_) => Some(Authenticated {
                    user: unescaped(headers, USER)?,
                    auth_type: unescaped_text(headers, AUTH_TYPE)?,
                }),
            },
            auth: auth(headers)?,
        };
        if hop.script_name_len > hop.path.len() {
            return Err(HopError(SCRIPT_NAME_LEN));
        }
        remove_all(headers);
        Ok(hop)
    }
}

/// Writes a field of `NAME=escaped value` lines, one header line each, after an empty line
/// that marks the field present even with no line of its own.
fn write_lines<'v>(
    headers: &mut HeaderMap,
    field: &'static str,
    lines: impl Iterator<Item = (&'v str, &'v [u8])>,
) {
    let header = HeaderName::from_static(field);
    headers.insert(header.clone(), HeaderValue::from_static(""));
    for (name, value) in lines {
        let line = format!("{name}={}", escaped(value).to_str().unwrap_or(""));
        headers.append(header.clone(), text(&line));
    }
}

/// A `NAME=value` line of a field, its value unescaped.
type Line<'h> = (&'h str, Vec<u8>);

/// The lines of a field [`write_lines`] wrote; `None` when the field is absent.
fn read_lines<'h>(
    headers: &'h HeaderMap,
    field: &'static str,
) -> Result<Option<Vec<Line<'h>>>, HopError> {
    let mut lines = headers.get_all(field).iter().peekable();
    if lines.peek().is_none() {
        return Ok(None);
    }
    lines
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (name, value) = line
                .to_str()
                .ok()
                .and_then(|line| line.split_once('='))
                .ok_or(HopError(field))?;
            Ok((name, percent_encoding::percent_decode_str(value).collect()))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// The variables of [`TLS_VARIABLES`] headers, when there are some: only names mod_ssl
/// defines come back (the hop carries `&'static str` names).
fn tls_variables(headers: &HeaderMap) -> Result<Option<Vec<(&'static str, String)>>, HopError> {
    let Some(lines) = read_lines(headers, TLS_VARIABLES)? else {
        return Ok(None);
    };
    lines
        .into_iter()
        .map(|(name, value)| {
            let name = crate::tls::variable_name(name).ok_or(HopError(TLS_VARIABLES))?;
            let value = String::from_utf8(value).map_err(|_| HopError(TLS_VARIABLES))?;
            Ok((name, value))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// The field of [`Proxied`] a [`PROXIED`] line names.
fn proxied_field<'p>(proxied: &'p mut Proxied, name: &str) -> Option<&'p mut Option<HeaderValue>> {
    Some(match name {
        "client" => &mut proxied.client,
        "host" => &mut proxied.host,
        "server-name" => &mut proxied.server_name,
        "server-port" => &mut proxied.server_port,
        "script-name" => &mut proxied.script_name,
        _ => return None,
    })
}

/// Adds the [`PROXIED`] lines of `proxied`.
fn write_proxied(proxied: &Proxied, headers: &mut HeaderMap) {
    let fields = [
        ("client", &proxied.client),
        ("host", &proxied.host),
        ("server-name", &proxied.server_name),
        ("server-port", &proxied.server_port),
        ("script-name", &proxied.script_name),
    ];
    let values = fields
        .into_iter()
        .filter_map(|(field, value)| value.as_ref().map(|v| (field, v.as_bytes())));
    let scheme = proxied.scheme.map(|s| ("scheme", s.as_str().as_bytes()));
    write_lines(headers, PROXIED, values.chain(scheme));
}

/// The [`PROXIED`] lines' [`Proxied`], when there are some.
fn proxied(headers: &HeaderMap) -> Result<Option<Box<Proxied>>, HopError> {
    let Some(lines) = read_lines(headers, PROXIED)? else {
        return Ok(None);
    };
    let mut proxied = Proxied::default();
    for (name, value) in lines {
        if name == "scheme" {
            proxied.scheme = Some(match value.as_slice() {
                b"http" => UrlScheme::Http,
                b"https" => UrlScheme::Https,
                _ => return Err(HopError(PROXIED)),
            });
            continue;
        }
        let field = proxied_field(&mut proxied, name).ok_or(HopError(PROXIED))?;
        *field = Some(HeaderValue::from_bytes(&value).map_err(|_| HopError(PROXIED))?);
    }
    Ok(Some(Box::new(proxied)))
}

/// How an [`AuthQuestion`]'s kind is written in [`QUESTION`].
pub(crate) fn question_token(question: &AuthQuestion) -> &'static str {
    match question {
        AuthQuestion::CheckPassword { .. } => "check-password",
        AuthQuestion::RealmHash { .. } => "realm-hash",
        AuthQuestion::GroupsForUser { .. } => "groups-for-user",
        AuthQuestion::AllowAccess { .. } => "allow-access",
    }
}

/// Adds the fields of a question for a script, and moves the client's framing headers into
/// [`FRAMING`].
fn write_auth(auth: &AuthHop, headers: &mut HeaderMap) {
    let mut insert = |name: &'static str, value: HeaderValue| {
        headers.insert(HeaderName::from_static(name), value);
    };
    insert(
        QUESTION,
        HeaderValue::from_static(question_token(&auth.question)),
    );
    insert(SCRIPT, escaped(auth.script.as_os_str().as_bytes()));
    match &auth.question {
        AuthQuestion::CheckPassword { user, password } => {
            insert(QUESTION_USER, escaped(user));
            let mut password = escaped(password);
            password.set_sensitive(true);
            insert(QUESTION_PASSWORD, password);
        }
        AuthQuestion::RealmHash { user, realm } => {
            insert(QUESTION_USER, escaped(user));
            insert(QUESTION_REALM, escaped(realm.as_bytes()));
        }
        AuthQuestion::GroupsForUser { user } => insert(QUESTION_USER, escaped(user)),
        AuthQuestion::AllowAccess { host } => insert(QUESTION_HOST, escaped(host.as_bytes())),
    }
    let framing: Vec<(HeaderName, HeaderValue)> =
        [header::CONTENT_LENGTH, header::TRANSFER_ENCODING]
            .into_iter()
            .flat_map(|name| {
                let values: Vec<HeaderValue> = headers.get_all(&name).iter().cloned().collect();
                headers.remove(&name);
                values.into_iter().map(move |value| (name.clone(), value))
            })
            .collect();
    if !framing.is_empty() {
        let lines = framing.iter().map(|(n, v)| (n.as_str(), v.as_bytes()));
        write_lines(headers, FRAMING, lines);
    }
}

/// The question of [`write_auth`]'s fields, when there is one; the client's framing headers
/// are put back in place of any the hop's request had.
fn auth(headers: &mut HeaderMap) -> Result<Option<AuthHop>, HopError> {
    let question = match headers.get(QUESTION).map(HeaderValue::as_bytes) {
        None => return Ok(None),
        Some(b"check-password") => AuthQuestion::CheckPassword {
            user: unescaped(headers, QUESTION_USER)?,
            password: unescaped(headers, QUESTION_PASSWORD)?,
        },
        Some(b"realm-hash") => AuthQuestion::RealmHash {
            user: unescaped(headers, QUESTION_USER)?,
            realm: unescaped_text(headers, QUESTION_REALM)?,
        },
        Some(b"groups-for-user") => AuthQuestion::GroupsForUser {
            user: unescaped(headers, QUESTION_USER)?,
        },
        Some(b"allow-access") => AuthQuestion::AllowAccess {
            host: unescaped_text(headers, QUESTION_HOST)?,
        },
        Some(_) => return Err(HopError(QUESTION)),
    };
    let script = PathBuf::from(OsString::from_vec(unescaped(headers, SCRIPT)?.to_vec()));
    let framing = read_lines(headers, FRAMING)?
        .unwrap_or_default()
        .into_iter()
        .map(|(name, value)| {
            let name = [header::CONTENT_LENGTH, header::TRANSFER_ENCODING]
                .into_iter()
                .find(|known| known == name)
                .ok_or(HopError(FRAMING))?;
            let value = HeaderValue::from_bytes(&value).map_err(|_| HopError(FRAMING))?;
            Ok((name, value))
        })
        .collect::<Result<Vec<_>, _>>()?;
    headers.remove(header::CONTENT_LENGTH);
    headers.remove(header::TRANSFER_ENCODING);
    for (name, value) in framing {
        headers.append(name, value);
    }
    Ok(Some(AuthHop { script, question }))
}

/// Writes a script's answer into a response's headers, as [`ANSWER`] lines: `answer=KIND`
/// first, then the answer's values: `granted` (a `user=` line when the script named the
/// user), `denied`, `unknown-user`, `realm-hash` (one `hash=` line), `groups` (a `group=`
/// line per group), `access` (one `access=allow`, `deny` or `none` line), `failed`.
pub(crate) fn write_answer(answer: &AuthAnswer, headers: &mut HeaderMap) {
    let (kind, values): (&str, Vec<(&str, &[u8])>) = match answer {
        AuthAnswer::Granted { user } => {
            ("granted", user.iter().map(|u| ("user", &u[..])).collect())
        }
        AuthAnswer::Denied => ("denied", Vec::new()),
        AuthAnswer::UnknownUser => ("unknown-user", Vec::new()),
        AuthAnswer::RealmHash(hash) => ("realm-hash", vec![("hash", &hash[..])]),
        AuthAnswer::Groups(groups) => {
            ("groups", groups.iter().map(|g| ("group", &g[..])).collect())
        }
        AuthAnswer::Access(access) => {
            let access: &[u8] = match access {
                Some(true) => b"allow",
                Some(false) => b"deny",
                None => b"none",
            };
            ("access", vec![("access", access)])
        }
        AuthAnswer::Failed => ("failed", Vec::new()),
    };
    let lines = std::iter::once(("answer", kind.as_bytes())).chain(values);
    write_lines(headers, ANSWER, lines);
}

/// The answer [`write_answer`] wrote into a response's headers.
pub(crate) fn answer(headers: &HeaderMap) -> Result<AuthAnswer, HopError> {
    let malformed = || HopError(ANSWER);
    let lines = read_lines(headers, ANSWER)?.ok_or_else(malformed)?;
    let Some((("answer", kind), values)) = lines.split_first() else {
        return Err(malformed());
    };
    let bytes = |value: &Vec<u8>| Bytes::copy_from_slice(value);
    Ok(match (kind.as_slice(), values) {
        (b"granted", []) => AuthAnswer::Granted { user: None },
        (b"granted", [("user", user)]) => AuthAnswer::Granted {
            user: Some(bytes(user)),
        },
        (b"denied", []) => AuthAnswer::Denied,
        (b"unknown-user", []) => AuthAnswer::UnknownUser,
        (b"realm-hash", [("hash", hash)]) => AuthAnswer::RealmHash(bytes(hash)),
        (b"groups", groups) => AuthAnswer::Groups(
            groups
                .iter()
                .map(|(name, group)| (*name == "group").then(|| bytes(group)))
                .collect::<Option<_>>()
                .ok_or_else(malformed)?,
        ),
        (b"access", [("access", access)]) => AuthAnswer::Access(match access.as_slice() {
            b"allow" => Some(true),
            b"deny" => Some(false),
            b"none" => None,
            _ => return Err(malformed()),
        }),
        (b"failed", []) => AuthAnswer::Failed,
        _ => return Err(malformed()),
    })
}

fn text(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).expect("addresses and request ids are visible ASCII")
}

/// Any bytes as a header value: percent-encoded, all but unreserved characters and `/`.
fn escaped(value: &[u8]) -> HeaderValue {
    text(&percent_encoding::percent_encode(value, ESCAPED).to_string())
}

/// The bytes an [`escaped`] header holds.
fn unescaped(headers: &HeaderMap, name: &'static str) -> Result<Bytes, HopError> {
    let value = headers.get(name).ok_or(HopError(name))?;
    Ok(Bytes::from(
        percent_encoding::percent_decode(value.as_bytes()).collect::<Vec<u8>>(),
    ))
}

/// The text an [`escaped`] header holds.
fn unescaped_text(headers: &HeaderMap, name: &'static str) -> Result<String, HopError> {
    String::from_utf8(unescaped(headers, name)?.to_vec()).map_err(|_| HopError(name))
}

fn parsed<T: std::str::FromStr>(headers: &HeaderMap, name: &'static str) -> Result<T, HopError> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .ok_or(HopError(name))
}

/// Removes every header of the hop.
fn remove_all(headers: &mut HeaderMap) {
    // Headers are few and the prefix is rare: look before collecting anything.
    if !headers.keys().any(is_hop_header) {
        return;
    }
    let names: Vec<HeaderName> = headers
        .keys()
        .filter(|n| is_hop_header(n))
        .cloned()
        .collect();
    for name in names {
        headers.remove(name);
    }
}

fn is_hop_header(name: &HeaderName) -> bool {
    name.as_str().starts_with(PREFIX)
}

/// How an [`AppError`] is written in [`ERROR`].
pub(crate) fn error_token(error: AppError) -> &'static str {
    match error {
        AppError::Internal => "internal",
        AppError::QueueTimeout => "queue-timeout",
        AppError::Unavailable => "unavailable",
        AppError::BodyTooLarge => "body-too-large",
        AppError::BodyTimeout => "body-timeout",
        AppError::RequestTimeout => "request-timeout",
        AppError::MalformedBody => "malformed-body",
        AppError::IncompleteBody => "incomplete-body",
        AppError::Lost => "lost",
    }
}

/// The [`AppError`] an [`ERROR`] value names.
pub(crate) fn error_from_token(token: &[u8]) -> Option<AppError> {
    APP_ERRORS
        .into_iter()
        .find(|error| error_token(*error).as_bytes() == token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hop_reads_back_as_written_and_leaves_no_header_behind() {
        let hop = Hop {
            app: 3,
            script_name_len: 4,
            listener: 1,
            remote: "[::1]:5000".parse().unwrap(),
            local: "127.0.0.1:80".parse().unwrap(),
            request_id: "abc-1".to_owned(),
            received_at: UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456),
            body_limit: u64::MAX,
            version: Version::HTTP_10,
            path: Bytes::from_static(b"/a b/\xff/%2F"),
            redirect: None,
            tls: None,
            proxied: Some(Box::new(Proxied {
                client: Some(HeaderValue::from_static("2001:db8::7")),
                scheme: Some(UrlScheme::Https),
                host: Some(HeaderValue::from_bytes(b"caf\xe9.example:8443").unwrap()),
                server_name: None,
                server_port: Some(HeaderValue::from_static("8443")),
                script_name: Some(HeaderValue::from_static("/a b/%2F")),
            })),
            authenticated: Some(Authenticated {
                user: Bytes::from_static(b"zo\xeb:x y"),
                auth_type: "Basic".to_owned(),
            }),
            auth: None,
        };
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("example.org"));
        headers.insert(
            "oxwsgi-internal-remote",
            HeaderValue::from_static("6.6.6.6:1"),
        );
        headers.insert("oxwsgi-internal-forged", HeaderValue::from_static("x"));
        headers.insert(
            "oxwsgi-internal-proxied",
            HeaderValue::from_static("client=6.6.6.6"),
        );
        headers.insert(
            "oxwsgi-internal-redirect-status",
            HeaderValue::from_static("403"),
        );
        headers.insert("oxwsgi-internal-user", HeaderValue::from_static("forged"));
        hop.write(&mut headers);
        assert!(!headers.contains_key("oxwsgi-internal-forged"));
        assert!(!headers.contains_key("oxwsgi-internal-redirect-status"));
        assert_eq!(Hop::take(&mut headers), Ok(hop));
        assert_eq!(headers.len(), 1);
    }

    #[test]
    fn an_error_documents_redirect_reads_back_as_written() {
        let hop = Hop {
            app: 0,
            script_name_len: 5,
            listener: 0,
            remote: "127.0.0.1:5000".parse().unwrap(),
            local: "127.0.0.1:80".parse().unwrap(),
            request_id: "abc-2".to_owned(),
            received_at: UNIX_EPOCH,
            body_limit: 10,
            version: Version::HTTP_11,
            path: Bytes::from_static(b"/oops"),
            tls: Some(TlsDetails {
                client_verified: true,
                environment: Some(vec![
                    ("SSL_PROTOCOL", "TLSv1.3".to_owned()),
                    ("SSL_CLIENT_S_DN", "CN=Zoë,O=A\\, B=C".to_owned()),
                ]),
            }),
            redirect: Some(ErrorRedirect {
                status: StatusCode::FORBIDDEN,
                method: http::Method::from_bytes(b"PROPFIND").unwrap(),
                uri: http::Uri::from_static("/denied/caf%C3%A9?a=1&b=%20"),
                url: Bytes::from_static(b"/denied/caf\xc3\xa9"),
            }),
            proxied: None,
            authenticated: None,
            auth: None,
        };
        let mut headers = HeaderMap::new();
        headers.insert("oxwsgi-internal-user", HeaderValue::from_static("forged"));
        hop.write(&mut headers);
        assert_eq!(Hop::take(&mut headers), Ok(hop));
        assert!(headers.is_empty());
    }

    #[test]
    fn a_malformed_redirect_is_refused() {
        let mut hop = HeaderMap::new();
        Hop {
            app: 0,
            script_name_len: 0,
            listener: 0,
            remote: "127.0.0.1:5000".parse().unwrap(),
            local: "127.0.0.1:80".parse().unwrap(),
            request_id: "abc-3".to_owned(),
            received_at: UNIX_EPOCH,
            body_limit: 10,
            version: Version::HTTP_11,
            path: Bytes::from_static(b"/oops"),
            redirect: None,
            tls: None,
            proxied: None,
            authenticated: None,
            auth: None,
        }
        .write(&mut hop);
        let mut headers = hop.clone();
        headers.insert(REDIRECT_STATUS, HeaderValue::from_static("403"));
        assert_eq!(Hop::take(&mut headers), Err(HopError(REDIRECT_METHOD)));
        let mut headers = hop;
        for (name, value) in [
            (REDIRECT_STATUS, "4033"),
            (REDIRECT_METHOD, "GET"),
            (REDIRECT_URI, "/x"),
            (REDIRECT_URL, "/x"),
        ] {
            headers.insert(name, HeaderValue::from_static(value));
        }
        assert_eq!(Hop::take(&mut headers), Err(HopError(REDIRECT_STATUS)));
    }

    #[test]
    fn a_malformed_proxied_field_is_refused() {
        for line in ["client", "scheme=ftp", "forged=1", "host=%0A"] {
            let mut headers = HeaderMap::new();
            Hop {
                app: 0,
                script_name_len: 0,
                listener: 0,
                remote: "127.0.0.1:5000".parse().unwrap(),
                local: "127.0.0.1:80".parse().unwrap(),
                request_id: "abc-4".to_owned(),
                received_at: UNIX_EPOCH,
                body_limit: 10,
                version: Version::HTTP_11,
                path: Bytes::from_static(b"/"),
                redirect: None,
                tls: None,
                proxied: Some(Box::default()),
                authenticated: None,
                auth: None,
            }
            .write(&mut headers);
            headers.append(PROXIED, HeaderValue::from_static(line));
            assert_eq!(Hop::take(&mut headers), Err(HopError(PROXIED)), "{line}");
        }
    }

    #[test]
    fn a_request_without_the_hop_is_refused() {
        let mut headers = HeaderMap::new();
        headers.insert("oxwsgi-internal-app", HeaderValue::from_static("x"));
        assert_eq!(
            Hop::take(&mut headers),
            Err(HopError("oxwsgi-internal-app"))
        );
    }

    /// A plain hop, to carry a question.
    fn plain(auth: Option<AuthHop>) -> Hop {
        Hop {
            app: 2,
            script_name_len: 2,
            listener: 0,
            remote: "127.0.0.1:5000".parse().unwrap(),
            local: "127.0.0.1:80".parse().unwrap(),
            request_id: "abc-5".to_owned(),
            received_at: UNIX_EPOCH,
            body_limit: 10,
            version: Version::HTTP_11,
            path: Bytes::from_static(b"/a/b"),
            redirect: None,
            tls: None,
            proxied: None,
            authenticated: None,
            auth,
        }
    }

    fn questions() -> Vec<AuthQuestion> {
        vec![
            AuthQuestion::CheckPassword {
                user: Bytes::from_static(b"zo\xeb:x y"),
                password: Bytes::from_static(b"p%41ss:\xff\r\n"),
            },
            AuthQuestion::CheckPassword {
                user: Bytes::new(),
                password: Bytes::new(),
            },
            AuthQuestion::RealmHash {
                user: Bytes::from_static(b"zo\xeb"),
                realm: "Zo\u{eb}'s \"realm\"".to_owned(),
            },
            AuthQuestion::GroupsForUser {
                user: Bytes::from_static(b"a/b=c"),
            },
            AuthQuestion::AllowAccess {
                host: "2001:db8::1".to_owned(),
            },
        ]
    }

    #[test]
    fn every_question_reads_back_as_written_with_the_clients_framing_headers() {
        for question in questions() {
            let hop = plain(Some(AuthHop {
                script: PathBuf::from(OsString::from_vec(b"/srv/auth \xff%/check.wsgi".to_vec())),
                question,
            }));
            let mut headers = HeaderMap::new();
            headers.insert("host", HeaderValue::from_static("example.org"));
            headers.insert("content-length", HeaderValue::from_static("12"));
            headers.append("transfer-encoding", HeaderValue::from_static("gzip"));
            headers.append("transfer-encoding", HeaderValue::from_static("chunked"));
            headers.insert(QUESTION, HeaderValue::from_static("forged"));
            headers.insert(ANSWER, HeaderValue::from_static("answer=granted"));
            let sent = headers.clone();
            hop.write(&mut headers);
            // The hop's request frames no body of its own.
            assert!(!headers.contains_key("content-length"));
            assert!(!headers.contains_key("transfer-encoding"));
            // What the hop's client library adds for an empty body is not the client's.
            headers.insert("content-length", HeaderValue::from_static("0"));
            assert_eq!(Hop::take(&mut headers), Ok(hop.clone()));
            let mut expected = sent;
            expected.remove(QUESTION);
            expected.remove(ANSWER);
            assert_eq!(headers, expected, "{hop:?}");
        }
    }

    #[test]
    fn a_question_without_framing_headers_has_none_after_the_hop() {
        let hop = plain(Some(AuthHop {
            script: PathBuf::from("/srv/auth.wsgi"),
            question: AuthQuestion::GroupsForUser {
                user: Bytes::from_static(b"zoe"),
            },
        }));
        let mut headers = HeaderMap::new();
        hop.write(&mut headers);
        assert!(!headers.contains_key(FRAMING));
        headers.insert("content-length", HeaderValue::from_static("0"));
        assert_eq!(Hop::take(&mut headers), Ok(hop));
        assert!(headers.is_empty());
    }

    #[test]
    fn a_forwarded_request_keeps_its_framing_headers() {
        let hop = plain(None);
        let mut headers = HeaderMap::new();
        headers.insert("content-length", HeaderValue::from_static("12"));
        // A client's forged question goes with the other hop headers.
        headers.insert(QUESTION, HeaderValue::from_static("check-password"));
        headers.insert(FRAMING, HeaderValue::from_static("content-length=99"));
        hop.write(&mut headers);
        assert!(!headers.contains_key(QUESTION));
        // Framing lines count only on a question.
        headers.insert(FRAMING, HeaderValue::from_static("content-length=99"));
        assert_eq!(Hop::take(&mut headers), Ok(hop));
        assert_eq!(headers.len(), 1);
        assert_eq!(headers["content-length"], "12");
    }

    #[test]
    fn the_password_is_marked_sensitive_and_never_shown() {
        let hop = plain(Some(AuthHop {
            script: PathBuf::from("/srv/auth.wsgi"),
            question: AuthQuestion::CheckPassword {
                user: Bytes::from_static(b"zoe"),
                password: Bytes::from_static(b"hunter2"),
            },
        }));
        let mut headers = HeaderMap::new();
        hop.write(&mut headers);
        assert!(headers[QUESTION_PASSWORD].is_sensitive());
        assert!(!format!("{headers:?}").contains("hunter2"));
        let shown = format!("{hop:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("<7 bytes>") && shown.contains("zoe"),
            "{shown}"
        );
    }

    #[test]
    fn a_malformed_question_is_refused() {
        let hop = plain(Some(AuthHop {
            script: PathBuf::from("/srv/auth.wsgi"),
            question: AuthQuestion::RealmHash {
                user: Bytes::from_static(b"zoe"),
                realm: "r".to_owned(),
            },
        }));
        let mut written = HeaderMap::new();
        hop.write(&mut written);
        let cases: [(&str, Option<&'static str>, &str); 6] = [
            (QUESTION, Some("ask-anything"), QUESTION),
            (QUESTION_USER, None, QUESTION_USER),
            (QUESTION_REALM, Some("%FF"), QUESTION_REALM),
            (SCRIPT, None, SCRIPT),
            (FRAMING, Some("host=evil"), FRAMING),
            (FRAMING, Some("content-length=%0A"), FRAMING),
        ];
        for (name, value, refused) in cases {
            let mut headers = written.clone();
            match value {
                Some(value) => headers.insert(name, HeaderValue::from_static(value)),
                None => headers.remove(name),
            };
            assert_eq!(Hop::take(&mut headers), Err(HopError(refused)), "{name}");
        }
        let mut headers = written;
        headers.insert(QUESTION, HeaderValue::from_static("check-password"));
        assert_eq!(Hop::take(&mut headers), Err(HopError(QUESTION_PASSWORD)));
    }

    #[test]
    fn every_answer_reads_back_as_written() {
        for answer in [
            AuthAnswer::Granted { user: None },
            AuthAnswer::Granted {
                user: Some(Bytes::new()),
            },
            AuthAnswer::Granted {
                user: Some(Bytes::from_static(b"zo\xeb=x\n")),
            },
            AuthAnswer::Denied,
            AuthAnswer::UnknownUser,
            AuthAnswer::RealmHash(Bytes::from_static(b"5f4dcc3b5aa765d61d8327deb882cf99")),
            AuthAnswer::Groups(Vec::new()),
            AuthAnswer::Groups(vec![
                Bytes::from_static(b"admins"),
                Bytes::new(),
                Bytes::from_static(b"caf\xe9 & =%"),
            ]),
            AuthAnswer::Access(Some(true)),
            AuthAnswer::Access(Some(false)),
            AuthAnswer::Access(None),
            AuthAnswer::Failed,
        ] {
            let mut headers = HeaderMap::new();
            headers.insert("content-length", HeaderValue::from_static("0"));
            write_answer(&answer, &mut headers);
            assert_eq!(super::answer(&headers), Ok(answer));
        }
    }

    #[test]
    fn a_malformed_answer_is_refused() {
        let cases: &[&[&str]] = &[
            &[],
            &[""],
            &["", "granted="],
            &["", "user=x", "answer=granted"],
            &["", "answer=yes"],
            &["", "answer=granted", "user=a", "user=b"],
            &["", "answer=denied", "user=a"],
            &["", "answer=realm-hash"],
            &["", "answer=realm-hash", "hash=a", "hash=b"],
            &["", "answer=groups", "group=a", "user=b"],
            &["", "answer=access"],
            &["", "answer=access", "access=maybe"],
            &["", "answer=failed", "answer=failed"],
            &["", "answer"],
        ];
        for lines in cases {
            let mut headers = HeaderMap::new();
            for line in *lines {
                headers.append(ANSWER, HeaderValue::from_static(line));
            }
            assert_eq!(answer(&headers), Err(HopError(ANSWER)), "{lines:?}");
        }
    }

    #[test]
    fn every_error_has_its_token() {
        for token in [
            "internal",
            "queue-timeout",
            "unavailable",
            "body-too-large",
            "body-timeout",
            "request-timeout",
            "malformed-body",
            "incomplete-body",
            "lost",
        ] {
            let error = error_from_token(token.as_bytes()).expect(token);
            assert_eq!(error_token(error), token);
        }
        assert_eq!(error_from_token(b"other"), None);
    }
}

#[cfg(test)]
#[path = "fuzz/hop.rs"]
mod fuzz;

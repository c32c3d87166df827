//! What a script's function returned, read as mod_wsgi's `src/server/wsgi_auth.c` reads it,
//! with its error messages word for word: operators search the log for them, and a script
//! written for mod_wsgi must behave the same here.

use std::path::Path;

use bytes::Bytes;
use oxwsgi_exchange::{AuthAnswer, AuthQuestion};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyString};

use crate::start_response::latin1_bytes;

/// Why a call has no answer; either way the answer is [`failure`].
pub(super) enum Problem {
    /// The result is of the wrong kind: this is logged.
    Message(String),
    /// The function (or reading its result) raised: this is logged with its traceback.
    Raised(PyErr),
}

/// The function a question calls.
pub(super) fn function_name(question: &AuthQuestion) -> &'static str {
    match question {
        AuthQuestion::CheckPassword { .. } => "check_password",
        AuthQuestion::RealmHash { .. } => "get_realm_hash",
        AuthQuestion::GroupsForUser { .. } => "groups_for_user",
        AuthQuestion::AllowAccess { .. } => "allow_access",
    }
}

/// The answer when the script gave none: failed, except for `allow_access`, which mod_wsgi
/// then takes as "not allowed" (a 403, not a 500).
pub(super) fn failure(question: &AuthQuestion) -> AuthAnswer {
    match question {
        AuthQuestion::AllowAccess { .. } => AuthAnswer::Access(Some(false)),
        _ => AuthAnswer::Failed,
    }
}

/// mod_wsgi's message for a script without the question's function.
pub(super) fn missing_function(question: &AuthQuestion, script: &Path) -> String {
    let script = script.display();
    match question {
        AuthQuestion::CheckPassword { .. } => format!(
            "Target WSGI user authentication script '{script}' does not provide 'Basic' auth \
             provider."
        ),
        AuthQuestion::RealmHash { .. } => format!(
            "Target WSGI user authentication script '{script}' does not provide 'Digest' auth \
             provider."
        ),
        AuthQuestion::GroupsForUser { .. } => format!(
            "Target WSGI group authentication script '{script}' does not provide \
             'groups_for_user' callable."
        ),
        AuthQuestion::AllowAccess { .. } => format!(
            "Target WSGI host access script '{script}' does not provide 'allow_access' \
             callable."
        ),
    }
}

/// Reads what the question's function returned.
pub(super) fn interpret(
    question: &AuthQuestion,
    result: &Bound<'_, PyAny>,
    script: &Path,
) -> Result<AuthAnswer, Problem> {
    match question {
        AuthQuestion::CheckPassword { .. } => check_password(result),
        AuthQuestion::RealmHash { .. } => realm_hash(result),
        AuthQuestion::GroupsForUser { .. } => groups(result, script),
        AuthQuestion::AllowAccess { .. } => access(result, script),
    }
}

/// `None`: no such user; `True`/`False`: the password is right or wrong; a string: right, and
/// the request is authenticated as that name (its UTF-8 bytes, as mod_wsgi sets `r->user`).
fn check_password(result: &Bound<'_, PyAny>) -> Result<AuthAnswer, Problem> {
    if result.is_none() {
        return Ok(AuthAnswer::UnknownUser);
    }
    if let Ok(granted) = result.cast::<PyBool>() {
        return Ok(if granted.is_true() {
            AuthAnswer::Granted { user: None }
        } else {
            AuthAnswer::Denied
        });
    }
    if let Ok(name) = result.cast::<PyString>() {
        // A lone surrogate cannot be UTF-8: the UnicodeEncodeError is logged, as mod_wsgi's
        // `PyUnicode_AsUTF8String` leaves it.
        let name = name.to_str().map_err(Problem::Raised)?;
        if name.is_empty() {
            return Err(Problem::Message(
                "Basic auth provider returned empty user name string.".to_owned(),
            ));
        }
        return Ok(AuthAnswer::Granted {
            user: Some(Bytes::copy_from_slice(name.as_bytes())),
        });
    }
    Err(Problem::Message(
        "Basic auth provider must return True, False, None or user name as string.".to_owned(),
    ))
}

/// `None`: no such user; bytes, or a string of Latin-1 characters: the hash.
fn realm_hash(result: &Bound<'_, PyAny>) -> Result<AuthAnswer, Problem> {
    if result.is_none() {
        return Ok(AuthAnswer::UnknownUser);
    }
    let hash = if let Ok(bytes) = result.cast::<PyBytes>() {
        Bytes::copy_from_slice(bytes.as_bytes())
    } else if let Ok(text) = result.cast::<PyString>() {
        match text.to_cow().ok().as_deref().and_then(latin1_bytes) {
            Some(bytes) => Bytes::copy_from_slice(&bytes),
            // mod_wsgi raises this TypeError and logs it as the script's exception.
            None => {
                return Err(Problem::Raised(PyTypeError::new_err(
                    "Digest auth provider must return None or string object, value containing \
                     non 'latin-1' characters found",
                )));
            }
        }
    } else {
        return Err(Problem::Message(
            "Digest auth provider must return None or string object.".to_owned(),
        ));
    };
    if hash.is_empty() {
        return Err(Problem::Message(
            "Digest auth provider returned empty realm hash.".to_owned(),
        ));
    }
    Ok(AuthAnswer::RealmHash(hash))
}

/// An iterable of group names, each bytes or a string of Latin-1 characters.
///
/// An exception while iterating fails the call; mod_wsgi logs it but keeps the groups read
/// until then, which would decide on a partial list.
fn groups(result: &Bound<'_, PyAny>, script: &Path) -> Result<AuthAnswer, Problem> {
    let script = script.display();
    let Ok(items) = result.try_iter() else {
        return Err(Problem::Message(format!(
            "Result returned from 'groups_for_user' in '{script}' is not iterable; expected an \
             iterable sequence of byte strings."
        )));
    };
    let mut groups = Vec::new();
    for item in items {
        let item = item.map_err(Problem::Raised)?;
        if let Ok(text) = item.cast::<PyString>() {
            match text.to_cow().ok().as_deref().and_then(latin1_bytes) {
                Some(name) => groups.push(Bytes::copy_from_slice(&name)),
                None => {
                    return Err(Problem::Message(format!(
                        "Item returned from 'groups_for_user' in '{script}' is a string \
                         containing characters that cannot be encoded as latin-1; expected a \
                         byte string."
                    )));
                }
            }
        } else if let Ok(bytes) = item.cast::<PyBytes>() {
            groups.push(Bytes::copy_from_slice(bytes.as_bytes()));
        } else {
            return Err(Problem::Message(format!(
                "Item returned from 'groups_for_user' in '{script}' is not a byte string."
            )));
        }
    }
    Ok(AuthAnswer::Groups(groups))
}

/// `True` or `False`, or `None` for no opinion.
fn access(result: &Bound<'_, PyAny>, script: &Path) -> Result<AuthAnswer, Problem> {
    if result.is_none() {
        return Ok(AuthAnswer::Access(None));
    }
    match result.cast::<PyBool>() {
        Ok(allowed) => Ok(AuthAnswer::Access(Some(allowed.is_true()))),
        Err(_) => Err(Problem::Message(format!(
            "Result returned from 'allow_access' in '{}' must be a boolean or None.",
            script.display()
        ))),
    }
}

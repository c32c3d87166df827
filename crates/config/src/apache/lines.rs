//! The lines of a configuration that read into one value each — `SetEnv` and its kin,
//! `Header`/`RequestHeader`, `Redirect` and its kin — kept apart from the translation that
//! places those values in the model.

use crate::headers::HeaderAction;
use crate::model::MountPoint;
use crate::redirect::{Redirect, RedirectWhen};

use super::Directive;

/// One `SetEnv NAME VALUE` (`Some`), or `UnsetEnv NAME` (`None`); `PassEnv` is a `SetEnv`
/// of the value the variable has now.
#[derive(Debug, Clone)]
pub(super) struct EnvChange(pub(super) String, pub(super) Option<String>);

pub(super) fn apply_environ(environ: &mut Vec<(String, String)>, changes: &[EnvChange]) {
    for EnvChange(name, value) in changes {
        environ.retain(|(n, _)| n != name);
        if let Some(value) = value {
            environ.push((name.clone(), value.clone()));
        }
    }
}

/// A `Header` or `RequestHeader` line, read.
#[derive(Debug, Clone)]
pub(super) struct ParsedEdit {
    pub(super) always: bool,
    pub(super) action: HeaderAction,
    pub(super) name: String,
    pub(super) value: String,
}

/// Reads `Header [always|onsuccess] ACTION NAME [VALUE]` (or `RequestHeader ACTION NAME
/// [VALUE]`). Values with format specifiers (`%t`, `%{VAR}e`, …), conditions (`env=`, `expr=`)
/// and the `edit`/`echo`/`note` actions are not supported yet.
pub(super) fn parse_header_edit(d: &Directive) -> Result<ParsedEdit, (bool, String)> {
    let mut args: Vec<&str> = d.args.iter().map(String::as_str).collect();
    let mut always = false;
    if !d.is("RequestHeader") {
        match args.first().map(|a| a.to_ascii_lowercase()) {
            Some(c) if c == "always" => {
                always = true;
                args.remove(0);
            }
            Some(c) if c == "onsuccess" => {
                args.remove(0);
            }
            _ => {}
        }
    }
    let Some((action, rest)) = args.split_first() else {
        return Err((
            false,
            format!("{} needs an action and a header name", d.name),
        ));
    };
    let action = match action.to_ascii_lowercase().as_str() {
        "set" => HeaderAction::Set,
        "setifempty" => HeaderAction::SetIfEmpty,
        "append" => HeaderAction::Append,
        "merge" => HeaderAction::Merge,
        "add" => HeaderAction::Add,
        "unset" => HeaderAction::Unset,
        other => return Err((true, format!("{} {other}", d.name))),
    };
    let (name, value) = match (action, rest) {
        (HeaderAction::Unset, [name]) => (*name, ""),
        (HeaderAction::Unset, _) => {
            return Err((false, format!("{} unset takes a header name only", d.name)));
        }
        (_, [name, value]) => (*name, *value),
        (_, [_, _, condition, ..]) => {
            return Err((true, format!("{} with a condition ({condition})", d.name)));
        }
        _ => return Err((false, format!("{} needs a header name and a value", d.name))),
    };
    if value.contains('%') {
        return Err((
            true,
            format!("{} with a format specifier in its value ({value})", d.name),
        ));
    }
    if http::HeaderName::from_bytes(name.as_bytes()).is_err()
        || http::HeaderValue::from_str(value).is_err()
    {
        return Err((
            false,
            format!("{}: '{name}: {value}' is not a valid header", d.name),
        ));
    }
    Ok(ParsedEdit {
        always,
        action,
        name: name.to_ascii_lowercase(),
        value: value.to_owned(),
    })
}

/// Reads a `Redirect [status] URL-path [URL]`, `RedirectMatch [status] regex [URL]`,
/// `RedirectPermanent URL-path URL` or `RedirectTemp URL-path URL` line.
pub(super) fn parse_redirect(d: &Directive) -> Result<Redirect, String> {
    let mut args: Vec<&str> = d.args.iter().map(String::as_str).collect();
    let fixed = if d.is("RedirectPermanent") {
        Some(301)
    } else if d.is("RedirectTemp") {
        Some(302)
    } else {
        None
    };
    let status = match fixed {
        Some(status) => status,
        None => {
            let named = match args.first().map(|a| a.to_ascii_lowercase()) {
                Some(a) if a == "permanent" => Some(301),
                Some(a) if a == "temp" => Some(302),
                Some(a) if a == "seeother" => Some(303),
                Some(a) if a == "gone" => Some(410),
                Some(a) if a.len() == 3 && a.bytes().all(|b| b.is_ascii_digit()) => a.parse().ok(),
                _ => None,
            };
            match named {
                Some(status) => {
                    args.remove(0);
                    status
                }
                None => 302,
            }
        }
    };
    let (from, target) = match (status, args.as_slice()) {
        (300..=399, [from, target]) => (*from, Some((*target).to_owned())),
        (300..=399, _) => {
            return Err(format!(
                "{} with status {status} needs a URL path and a URL",
                d.name
            ));
        }
        (_, [from]) => (*from, None),
        _ => {
            return Err(format!(
                "{} with status {status} takes a URL path and no URL",
                d.name
            ));
        }
    };
    if let Some(target) = &target {
        if !target.starts_with('/') && !target.contains("://") {
            return Err(format!(
                "{}: the target '{target}' must be a URL or start with /",
                d.name
            ));
        }
    }
    let when = if d.is("RedirectMatch") {
        regex::Regex::new(from)
            .map_err(|err| format!("RedirectMatch: bad regular expression: {err}"))?;
        RedirectWhen::Pattern(from.to_owned())
    } else {
        // `Redirect /old/ …` takes what is below /old/, not /old itself (as `Alias /old/`).
        let prefix = if from.len() > 1 && from.ends_with('/') {
            MountPoint::below_only(from)
        } else {
            MountPoint::parse(from)
        };
        RedirectWhen::Prefix(
            prefix.ok_or_else(|| format!("{}: the URL path '{from}' must start with /", d.name))?,
        )
    };
    Ok(Redirect {
        when,
        status,
        target,
        host: None,
    })
}

/// The changes one `SetEnv`, `UnsetEnv` or `PassEnv` line makes.
pub(super) fn env_changes(d: &Directive) -> Vec<EnvChange> {
    if d.is("SetEnv") {
        match d.args.as_slice() {
            [name] => vec![EnvChange(name.clone(), Some(String::new()))],
            [name, value, ..] => vec![EnvChange(name.clone(), Some(value.clone()))],
            [] => Vec::new(),
        }
    } else if d.is("UnsetEnv") {
        d.args
            .iter()
            .map(|name| EnvChange(name.clone(), None))
            .collect()
    } else {
        // PassEnv: the value the variable has in oxwsgi's environment now.
        d.args
            .iter()
            .map(|name| EnvChange(name.clone(), std::env::var(name).ok()))
            .collect()
    }
}

//! Reading configuration files the way httpd does: line by line, carrying out as it goes the
//! directives that decide what the rest means.
//!
//! * `Define NAME [VALUE]` and `UnDefine NAME`; `${NAME}` in a line is replaced before the line
//!   is read, from the `Define`s so far, then the environment. Debian runs httpd with the
//!   variables of the `envvars` script next to `apache2.conf`, so its plain assignments are read
//!   too. An undefined variable is an error (httpd only warns, and keeps `${NAME}` as text,
//!   which then fails somewhere less clear).
//! * `Include` and `IncludeOptional`: a file, a directory (every file in it, in name order) or
//!   a wildcard pattern; relative paths are taken from `ServerRoot`. `Include` of something
//!   that matches nothing is an error; `IncludeOptional` skips it.
//! * `<IfModule>` (true for the modules oxwsgi implements, and for those a `LoadModule` names,
//!   so that a site's use of a module oxwsgi lacks is seen and refused rather than skipped),
//!   `<IfDefine>`, `<IfVersion>` (against [`APACHE_VERSION`]), `<IfFile>`: their contents are
//!   kept or skipped. A skipped section is not read at all, as in httpd (its variables are not
//!   expanded).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::syntax::{self, Line, SectionLine, SectionLineError};
use super::{ApacheConfig, ApacheError, Directive, Node, Origin, Section};

/// The httpd version `<IfVersion>` compares with: the 2.4 line oxwsgi follows.
pub const APACHE_VERSION: (u32, u32, u32) = (2, 4, 62);

/// The modules whose directives oxwsgi implements, or that are part of httpd's core, by the
/// short name `<IfModule>` and `LoadModule` use (`mod_alias.c` and `alias_module` are both
/// `alias`).
const IMPLEMENTED_MODULES: &[&str] = &[
    "core",
    "http",
    "so",
    "wsgi",
    "alias",
    "mime",
    "dir",
    "autoindex",
    "authz_core",
    "authz_host",
    "authz_user",
    "authz_groupfile",
    "authn_core",
    "authn_file",
    "auth_basic",
    "auth_digest",
    "access_compat",
    "env",
    "log_config",
    "headers",
    "reqtimeout",
    "version",
    "unixd",
    "setenvif",
    "ssl",
];

/// Whether oxwsgi implements the module (by any of its names: `mod_wsgi.c`, `wsgi_module`).
pub fn is_implemented_module(name: &str) -> bool {
    IMPLEMENTED_MODULES.contains(&module_key(name).as_str())
}

/// A module's short name: `mod_wsgi.c`, `mod_wsgi`, `wsgi_module` → `wsgi`.
fn module_key(name: &str) -> String {
    let name = name.trim().to_ascii_lowercase();
    let name = name.strip_suffix(".c").unwrap_or(&name);
    let name = name.strip_suffix("_module").unwrap_or(name);
    let name = name.strip_prefix("mod_").unwrap_or(name);
    name.to_owned()
}

/// How deep `Include`s may nest.
const INCLUDE_DEPTH: usize = 64;

/// What reading starts from besides the files.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Names defined before the first line (`-D NAME` of httpd), with their values.
    pub defines: Vec<(String, String)>,
    /// The environment `${NAME}` falls back to; `None`: the process's.
    pub environment: Option<BTreeMap<String, String>>,
}

/// The state of one read.
pub(crate) struct Reader {
    defines: BTreeMap<String, String>,
    environment: BTreeMap<String, String>,
    loaded: BTreeSet<String>,
    server_root: PathBuf,
    files: Vec<PathBuf>,
    depth: usize,
}

impl Reader {
    pub(crate) fn new(first_file: Option<&Path>, options: &ReadOptions) -> Reader {
        let directory = first_file
            .and_then(Path::parent)
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let mut environment = options
            .environment
            .clone()
            .unwrap_or_else(|| std::env::vars().collect());
        // Debian's apache2ctl sources `envvars` before starting httpd: its assignments win.
        if let Ok(text) = std::fs::read_to_string(directory.join("envvars")) {
            let assigned = envvars_assignments(&text, &environment);
            environment.extend(assigned);
        }
        Reader {
            defines: options.defines.iter().cloned().collect(),
            environment,
            loaded: IMPLEMENTED_MODULES
                .iter()
                .map(|m| (*m).to_owned())
                .collect(),
            server_root: directory,
            files: Vec::new(),
            depth: 0,
        }
    }

    pub(crate) fn read_all(mut self, files: &[PathBuf]) -> Result<ApacheConfig, ApacheError> {
        let mut nodes = Vec::new();
        for file in files {
            nodes.extend(self.read_file(file, None)?);
        }
        Ok(self.finish(nodes))
    }

    pub(crate) fn read_text(
        mut self,
        path: &Path,
        text: &str,
    ) -> Result<ApacheConfig, ApacheError> {
        self.files.push(path.to_path_buf());
        let nodes = self.read_lines(path, text)?;
        Ok(self.finish(nodes))
    }

    fn finish(self, nodes: Vec<Node>) -> ApacheConfig {
        ApacheConfig {
            nodes,
            server_root: self.server_root,
            files: self.files,
        }
    }

    fn read_file(
        &mut self,
        path: &Path,
        included_at: Option<&Origin>,
    ) -> Result<Vec<Node>, ApacheError> {
        let text = std::fs::read(path)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .map_err(|source| ApacheError::Unreadable {
                path: path.to_path_buf(),
                included_at: included_at.cloned(),
                source,
            })?;
        self.files.push(path.to_path_buf());
        self.read_lines(path, &text)
    }

    fn read_lines(&mut self, path: &Path, text: &str) -> Result<Vec<Node>, ApacheError> {
        let file = Arc::new(path.to_path_buf());
        let lines = syntax::logical_lines(text);
        let mut cursor = Cursor {
            file,
            lines: lines.into_iter(),
        };
        self.read_block(&mut cursor, None)
    }

    /// Reads nodes up to the end of the file (`open` is `None`) or to the line that closes
    /// the section `open`.
    fn read_block(
        &mut self,
        cursor: &mut Cursor,
        open: Option<(&str, &Origin)>,
    ) -> Result<Vec<Node>, ApacheError> {
        let mut nodes = Vec::new();
        loop {
            let Some((line, origin)) = cursor.next() else {
                return match open {
                    Some((name, at)) => Err(ApacheError::syntax(
                        at,
                        format!("<{name}> was not closed: add </{name}> at the end of the section"),
                    )),
                    None => Ok(nodes),
                };
            };
            let text = self.expand(&line.text, &origin)?;
            if text.starts_with('<') {
                match syntax::section_line(&text) {
                    Ok(SectionLine::Close { name }) => {
                        return match open {
                            Some((open_name, _)) if open_name.eq_ignore_ascii_case(&name) => {
                                Ok(nodes)
                            }
                            Some((open_name, _)) => Err(ApacheError::syntax(
                                &origin,
                                format!("expected </{open_name}> but saw </{name}>"),
                            )),
                            None => Err(ApacheError::syntax(
                                &origin,
                                format!("</{name}> without matching <{name}> section"),
                            )),
                        };
                    }
                    Ok(SectionLine::Open { name, args }) => {
                        self.read_section(cursor, name, args, origin, &mut nodes)?;
                    }
                    Err(SectionLineError::MissingClosingBracket { name }) => {
                        return Err(ApacheError::syntax(
                            &origin,
                            format!("<{name}> directive missing closing '>'"),
                        ));
                    }
                    Err(SectionLineError::NoName) => {
                        return Err(ApacheError::syntax(&origin, "a section without a name"));
                    }
                }
                continue;
            }
            let mut words = syntax::words(&text).into_iter();
            let name = words.next().unwrap_or_default();
            if name.is_empty() {
                return Err(ApacheError::syntax(
                    &origin,
                    "a directive with an empty name",
                ));
            }
            let directive = Directive {
                name,
                args: words.collect(),
                origin,
            };
            self.carry_out(directive, &mut nodes)?;
        }
    }

    /// A section: a read-time condition decides whether its contents are read (into the
    /// enclosing block); any other becomes a node of its own.
    fn read_section(
        &mut self,
        cursor: &mut Cursor,
        name: String,
        args: Vec<String>,
        origin: Origin,
        nodes: &mut Vec<Node>,
    ) -> Result<(), ApacheError> {
        let condition = match name.to_ascii_lowercase().as_str() {
            "ifmodule" => Some(self.if_module(&args, &origin)?),
            "ifdefine" => Some(self.if_define(&args, &origin)?),
            "ifversion" => Some(if_version(&args, &origin)?),
            "iffile" => Some(self.if_file(&args, &origin)?),
            _ => None,
        };
        match condition {
            Some(true) => {
                let inner = self.read_block(cursor, Some((&name, &origin)))?;
                nodes.extend(inner);
            }
            Some(false) => skip_section(cursor, &name, &origin)?,
            None => {
                let children = self.read_block(cursor, Some((&name, &origin)))?;
                nodes.push(Node::Section(Section {
                    name,
                    args,
                    children,
                    origin,
                }));
            }
        }
        Ok(())
    }

    /// The directives httpd carries out while reading; any other is kept as a node.
    fn carry_out(
        &mut self,
        directive: Directive,
        nodes: &mut Vec<Node>,
    ) -> Result<(), ApacheError> {
        let origin = directive.origin.clone();
        match directive.name.to_ascii_lowercase().as_str() {
            "define" => match directive.args.as_slice() {
                [name] => {
                    self.defines.insert(name.clone(), String::new());
                }
                [name, value] => {
                    self.defines.insert(name.clone(), value.clone());
                }
                _ => {
                    return Err(ApacheError::syntax(
                        &origin,
                        "Define takes one or two arguments: a name, and optionally its value",
                    ));
                }
            },
            "undefine" => match directive.args.as_slice() {
                [name] => {
                    self.defines.remove(name);
                }
                _ => return Err(ApacheError::syntax(&origin, "UnDefine takes one argument")),
            },
            name @ ("include" | "includeoptional") => {
                let optional = name == "includeoptional";
                let [pattern] = directive.args.as_slice() else {
                    return Err(ApacheError::syntax(
                        &origin,
                        format!(
                            "{} takes one argument, a file, directory or wildcard",
                            directive.name
                        ),
                    ));
                };
                for file in self.include_targets(pattern, optional, &origin)? {
                    if self.depth >= INCLUDE_DEPTH {
                        return Err(ApacheError::IncludeLoop {
                            origin,
                            limit: INCLUDE_DEPTH,
                        });
                    }
                    self.depth += 1;
                    let included = self.read_file(&file, Some(&origin));
                    self.depth -= 1;
                    nodes.extend(included?);
                }
            }
            "serverroot" => {
                let [root] = directive.args.as_slice() else {
                    return Err(ApacheError::syntax(
                        &origin,
                        "ServerRoot takes one argument",
                    ));
                };
                self.server_root = PathBuf::from(root);
                nodes.push(Node::Directive(directive));
            }
            "loadmodule" => {
                if let Some(module) = directive.args.first() {
                    self.loaded.insert(module_key(module));
                }
                nodes.push(Node::Directive(directive));
            }
            _ => nodes.push(Node::Directive(directive)),
        }
        Ok(())
    }

    /// Replaces each `${NAME}` of a line.
    fn expand(&self, text: &str, origin: &Origin) -> Result<String, ApacheError> {
        if !text.contains("${") {
            return Ok(text.to_owned());
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                // No closing brace: not a variable, as in httpd.
                out.push_str(&rest[start..]);
                return Ok(out);
            };
            let name = &after[..end];
            let value = self
                .defines
                .get(name)
                .or_else(|| self.environment.get(name))
                .ok_or_else(|| ApacheError::UndefinedVariable {
                    origin: origin.clone(),
                    name: name.to_owned(),
                })?;
            out.push_str(value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn resolve(&self, path: &str) -> PathBuf {
        let path = Path::new(path);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.server_root.join(path)
        }
    }

    /// The files an `Include` reads, in order.
    fn include_targets(
        &self,
        pattern: &str,
        optional: bool,
        origin: &Origin,
    ) -> Result<Vec<PathBuf>, ApacheError> {
        let resolved = self.resolve(pattern);
        let nothing = || ApacheError::NothingToInclude {
            origin: origin.clone(),
            pattern: pattern.to_owned(),
            resolved: resolved.clone(),
        };
        let mut files = Vec::new();
        if pattern.contains(['*', '?', '[']) {
            let text = resolved.to_string_lossy();
            let matches = glob::glob(&text).map_err(|err| {
                ApacheError::syntax(origin, format!("bad wildcard '{pattern}': {err}"))
            })?;
            let mut matched: Vec<PathBuf> = matches.filter_map(Result::ok).collect();
            matched.sort();
            for path in matched {
                files_below(&path, &mut files);
            }
        } else if resolved.exists() {
            files_below(&resolved, &mut files);
        }
        if files.is_empty()
            && !optional
            && (pattern.contains(['*', '?', '[']) || !resolved.exists())
        {
            return Err(nothing());
        }
        Ok(files)
    }

    fn if_module(&self, args: &[String], origin: &Origin) -> Result<bool, ApacheError> {
        let [module] = args else {
            return Err(ApacheError::syntax(
                origin,
                "<IfModule> takes one argument, a module name",
            ));
        };
        let (negated, module) = negation(module);
        Ok(self.loaded.contains(&module_key(module)) != negated)
    }

    fn if_define(&self, args: &[String], origin: &Origin) -> Result<bool, ApacheError> {
        let [name] = args else {
            return Err(ApacheError::syntax(
                origin,
                "<IfDefine> takes one argument, a name",
            ));
        };
        let (negated, name) = negation(name);
        Ok(self.defines.contains_key(name) != negated)
    }

    fn if_file(&self, args: &[String], origin: &Origin) -> Result<bool, ApacheError> {
        let [path] = args else {
            return Err(ApacheError::syntax(
                origin,
                "<IfFile> takes one argument, a path",
            ));
        };
        let (negated, path) = negation(path);
        Ok(self.resolve(path).exists() != negated)
    }
}

/// A file's lines, handed out with their origins.
struct Cursor {
    file: Arc<PathBuf>,
    lines: std::vec::IntoIter<Line>,
}

impl Cursor {
    fn next(&mut self) -> Option<(Line, Origin)> {
        let line = self.lines.next()?;
        let origin = Origin {
            file: Arc::clone(&self.file),
            line: line.number,
        };
        Some((line, origin))
    }
}

/// Skips to the line that closes the section `name`, counting the sections opened inside it.
fn skip_section(cursor: &mut Cursor, name: &str, origin: &Origin) -> Result<(), ApacheError> {
    let mut depth = 0usize;
    while let Some((line, at)) = cursor.next() {
        if let Some(closing) = line.text.strip_prefix("</") {
            if depth == 0 {
                let closing = closing.trim_end_matches('>').trim();
                if !closing.eq_ignore_ascii_case(name) {
                    return Err(ApacheError::syntax(
                        &at,
                        format!("expected </{name}> but saw </{closing}>"),
                    ));
                }
                return Ok(());
            }
            depth -= 1;
        } else if line.text.starts_with('<') {
            depth += 1;
        }
    }
    Err(ApacheError::syntax(
        origin,
        format!("<{name}> was not closed: add </{name}> at the end of the section"),
    ))
}

/// Every file at `path`: the file itself, or the files below a directory, in name order.
fn files_below(path: &Path, files: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let Ok(entries) = std::fs::read_dir(path) else {
            return;
        };
        let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for entry in entries {
            files_below(&entry, files);
        }
    } else {
        files.push(path.to_path_buf());
    }
}

fn negation(arg: &str) -> (bool, &str) {
    match arg.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, arg),
    }
}

/// `<IfVersion [op] version>`: `=`/`==`, `>`, `>=`, `<`, `<=` with a dotted version (missing
/// parts count as 0; `=` compares only the parts given), `~` or `/regex/` with a regular
/// expression matched against `2.4.62`.
fn if_version(args: &[String], origin: &Origin) -> Result<bool, ApacheError> {
    let (negated, args): (bool, Vec<&str>) = match args {
        [first, rest @ ..] if first.starts_with('!') => {
            let first = first.trim_start_matches('!');
            let mut all: Vec<&str> = if first.is_empty() {
                vec![]
            } else {
                vec![first]
            };
            all.extend(rest.iter().map(String::as_str));
            (true, all)
        }
        _ => (false, args.iter().map(String::as_str).collect()),
    };
    let (operator, version) = match args.as_slice() {
        [version] => ("=", *version),
        [operator, version] => (*operator, *version),
        _ => {
            return Err(ApacheError::syntax(
                origin,
                "<IfVersion> takes an optional comparison and a version, such as <IfVersion >= 2.4>",
            ));
        }
    };
    let (major, minor, patch) = APACHE_VERSION;
    let ours = format!("{major}.{minor}.{patch}");
    let regex = |pattern: &str| {
        regex::Regex::new(pattern)
            .map(|re| re.is_match(&ours))
            .map_err(|err| {
                ApacheError::syntax(origin, format!("bad <IfVersion> expression: {err}"))
            })
    };
    let result = if let Some(pattern) = version.strip_prefix('/').and_then(|v| v.strip_suffix('/'))
    {
        regex(pattern)?
    } else if operator == "~" {
        regex(version)?
    } else {
        let given: Vec<u32> = version
            .split('.')
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map_err(|_| {
                ApacheError::syntax(origin, format!("<IfVersion>: '{version}' is not a version"))
            })?;
        if given.is_empty() || given.len() > 3 {
            return Err(ApacheError::syntax(
                origin,
                format!("<IfVersion>: '{version}' is not a version"),
            ));
        }
        let ours = [major, minor, patch];
        let padded = [
            given[0],
            *given.get(1).unwrap_or(&0),
            *given.get(2).unwrap_or(&0),
        ];
        match operator {
            "=" | "==" => ours[..given.len()] == given[..],
            ">" => ours > padded,
            ">=" => ours >= padded,
            "<" => ours < padded,
            "<=" => ours <= padded,
            _ => {
                return Err(ApacheError::syntax(
                    origin,
                    format!(
                        "<IfVersion>: unknown comparison '{operator}' (use =, >, >=, <, <= or ~)"
                    ),
                ));
            }
        }
    };
    Ok(result != negated)
}

/// The plain assignments of a shell script such as Debian's `envvars`: `NAME=value` and
/// `export NAME=value`, with quotes and `$NAME`/`${NAME}` expanded from earlier assignments and
/// `environment`. Anything else (conditionals, commands) is ignored.
fn envvars_assignments(
    text: &str,
    environment: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut assigned: BTreeMap<String, String> = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        let line = line
            .strip_prefix("export ")
            .map(str::trim_start)
            .unwrap_or(line);
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let value = value.trim();
        let (value, expand) =
            if let Some(v) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
                (v, false)
            } else if let Some(v) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                (v, true)
            } else if value.contains(char::is_whitespace) {
                continue;
            } else {
                (value, true)
            };
        let value = if expand {
            shell_expand(value, |n| {
                assigned.get(n).or_else(|| environment.get(n)).cloned()
            })
        } else {
            value.to_owned()
        };
        assigned.insert(name.to_owned(), value);
    }
    assigned
}

fn shell_expand(value: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let name: String = if chars.peek() == Some(&'{') {
            chars.next();
            chars.by_ref().take_while(|&c| c != '}').collect()
        } else {
            let mut name = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_ascii_alphanumeric() || c == '_' {
                    name.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            name
        };
        out.push_str(&lookup(&name).unwrap_or_default());
    }
    out
}

#[cfg(test)]
mod tests;

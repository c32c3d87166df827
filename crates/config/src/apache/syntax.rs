//! Apache's configuration syntax at the level of lines and words, as httpd's `ap_cfg_getline`
//! and `ap_getword_conf` read it.
//!
//! * A line ending in `\` (nothing after it, not even a space) continues on the next one; the
//!   backslash and the line break are dropped. Leading and trailing whitespace is dropped.
//! * A line whose first non-blank character is `#` is a comment (a comment ending in `\`
//!   continues too, as in httpd). `#` anywhere else is an ordinary character.
//! * Words are separated by whitespace. A word that starts with `"` or `'` runs to the next
//!   unescaped same quote; `\` before that quote (or before `\`) escapes it and is dropped.
//!   Outside quotes `\\` is one backslash too (httpd's `substring_conf`); any other `\` is an
//!   ordinary character.
//! * A line starting with `<` opens a section (`<Directory /srv>`: the name, then the words up
//!   to the final `>`); `</Name>` closes one.

/// One logical line: its text and the number of its first physical line (from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) number: u32,
    pub(crate) text: String,
}

/// Splits a file's text into logical lines, without comments and empty lines.
pub(crate) fn logical_lines(text: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut current: Option<Line> = None;
    for (index, raw) in text.lines().enumerate() {
        let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let (piece, continues) = match raw.strip_suffix('\\') {
            Some(piece) => (piece, true),
            None => (raw, false),
        };
        let line = current.get_or_insert_with(|| Line {
            number,
            text: String::new(),
        });
        if line.text.is_empty() {
            line.text.push_str(piece.trim_start());
        } else {
            line.text.push_str(piece);
        }
        if !continues {
            let mut line = current.take().expect("a line in progress");
            let trimmed = line.text.trim_end().len();
            line.text.truncate(trimmed);
            if !line.text.is_empty() && !line.text.starts_with('#') {
                lines.push(line);
            }
        }
    }
    if let Some(mut line) = current.take() {
        // A file that ends with a continuation: the line ends there.
        let trimmed = line.text.trim_end().len();
        line.text.truncate(trimmed);
        if !line.text.is_empty() && !line.text.starts_with('#') {
            lines.push(line);
        }
    }
    lines
}

/// The words of a line, with Apache's quoting. An unterminated quote runs to the end of the
/// line, as in httpd.
pub(crate) fn words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let (word, after) = next_word(rest);
        words.push(word);
        rest = after.trim_start();
    }
    words
}

/// The value of a mod_wsgi `name=value` option as `wsgi_parse_option` reads it (httpd's
/// `ap_getword_conf` after the `=`): quotes around it are dropped, so that
/// `user='www-data'`, as mod_wsgi-express writes it, names `www-data`.
pub(crate) fn option_value(value: &str) -> String {
    if value.starts_with(['"', '\'']) {
        next_word(value).0
    } else {
        // The line's words were read already: nothing more to undo.
        value.to_owned()
    }
}

fn next_word(text: &str) -> (String, &str) {
    let quote = match text.chars().next() {
        Some(quote @ ('"' | '\'')) => quote,
        _ => {
            let end = text.find(char::is_whitespace).unwrap_or(text.len());
            return (text[..end].replace("\\\\", "\\"), &text[end..]);
        }
    };
    let mut word = String::new();
    let mut chars = text.char_indices().skip(1).peekable();
    while let Some((at, c)) = chars.next() {
        if c == '\\' {
            if let Some(&(_, next)) = chars.peek() {
                if next == quote || next == '\\' {
                    word.push(next);
                    chars.next();
                    continue;
                }
            }
            word.push(c);
        } else if c == quote {
            return (word, &text[at + c.len_utf8()..]);
        } else {
            word.push(c);
        }
    }
    (word, "")
}

/// What a line starting with `<` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SectionLine {
    /// `<Name args...>`
    Open { name: String, args: Vec<String> },
    /// `</Name>`
    Close { name: String },
}

/// Why a section line is malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SectionLineError {
    /// `<Name ...` without the final `>`.
    MissingClosingBracket { name: String },
    /// `<>` or `</>`.
    NoName,
}

/// Reads a line that starts with `<`.
pub(crate) fn section_line(text: &str) -> Result<SectionLine, SectionLineError> {
    let inner = text.strip_prefix('<').unwrap_or(text);
    let (closing, inner) = match inner.strip_prefix('/') {
        Some(inner) => (true, inner),
        None => (false, inner),
    };
    let name_end = inner
        .find(|c: char| c.is_whitespace() || c == '>')
        .unwrap_or(inner.len());
    let name = inner[..name_end].to_owned();
    if name.is_empty() {
        return Err(SectionLineError::NoName);
    }
    let Some(body) = inner[name_end..].trim_end().strip_suffix('>') else {
        return Err(SectionLineError::MissingClosingBracket { name });
    };
    if closing {
        Ok(SectionLine::Close { name })
    } else {
        Ok(SectionLine::Open {
            name,
            args: words(body),
        })
    }
}

/// A word written so that [`words`] reads it back unchanged: in double quotes, with `"` and
/// `\` escaped.
#[cfg(test)]
pub(crate) fn quote(word: &str) -> String {
    format!("\"{}\"", word.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuations_join_and_comments_go() {
        let text = "  # a comment \\\n  still the comment\nWSGIDaemonProcess app \\\n    threads=5 \\\n  user=tuan\n\n\tListen 80  \r\n";
        let lines = logical_lines(text);
        assert_eq!(
            lines,
            vec![
                Line {
                    number: 3,
                    text: "WSGIDaemonProcess app     threads=5   user=tuan".to_owned()
                },
                Line {
                    number: 7,
                    text: "Listen 80".to_owned()
                },
            ]
        );
    }

    #[test]
    fn a_backslash_followed_by_a_space_does_not_continue() {
        let lines = logical_lines("A b\\ \nC d\n");
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].text, "A b\\");
    }

    #[test]
    fn words_follow_apache_quoting() {
        assert_eq!(
            words(r#"LogFormat "%h \"%r\" %>s" common"#),
            vec!["LogFormat", r#"%h "%r" %>s"#, "common"]
        );
        assert_eq!(
            words(r"Alias /a C:\path\\x 'it''s'"),
            vec!["Alias", "/a", r"C:\path\x", "it", "s"]
        );
        assert_eq!(
            words("Header set X \"unterminated"),
            vec!["Header", "set", "X", "unterminated"]
        );
        assert_eq!(words("A #not-a-comment"), vec!["A", "#not-a-comment"]);
    }

    #[test]
    fn option_values_lose_their_quotes() {
        assert_eq!(option_value("'service:x'"), "service:x");
        assert_eq!(option_value("\"/srv/a\""), "/srv/a");
        assert_eq!(option_value("%{GLOBAL}"), "%{GLOBAL}");
        assert_eq!(option_value(r"C:\x"), r"C:\x");
        assert_eq!(option_value(""), "");
    }

    #[test]
    fn section_lines_open_and_close() {
        assert_eq!(
            section_line("<Directory \"/srv/my app\">"),
            Ok(SectionLine::Open {
                name: "Directory".to_owned(),
                args: vec!["/srv/my app".to_owned()]
            })
        );
        assert_eq!(
            section_line("<IfVersion >= 2.4>"),
            Ok(SectionLine::Open {
                name: "IfVersion".to_owned(),
                args: vec![">=".to_owned(), "2.4".to_owned()]
            })
        );
        assert_eq!(
            section_line("</Directory>"),
            Ok(SectionLine::Close {
                name: "Directory".to_owned()
            })
        );
        assert_eq!(
            section_line("<Location /x"),
            Err(SectionLineError::MissingClosingBracket {
                name: "Location".to_owned()
            })
        );
        assert_eq!(section_line("<>"), Err(SectionLineError::NoName));
    }
}

#[cfg(test)]
#[path = "fuzz/syntax.rs"]
mod fuzz;

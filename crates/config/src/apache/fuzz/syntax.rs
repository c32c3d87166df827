//! Fuzz targets of the Apache configuration reader (see docs/testing.md, "Fuzzing").
//!
//! `fuzz_apache_syntax_round_trip`: a tree of directives and sections with arbitrary names and
//! arguments (any characters, quotes and backslashes included), written out with arbitrary
//! indentation, comment lines, blank lines, CRLF line ends and `\` continuations between
//! words, reads back as the same tree, each node at the line it was written on.
//!
//! `fuzz_apache_reader_any_text`: arbitrary text (without `Include`, which would read the
//! machine's files) never makes the reader panic; what it reads has non-empty names, and
//! every node's line is within the text.

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;

use super::{logical_lines, quote, section_line, words};
use crate::apache::{Node, ReadOptions, read_text};

#[derive(Debug, Clone)]
enum Tree {
    Directive(String, Vec<String>),
    Section(String, Vec<String>, Vec<Tree>),
}

/// Names the reader acts on itself; the generated trees avoid them.
const RESERVED: &[&str] = &[
    "define",
    "undefine",
    "include",
    "includeoptional",
    "ifmodule",
    "ifdefine",
    "ifversion",
    "iffile",
];

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9_]{0,12}".prop_filter("not read-time", |n| {
        !RESERVED.contains(&n.to_ascii_lowercase().as_str())
    })
}

fn arg() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9/._=%{}:,-]{1,12}",
        // Anything but line breaks and `${`, which the reader expands.
        "[^\r\n]{0,16}".prop_filter("no variables", |a| !a.contains("${")),
        Just("\\".to_owned()),
        Just("\"".to_owned()),
        Just("a\\\"b".to_owned()),
        Just(String::new()),
    ]
}

fn tree() -> impl Strategy<Value = Tree> {
    let leaf = (name(), proptest::collection::vec(arg(), 0..4))
        .prop_map(|(name, args)| Tree::Directive(name, args));
    leaf.prop_recursive(3, 24, 6, |inner| {
        (
            name(),
            proptest::collection::vec(arg(), 0..3),
            proptest::collection::vec(inner, 0..6),
        )
            .prop_map(|(name, args, children)| Tree::Section(name, args, children))
    })
}

/// How the tree is written out.
#[derive(Debug, Clone)]
struct Style {
    indent: String,
    blank_lines: bool,
    comments: bool,
    crlf: bool,
    /// After which words a line is continued (`\` and a line break).
    continue_after: Vec<bool>,
}

fn style() -> impl Strategy<Value = Style> {
    (
        prop_oneof![
            Just(String::new()),
            Just("  ".to_owned()),
            Just("\t".to_owned())
        ],
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        proptest::collection::vec(any::<bool>(), 0..16),
    )
        .prop_map(
            |(indent, blank_lines, comments, crlf, continue_after)| Style {
                indent,
                blank_lines,
                comments,
                crlf,
                continue_after,
            },
        )
}

/// Writes the trees; returns the text and, for each node in reading order, its line number.
fn write(trees: &[Tree], style: &Style) -> (String, Vec<u32>) {
    struct Out<'a> {
        text: String,
        line: u32,
        lines: Vec<u32>,
        style: &'a Style,
        word: usize,
    }
    impl Out<'_> {
        fn newline(&mut self) {
            self.text
                .push_str(if self.style.crlf { "\r\n" } else { "\n" });
            self.line += 1;
        }
        fn words(&mut self, depth: usize, first: String, args: &[String], last: &str) {
            self.lines.push(self.line);
            self.text.push_str(&self.style.indent.repeat(depth));
            self.text.push_str(&first);
            for arg in args {
                let split = !self.style.continue_after.is_empty()
                    && self.style.continue_after[self.word % self.style.continue_after.len()];
                self.word += 1;
                if split {
                    self.text.push('\\');
                    self.newline();
                }
                self.text.push(' ');
                self.text.push_str(&quote(arg));
            }
            self.text.push_str(last);
            self.newline();
            if self.style.blank_lines {
                self.newline();
            }
            if self.style.comments {
                self.text
                    .push_str("  # a comment \"with quotes\" <Directory>");
                self.newline();
            }
        }
        fn tree(&mut self, tree: &Tree, depth: usize) {
            match tree {
                Tree::Directive(name, args) => self.words(depth, name.clone(), args, ""),
                Tree::Section(name, args, children) => {
                    self.words(depth, format!("<{name}"), args, ">");
                    for child in children {
                        self.tree(child, depth + 1);
                    }
                    self.text.push_str(&self.style.indent.repeat(depth));
                    self.text.push_str(&format!("</{name}>"));
                    self.newline();
                }
            }
        }
    }
    let mut out = Out {
        text: String::new(),
        line: 1,
        lines: Vec::new(),
        style,
        word: 0,
    };
    for tree in trees {
        out.tree(tree, 0);
    }
    (out.text, out.lines)
}

fn same(
    trees: &[Tree],
    nodes: &[Node],
    lines: &mut std::slice::Iter<'_, u32>,
) -> Result<(), String> {
    if trees.len() != nodes.len() {
        return Err(format!(
            "{} nodes where {} were written",
            nodes.len(),
            trees.len()
        ));
    }
    for (tree, node) in trees.iter().zip(nodes) {
        let line = *lines.next().expect("a line per node");
        if node.origin().line != line {
            return Err(format!(
                "{} read at line {}, written at {line}",
                node.name(),
                node.origin().line
            ));
        }
        match (tree, node) {
            (Tree::Directive(name, args), Node::Directive(d))
                if *name == d.name && *args == d.args => {}
            (Tree::Section(name, args, children), Node::Section(s))
                if *name == s.name && *args == s.args =>
            {
                same(children, &s.children, lines)?;
            }
            _ => return Err(format!("wrote {tree:?}, read {node:?}")),
        }
    }
    Ok(())
}

fn options() -> ReadOptions {
    ReadOptions {
        defines: Vec::new(),
        environment: Some(BTreeMap::new()),
    }
}

proptest! {
    #[test]
    fn fuzz_apache_syntax_round_trip(
        trees in proptest::collection::vec(tree(), 0..6),
        style in style(),
    ) {
        let (text, lines) = write(&trees, &style);
        let config = read_text(Path::new("/fuzz.conf"), &text, &options());
        let config = match config {
            Ok(config) => config,
            Err(err) => return Err(TestCaseError::fail(format!("{err}\n{text}"))),
        };
        if let Err(why) = same(&trees, &config.nodes, &mut lines.iter()) {
            return Err(TestCaseError::fail(format!("{why}\n{text}")));
        }
    }

    #[test]
    fn fuzz_apache_reader_any_text(text in prop_oneof![
        "[^\u{0}]{0,300}",
        proptest::collection::vec(
            prop_oneof![
                Just("<Directory /x>"), Just("</Directory>"), Just("<IfModule mod_wsgi.c>"),
                Just("</IfModule>"), Just("<IfModule !x>"), Just("<IfVersion >= 2.4>"),
                Just("</IfVersion>"), Just("<IfDefine X>"), Just("</IfDefine>"), Just("Define X y"),
                Just("A ${X}"), Just("B \"q \\\" r\" 's'"), Just("\\"), Just("# c \\"), Just("<"),
                Just("</>"), Just("<>"), Just("  C d"), Just("<IfVersion ~ [>"), Just("UnDefine X"),
            ],
            0..40,
        ).prop_map(|lines| lines.join("\n")),
    ]) {
        let text = text.to_ascii_lowercase().replace("include", "inc");
        let line_count = text.lines().count() as u32;
        prop_assert!(logical_lines(&text).iter().all(|l| l.number >= 1 && l.number <= line_count.max(1)));
        for line in logical_lines(&text) {
            let _ = words(&line.text);
            if line.text.starts_with('<') {
                let _ = section_line(&line.text);
            }
        }
        if let Ok(config) = read_text(Path::new("/fuzz.conf"), &text, &options()) {
            fn check(nodes: &[Node], lines: u32) -> Result<(), TestCaseError> {
                for node in nodes {
                    prop_assert!(!node.name().is_empty());
                    prop_assert!(node.origin().line >= 1 && node.origin().line <= lines);
                    if let Node::Section(s) = node {
                        check(&s.children, lines)?;
                    }
                }
                Ok(())
            }
            check(&config.nodes, line_count)?;
        }
    }
}

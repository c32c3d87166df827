//! The `AuthGroupFile`: `group: user1 user2` lines, read as mod_authz_groupfile reads them.

use std::collections::HashMap;

use super::passwords::lines;
use super::watched::Parse;

/// A group file, read: each user's groups.
pub(crate) struct GroupFile {
    groups_of: HashMap<Vec<u8>, Vec<String>>,
}

impl GroupFile {
    /// The groups the file puts `user` in (compared exactly, as `strcmp` compares them).
    pub(crate) fn groups_of(&self, user: &[u8]) -> &[String] {
        self.groups_of.get(user).map_or(&[], Vec::as_slice)
    }
}

impl Parse for GroupFile {
    /// mod_authz_groupfile's reading: each line without its surrounding white space, empty
    /// lines and `#` lines left out; the group is what comes before the first `:` (without the
    /// white space before the `:`), its members the words after it, separated by white space
    /// (a word may be quoted, as `ap_getword_conf` reads it).
    fn parse(bytes: &[u8]) -> GroupFile {
        let mut groups_of: HashMap<Vec<u8>, Vec<String>> = HashMap::new();
        for line in lines(bytes) {
            let (group, members) = match line.iter().position(|&b| b == b':') {
                Some(colon) => (&line[..colon], &line[colon + 1..]),
                None => (line, &[][..]),
            };
            let group = String::from_utf8_lossy(group.trim_ascii_end()).into_owned();
            for member in words(members) {
                let groups = groups_of.entry(member).or_default();
                if !groups.contains(&group) {
                    groups.push(group.clone());
                }
            }
        }
        GroupFile { groups_of }
    }
}

/// The words of `text`, as `ap_getword_conf` reads them: separated by white space, a word that
/// starts with a quote running to the same quote (a backslash keeps a quote in it).
fn words(text: &[u8]) -> Vec<Vec<u8>> {
    let mut words = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_ascii_start();
        let Some(&first) = rest.first() else {
            return words;
        };
        let mut word = Vec::new();
        if first == b'"' || first == b'\'' {
            let mut at = 1;
            while at < rest.len() && rest[at] != first {
                if rest[at] == b'\\' && rest.get(at + 1) == Some(&first) {
                    at += 1;
                }
                word.push(rest[at]);
                at += 1;
            }
            rest = rest.get(at + 1..).unwrap_or_default();
        } else {
            let end = rest
                .iter()
                .position(u8::is_ascii_whitespace)
                .unwrap_or(rest.len());
            word.extend_from_slice(&rest[..end]);
            rest = &rest[end..];
        }
        words.push(word);
    }
}

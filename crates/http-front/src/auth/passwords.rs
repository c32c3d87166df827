//! The `AuthUserFile`: `user:hash` lines, as `htpasswd` writes them, read as mod_authn_file
//! reads them, and the hashes checked as APR's `apr_password_validate` checks them on Linux.
//!
//! * bcrypt (`$2y$`, `$2b$`, `$2a$`: `htpasswd -B`), with the `bcrypt` crate;
//! * APR's MD5 (`$apr1$`: `htpasswd -m`, its default) and the `crypt(3)` family that APR hands
//!   to glibc on Linux — DES (`htpasswd -d`), MD5 (`$1$`), SHA-256 (`$5$`), SHA-512
//!   (`$6$`) — with `crypt3_rs`, the maintained fork of `pwhash` (whose `md5_crypt` has no
//!   `$apr1$`) that added `$apr1$`, so no hashing of oxwsgi's own;
//! * SHA-1 (`{SHA}`: `htpasswd -s`), with `sha1` and `base64`.
//!
//! A plain-text entry (`htpasswd -p`) never matches: APR accepts one only where the system has
//! no `crypt(3)` (Windows, NetWare); on Linux it goes to `crypt`, which does not give the text
//! back, and so does oxwsgi. Nor does any other form (`$y$` yescrypt, say): it is as if the
//! password were wrong.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use ring::hmac;
use sha1::Digest as _;

use super::watched::Parse;

/// A password file, read.
pub(crate) struct PasswordFile {
    /// Each user's hash, as the first line naming the user gives it.
    hashes: HashMap<Vec<u8>, Vec<u8>>,
    /// Each user's and realm's hash, as the first line of `htdigest`'s format
    /// (`user:realm:hash`) naming both gives it.
    realm_hashes: HashMap<(Vec<u8>, Vec<u8>), Vec<u8>>,
}

impl PasswordFile {
    /// The hash the file has for `user`.
    pub(crate) fn hash_of(&self, user: &[u8]) -> Option<&[u8]> {
        self.hashes.get(user).map(Vec::as_slice)
    }

    /// The hash an `htdigest` file has for `user` in `realm`.
    pub(crate) fn realm_hash_of(&self, user: &[u8], realm: &[u8]) -> Option<&[u8]> {
        self.realm_hashes
            .get(&(user.to_vec(), realm.to_vec()))
            .map(Vec::as_slice)
    }
}

impl Parse for PasswordFile {
    /// mod_authn_file's reading: each line without its surrounding white space; empty lines
    /// and lines starting with `#` skipped; the user is what comes before the first `:`, the
    /// hash what comes after it up to the next `:` (empty for a line without one); the first
    /// line naming a user wins. For Digest (`get_realm_hash`), a line's second field is the
    /// realm and its third the hash, up to the next `:`.
    fn parse(bytes: &[u8]) -> PasswordFile {
        let mut hashes = HashMap::new();
        let mut realm_hashes = HashMap::new();
        for line in lines(bytes) {
            let mut fields = line.split(|&b| b == b':');
            let user = fields.next().unwrap_or_default();
            let hash = fields.next().unwrap_or_default();
            hashes.entry(user.to_vec()).or_insert_with(|| hash.to_vec());
            if let Some(realm_hash) = fields.next() {
                realm_hashes
                    .entry((user.to_vec(), hash.to_vec()))
                    .or_insert_with(|| realm_hash.to_vec());
            }
        }
        PasswordFile {
            hashes,
            realm_hashes,
        }
    }
}

/// The lines of a configuration-style file, as `ap_cfg_getline` gives them: without their
/// surrounding white space, empty ones and comments (`#`) left out.
pub(super) fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes
        .split(|&b| b == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|line| !line.is_empty() && !line.starts_with(b"#"))
}

/// Whether `password` is the one `hash` was made from.
pub(crate) fn verify(password: &[u8], hash: &[u8]) -> bool {
    let Ok(hash) = std::str::from_utf8(hash) else {
        return false;
    };
    if ["$2y$", "$2b$", "$2a$", "$2x$"]
        .iter()
        .any(|id| hash.starts_with(id))
    {
        return bcrypt::verify(password, hash).unwrap_or(false);
    }
    if let Some(digest) = hash.strip_prefix("{SHA}") {
        let made = base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(password));
        return same(made.as_bytes(), digest.as_bytes());
    }
    // `$apr1$`, and what APR hands to crypt(3). Each by its own module: crypt3_rs's
    // recognition of a hash's form (`unix::verify`) refuses `$5$` and `$6$` hashes without a
    // `rounds=`, the usual form.
    use crypt3_rs::crypt::{apr1, md5, sha256, sha512, unix};
    if hash.starts_with("$apr1$") {
        apr1::verify(password, hash)
    } else if hash.starts_with("$1$") {
        md5::verify(password, hash)
    } else if hash.starts_with("$5$") {
        sha256::verify(password, hash)
    } else if hash.starts_with("$6$") {
        sha512::verify(password, hash)
    } else if hash.len() == 13 && !hash.starts_with('$') {
        // Traditional DES crypt: two characters of salt, eleven of hash.
        unix::verify(password, hash)
    } else {
        false
    }
}

/// Whether two byte strings are equal, in a time that does not depend on where they differ.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// How long a successful check is remembered.
pub(crate) const REMEMBERED_FOR: Duration = Duration::from_secs(60);

/// At most this many successful checks are remembered (past that, the oldest are forgotten).
const REMEMBERED_AT_MOST: usize = 4096;

/// Recent successful checks, each as an HMAC (under a key made at start) of what was checked.
pub(crate) struct RecentChecks {
    key: hmac::Key,
    seen: Mutex<HashMap<Vec<u8>, Instant>>,
}

impl RecentChecks {
    pub(crate) fn new() -> RecentChecks {
        let rng = ring::rand::SystemRandom::new();
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng)
            .unwrap_or_else(|_| hmac::Key::new(hmac::HMAC_SHA256, &random_enough()));
        RecentChecks {
            key,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// What remembers a check of `password` for `user`, whose entry in `file` is `hash`.
    pub(crate) fn key(&self, file: &Path, user: &[u8], password: &[u8], hash: &[u8]) -> Vec<u8> {
        let mut context = hmac::Context::with_key(&self.key);
        for part in [file.as_os_str().as_encoded_bytes(), user, hash, password] {
            context.update(&(part.len() as u64).to_be_bytes());
            context.update(part);
        }
        context.sign().as_ref().to_vec()
    }

    /// Whether a check `key` names succeeded less than [`REMEMBERED_FOR`] ago.
    pub(crate) fn holds(&self, key: &[u8]) -> bool {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.get(key)
            .is_some_and(|at| at.elapsed() < REMEMBERED_FOR)
    }

    /// Remembers that the check `key` names succeeded.
    pub(crate) fn insert(&self, key: Vec<u8>) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= REMEMBERED_AT_MOST {
            seen.retain(|_, at| at.elapsed() < REMEMBERED_FOR);
            if seen.len() >= REMEMBERED_AT_MOST {
                seen.clear();
            }
        }
        seen.insert(key, Instant::now());
    }
}

/// A key from what the process has at hand, should the system's random source fail (it does
/// not on Linux): the keys of remembered checks need only differ from one start to the next.
fn random_enough() -> Vec<u8> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut bytes = now.as_nanos().to_be_bytes().to_vec();
    bytes.extend_from_slice(&std::process::id().to_be_bytes());
    bytes
}

//! HTTP Basic authentication, as httpd's mod_auth_basic does it with mod_authn_file and
//! mod_authz_groupfile: the client's credentials ([`basic`]), checked against the
//! `AuthUserFile` ([`passwords`]), and the user's groups from the `AuthGroupFile`
//! ([`groups`]), for the rules that name groups.
//!
//! httpd reads both files again on every request. oxwsgi keeps what it read and looks at each
//! file again at most once a second ([`watched`]): a file changed or replaced while the server
//! runs is read again then. Files are read on tokio's blocking pool, never on an I/O thread.
//!
//! Checking a password costs CPU — bcrypt above all, by design — so it runs on the blocking
//! pool too, and a success is remembered for [`passwords::REMEMBERED_FOR`]: a keep-alive
//! client that sends its credentials with every request costs one check a minute, not one a
//! request. What is remembered is an HMAC, under a key made at start, of the file, the user,
//! the password and the file's entry for the user: no password is kept, and a changed entry
//! (a new password) is checked afresh. Failures are never remembered.

mod basic;
pub(crate) mod digest;
mod groups;
mod passwords;
mod watched;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use oxwsgi_config::access::AccessRules;

pub(crate) use basic::{CredentialsError, credentials};
use groups::GroupFile;
use passwords::{PasswordFile, RecentChecks};
use watched::Watched;

/// What checking a user's password against a password file found (mod_authn_file's
/// `authn_status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The password is the user's.
    Granted,
    /// The file has the user, with another password (or a hash oxwsgi cannot check).
    Mismatch,
    /// The file does not have the user.
    UnknownUser,
    /// The file cannot be read: why.
    Unreadable(Arc<str>),
}

/// The password and group files of one virtual host's rules, as last read.
pub(crate) struct Authenticator {
    passwords: HashMap<PathBuf, Watched<PasswordFile>>,
    groups: HashMap<PathBuf, Watched<GroupFile>>,
    recent: RecentChecks,
    /// The nonces of Digest authentication.
    pub(crate) nonces: digest::Nonces,
}

impl Authenticator {
    /// For the files `rules` name (none is read until a request needs it); Digest nonces are
    /// signed with `secret`, which every process of the server shares.
    pub(crate) fn new(rules: &AccessRules, secret: &[u8]) -> Authenticator {
        let settings = rules
            .auth_directories
            .iter()
            .chain(&rules.auth_locations)
            .map(|control| &control.settings);
        let mut passwords = HashMap::new();
        let mut groups = HashMap::new();
        for settings in settings {
            if let Some(file) = &settings.user_file {
                passwords
                    .entry(file.clone())
                    .or_insert_with(|| Watched::new(file.clone()));
            }
            if let Some(file) = &settings.group_file {
                groups
                    .entry(file.clone())
                    .or_insert_with(|| Watched::new(file.clone()));
            }
        }
        Authenticator {
            passwords,
            groups,
            recent: RecentChecks::new(),
            nonces: digest::Nonces::new(secret),
        }
    }

    /// Checks `password` for `user` against the password file `file`.
    pub(crate) async fn check(&self, file: &Path, user: &[u8], password: &[u8]) -> Outcome {
        let Some(watched) = self.passwords.get(file) else {
            return Outcome::Unreadable(Arc::from("not a file of the configuration"));
        };
        let table = match watched.current().await {
            Ok(table) => table,
            Err(why) => return Outcome::Unreadable(why),
        };
        let Some(hash) = table.hash_of(user) else {
            return Outcome::UnknownUser;
        };
        let remembered = self.recent.key(file, user, password, hash);
        if self.recent.holds(&remembered) {
            return Outcome::Granted;
        }
        let hash = hash.to_vec();
        let password = password.to_vec();
        let matches =
            tokio::task::spawn_blocking(move || passwords::verify(&password, &hash)).await;
        if matches.unwrap_or(false) {
            self.recent.insert(remembered);
            Outcome::Granted
        } else {
            Outcome::Mismatch
        }
    }

    /// The hex MD5 of `user:realm:password` the `htdigest` file `file` has for `user` in
    /// `realm` (mod_authn_file's `get_realm_hash`): `Ok(None)` when it has none.
    pub(crate) async fn realm_hash(
        &self,
        file: &Path,
        user: &[u8],
        realm: &[u8],
    ) -> Result<Option<Vec<u8>>, Arc<str>> {
        let Some(watched) = self.passwords.get(file) else {
            return Err(Arc::from("not a file of the configuration"));
        };
        let table = watched.current().await?;
        Ok(table.realm_hash_of(user, realm).map(<[u8]>::to_vec))
    }

    /// The groups the group file `file` puts `user` in; none when there is no such file or
    /// it cannot be read (said in the error log, as mod_authz_groupfile says it).
    pub(crate) async fn groups(&self, file: Option<&Path>, user: &[u8]) -> Vec<String> {
        let Some(file) = file else {
            tracing::error!("No group file was specified in the configuration");
            return Vec::new();
        };
        let Some(watched) = self.groups.get(file) else {
            return Vec::new();
        };
        match watched.current().await {
            Ok(table) => table.groups_of(user).to_vec(),
            Err(why) => {
                tracing::error!("Could not open group file: {}: {why}", file.display());
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests;

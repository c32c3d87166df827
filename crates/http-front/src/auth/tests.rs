use std::path::PathBuf;
use std::time::Duration;

use http::{HeaderMap, HeaderValue, header};
use oxwsgi_config::MountPoint;
use oxwsgi_config::access::{AccessRules, AuthControl, AuthSettings};

use super::basic::{Credentials, CredentialsError, credentials};
use super::groups::GroupFile;
use super::passwords::{PasswordFile, verify};
use super::watched::{Parse, RECHECK};
use super::{Authenticator, Outcome};

// Made by `htpasswd -B` (bcrypt, cost 5), `-m` (apr1), `-s` ({SHA}) and `-d` (DES crypt) of
// apache2-utils 2.4, and by `openssl passwd -1/-5/-6`.
const BCRYPT: &str = "$2y$05$EaQcH3D1rVWUk4oNts.3b.7sWl.M9aW8ORQ/W6nPNPGCfAQ7ZLou6";
const APR1: &str = "$apr1$43OzHJyE$lzbaYyQiMSrcnz0.389l0/";
const SHA: &str = "{SHA}7YX78Oz8LXLfkqQdW9a5bxXYgCQ=";
const DES: &str = "NkMjkOdx0WBVE";
const MD5: &str = "$1$abcdefgh$sv0Htu/emMHkitdNup3BD.";
const SHA256: &str = "$5$abcdefgh$cpouTZng4DxeErYcbTqYmTV05bcExGOAVGy40uuBSZ0";
const SHA512: &str = "$6$abcdefgh$RuHMAEAY4rhIgrNJMoDyPk49qTV66r6Tjlt3Vg1bkAsQhskGOXluw1ZCkWpc.oOlVD2BoVsAOHbhVn3F9Jb/x/";

#[test]
fn each_kind_of_hash_htpasswd_writes_checks_its_password_only() {
    for (hash, password) in [
        (BCRYPT, "b-secret"),
        (APR1, "a-secret"),
        (SHA, "s-secret"),
        (DES, "d-secr"),
        (MD5, "m-secret"),
        (SHA256, "five"),
        (SHA512, "six"),
    ] {
        assert!(verify(password.as_bytes(), hash.as_bytes()), "{hash}");
        assert!(!verify(b"wrong", hash.as_bytes()), "{hash}");
        assert!(!verify(b"", hash.as_bytes()), "{hash}");
    }
    // bcrypt's other version letters are the same algorithm.
    let two_b = BCRYPT.replacen("$2y$", "$2b$", 1);
    assert!(verify(b"b-secret", two_b.as_bytes()));
    let two_a = BCRYPT.replacen("$2y$", "$2a$", 1);
    assert!(verify(b"b-secret", two_a.as_bytes()));
    // DES crypt reads eight characters, as crypt(3) does.
    assert!(verify(b"d-secr", DES.as_bytes()));
}

#[test]
fn a_plain_text_entry_never_matches_as_with_httpd_on_linux() {
    for plain in ["p-secret", "secret", "0123456789abc", "$y$j9T$abc$def", ""] {
        assert!(!verify(plain.as_bytes(), plain.as_bytes()), "{plain}");
    }
    assert!(!verify(b"x", b"\xff\xfe"));
}

#[test]
fn a_password_file_is_read_as_mod_authn_file_reads_it() {
    let text = b"# users\n\n  amy:$apr1$x$y  \r\nbob:hash:extra field\namy:second\ndee\n";
    let file = PasswordFile::parse(text);
    assert_eq!(file.hash_of(b"amy"), Some(&b"$apr1$x$y"[..]));
    assert_eq!(file.hash_of(b"bob"), Some(&b"hash"[..]));
    assert_eq!(file.hash_of(b"dee"), Some(&b""[..]));
    assert_eq!(file.hash_of(b"# users"), None);
    assert_eq!(file.hash_of(b"carl"), None);
}

#[test]
fn a_group_file_gives_each_user_their_groups() {
    let text = b"# groups\nstaff : amy bob\nadmins:amy\t\"carl dee\"\nempty:\nbare\nstaff: amy\n";
    let file = GroupFile::parse(text);
    assert_eq!(file.groups_of(b"amy"), ["staff", "admins"]);
    assert_eq!(file.groups_of(b"bob"), ["staff"]);
    assert_eq!(file.groups_of(b"carl dee"), ["admins"]);
    assert!(file.groups_of(b"carl").is_empty());
    assert!(file.groups_of(b"Amy").is_empty());
}

fn authorization(value: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_bytes(value).unwrap(),
    );
    headers
}

fn sent(user: &str, password: &str) -> Credentials {
    Credentials {
        user: bytes::Bytes::copy_from_slice(user.as_bytes()),
        password: password.as_bytes().to_vec(),
    }
}

#[test]
fn credentials_are_read_as_mod_auth_basic_reads_them() {
    // amy:a:secret
    assert_eq!(
        credentials(&authorization(b"Basic YW15OmE6c2VjcmV0")),
        Ok(sent("amy", "a:secret"))
    );
    assert_eq!(
        credentials(&authorization(b"basic  \tYW15OmE6c2VjcmV0")),
        Ok(sent("amy", "a:secret"))
    );
    // Padding, and what follows the first character that is not base64, is left out.
    assert_eq!(
        credentials(&authorization(b"Basic YW15OnM= trailing")),
        Ok(sent("amy", "s"))
    );
    // No colon: all of it is the user.
    assert_eq!(
        credentials(&authorization(b"Basic YW15")),
        Ok(sent("amy", ""))
    );
    assert_eq!(credentials(&authorization(b"Basic")), Ok(sent("", "")));
    assert_eq!(credentials(&authorization(b"Basic !!!")), Ok(sent("", "")));
    // A NUL ends the credentials (amy:x\0y).
    assert_eq!(
        credentials(&authorization(b"Basic YW15OngAeQ==")),
        Ok(sent("amy", "x"))
    );
    assert_eq!(
        credentials(&authorization(b"Bearer YW15OnM=")),
        Err(CredentialsError::WrongScheme)
    );
    assert_eq!(
        credentials(&authorization(b"Basic\tYW15OnM=")),
        Err(CredentialsError::WrongScheme)
    );
    assert_eq!(
        credentials(&HeaderMap::new()),
        Err(CredentialsError::Missing)
    );
}

fn rules(user_file: PathBuf, group_file: PathBuf) -> AccessRules {
    AccessRules {
        auth_locations: vec![AuthControl {
            prefix: MountPoint::parse("/").unwrap(),
            settings: AuthSettings {
                auth_type: Some(Some("Basic".to_owned())),
                name: Some("Test".to_owned()),
                user_file: Some(user_file),
                group_file: Some(group_file),
                ..AuthSettings::default()
            },
            host: None,
        }],
        ..AccessRules::default()
    }
}

#[tokio::test(start_paused = true)]
async fn a_changed_file_is_read_again_and_an_unreadable_one_says_why() {
    let dir = std::env::temp_dir().join(format!("oxwsgi-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let users = dir.join("users");
    let groups = dir.join("groups");
    std::fs::write(&users, format!("amy:{APR1}\n")).unwrap();
    std::fs::write(&groups, "staff: amy\n").unwrap();
    let auth = Authenticator::new(&rules(users.clone(), groups.clone()), &[7; 32]);
    assert_eq!(
        auth.check(&users, b"amy", b"a-secret").await,
        Outcome::Granted
    );
    // Remembered: the same check again needs no hashing.
    assert_eq!(
        auth.check(&users, b"amy", b"a-secret").await,
        Outcome::Granted
    );
    assert_eq!(auth.check(&users, b"amy", b"nope").await, Outcome::Mismatch);
    assert_eq!(auth.check(&users, b"bob", b"x").await, Outcome::UnknownUser);
    assert_eq!(auth.groups(Some(&groups), b"amy").await, ["staff"]);
    // Replaced (a new inode): the new password works once the file is looked at again, the
    // old one no more, however recently it succeeded.
    let replacement = dir.join("users.new");
    std::fs::write(&replacement, format!("amy:{SHA}\n")).unwrap();
    std::fs::rename(&replacement, &users).unwrap();
    tokio::time::advance(RECHECK + Duration::from_millis(1)).await;
    assert_eq!(
        auth.check(&users, b"amy", b"s-secret").await,
        Outcome::Granted
    );
    assert_eq!(
        auth.check(&users, b"amy", b"a-secret").await,
        Outcome::Mismatch
    );
    std::fs::remove_file(&users).unwrap();
    tokio::time::advance(RECHECK + Duration::from_millis(1)).await;
    assert!(matches!(
        auth.check(&users, b"amy", b"s-secret").await,
        Outcome::Unreadable(_)
    ));
    assert!(auth.groups(None, b"amy").await.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

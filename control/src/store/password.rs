//! The two password schemes. Clients send md5hex(plain) as `password`.
//!
//! - TeamTalk rows: `IMUser.password = md5hex(md5hex(plain) + salt)`, salt the
//!   decimal text of a number below 10000.
//! - Users created by ferry: an argon2id PHC string of md5hex(plain) in
//!   `FerryPassword.hash`; `IMUser.password` holds [`ARGON2_MARKER`].
//!
//! Argon2 parameters are the argon2 crate's defaults (argon2id, m = 19 MiB,
//! t = 2, p = 1: OWASP's first recommendation): about 20 ms of one core per
//! check, paid on the blocking pool, never on the reactor.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use md5::{Digest, Md5};

use crate::Error;

/// What `IMUser.password` holds for an argon2 user: not 32 hex digits, so no
/// MD5 comparison (ferry's or a TeamTalk db_proxy's) can ever match it.
pub const ARGON2_MARKER: &str = "!argon2";

pub fn md5_hex(data: &[u8]) -> String {
    let digest = Md5::digest(data);
    let mut out = String::with_capacity(32);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// TeamTalk's stored password: md5hex(client_password + salt), where
/// the client password is md5hex of the plain text.
pub(super) fn teamtalk_row(client_password: &str, salt: &str) -> String {
    md5_hex(format!("{client_password}{salt}").as_bytes())
}

/// TeamTalk's check: stored == [`teamtalk_row`] (any case).
pub(super) fn md5_matches(client_password: &str, salt: &str, stored: &str) -> bool {
    teamtalk_row(client_password, salt).eq_ignore_ascii_case(stored)
}

/// An argon2id PHC string for `client_password` (md5hex of the plain text).
pub(super) fn argon2_hash(client_password: &str) -> Result<String, Error> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| Error::Password(e.to_string()))?;
    Argon2::default()
        .hash_password(client_password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Password(e.to_string()))
}

pub(super) fn argon2_matches(client_password: &str, phc: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    Argon2::default()
        .verify_password(client_password.as_bytes(), &hash)
        .is_ok()
}

/// A TeamTalk salt: decimal text of a number below 10000.
pub(super) fn teamtalk_salt() -> String {
    (rand::random::<u32>() % 10_000).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn teamtalk_md5_scheme() {
        assert_eq!(md5_hex(b"123456"), "e10adc3949ba59abbe56e057f20f883e");
        let client = md5_hex(b"123456");
        let stored = md5_hex(format!("{client}4321").as_bytes());
        assert!(md5_matches(&client, "4321", &stored));
        assert!(md5_matches(&client, "4321", &stored.to_uppercase()));
        assert!(!md5_matches(&client, "4322", &stored));
        assert!(!md5_matches(&client, "", ARGON2_MARKER));
    }

    #[test]
    fn argon2_round_trip() {
        let client = md5_hex(b"secret");
        let phc = argon2_hash(&client).unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(argon2_matches(&client, &phc));
        assert!(!argon2_matches(&md5_hex(b"Secret"), &phc));
        assert!(!argon2_matches(&client, "not a hash"));
        let salt: u32 = teamtalk_salt().parse().unwrap();
        assert!(salt < 10_000);
    }
}

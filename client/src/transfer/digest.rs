//! The end-to-end check of an offline transfer: ferry's relay puts the
//! stored file's SHA-256 on the DONE that ends an upload or a download
//! (`IMFileState.sha256`, field 100, PROTOCOL-EXTENSIONS.md); the client
//! hashes its own copy and compares. A stock relay sends no digest: then
//! nothing is checked.

use std::path::Path;

use sha2::{Digest as _, Sha256};
use tokio::io::AsyncReadExt as _;

use super::Pattern;
use crate::error::{Error, Kind};

/// Bytes read per call while hashing.
const READ: usize = 1 << 20;

/// The SHA-256 of the whole file at `path`.
///
/// Errors: `is_file`.
pub(crate) async fn file_sha256(path: &Path) -> Result<[u8; 32], Error> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| Error::file("opening", path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; READ];
    loop {
        let n = file
            .read(&mut buf)
            .await
            .map_err(|e| Error::file("reading", path, e))?;
        if n == 0 {
            return Ok(hasher.finalize().into());
        }
        hasher.update(&buf[..n]);
    }
}

/// Compares the file at `path` (`what`: "the file sent", "the file
/// received") with the digest the relay's DONE carried, if it carried one.
///
/// Errors: `is_mismatch`; `is_protocol` for a digest that is not 32
/// bytes; `is_file`.
pub(crate) async fn verify(
    path: &Path,
    stored: Option<&[u8]>,
    what: &'static str,
    task_id: &str,
) -> Result<(), Error> {
    let Some(stored) = checked(stored, task_id)? else {
        return Ok(());
    };
    let local = file_sha256(path).await?;
    compare(&local, stored, what, &path.display().to_string(), task_id)
}

/// Compares the first `size` bytes of `pattern` with the digest the
/// relay's DONE carried, if it carried one.
///
/// Errors: `is_mismatch`; `is_protocol` for a digest that is not 32 bytes.
pub(crate) fn verify_pattern(
    pattern: &Pattern,
    size: u64,
    stored: Option<&[u8]>,
    what: &'static str,
    task_id: &str,
) -> Result<(), Error> {
    let Some(stored) = checked(stored, task_id)? else {
        return Ok(());
    };
    let local = pattern.sha256(size);
    let name = format!("(pattern of seed {:#x})", pattern.seed);
    compare(&local, stored, what, &name, task_id)
}

/// The digest, if the DONE carried one of 32 bytes.
fn checked<'a>(stored: Option<&'a [u8]>, task_id: &str) -> Result<Option<&'a [u8]>, Error> {
    let Some(stored) = stored else {
        tracing::debug!(task = %task_id, "the relay's DONE carries no SHA-256 (a stock relay): not checked");
        return Ok(None);
    };
    if stored.len() != 32 {
        return Err(Error::protocol(format!(
            "a SHA-256 of {} bytes on the DONE of task {task_id}",
            stored.len()
        )));
    }
    Ok(Some(stored))
}

fn compare(
    local: &[u8; 32],
    stored: &[u8],
    what: &'static str,
    path: &str,
    task_id: &str,
) -> Result<(), Error> {
    if local[..] != *stored {
        return Err(Error::new(Kind::Mismatch {
            what,
            path: path.to_owned(),
            local: hex(local),
            stored: hex(stored),
        }));
    }
    tracing::debug!(task = %task_id, sha256 = %hex(local), "{what} matches the relay's SHA-256");
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wrong_digest_is_a_mismatch_and_a_right_one_passes() {
        let dir = std::env::temp_dir().join(format!("ferry-digest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f.bin");
        std::fs::write(&path, b"abc").unwrap();
        // sha256("abc"), FIPS 180-2's example.
        let want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(hex(&file_sha256(&path).await.unwrap()), want);
        let right = file_sha256(&path).await.unwrap();
        verify(&path, Some(&right), "the file sent", "t")
            .await
            .unwrap();
        verify(&path, None, "the file sent", "t").await.unwrap();
        let mut wrong = right;
        wrong[0] ^= 1;
        let e = verify(&path, Some(&wrong), "the file received", "t")
            .await
            .unwrap_err();
        assert!(e.is_mismatch(), "{e}");
        assert!(e.to_string().contains(want), "{e}");
        let e = verify(&path, Some(&right[..31]), "the file sent", "t")
            .await
            .unwrap_err();
        assert!(e.is_protocol(), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

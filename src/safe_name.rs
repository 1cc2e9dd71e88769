//! Where `ferry recv` puts a file a peer named: never outside its
//! directory, never over an existing file.
//!
//! A peer's name is bytes (any encoding) and may be hostile: `../x`,
//! `/etc/passwd`, `C:\x`, NUL, control characters, 4 KiB of text. It is
//! reduced to the printable part of its last path component, without a
//! drive prefix or leading dots, capped in bytes at a character boundary
//! (the extension kept); an empty result becomes [`FALLBACK`]. The file is
//! then created with `create_new` under that name or, when it is taken,
//! `name (1).ext`, `name (2).ext`, …

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// The name of a file whose own name has nothing usable.
pub(crate) const FALLBACK: &str = "received-file";
/// Longest name kept, in bytes: file systems allow 255; room is left for
/// a ` (NNNN)` suffix.
pub(crate) const MAX_NAME: usize = 200;
/// Longest extension kept when a long name is cut, in bytes.
const MAX_EXTENSION: usize = 16;
/// Suffixes tried before giving up.
const MAX_SUFFIX: u32 = 10_000;

/// A name safe to create inside a directory, from a peer's `raw` name.
pub(crate) fn sanitize(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let last = text
        .split(['/', '\\'])
        .rev()
        .find(|part| part.chars().any(|c| !c.is_control() && !c.is_whitespace()))
        .unwrap_or("");
    let printable: String = last.chars().filter(|c| !c.is_control()).collect();
    let mut name = strip_drive(&printable)
        .trim()
        .trim_start_matches('.')
        .trim_start()
        .to_string();
    if name.len() > MAX_NAME {
        name = cap(&name);
    }
    if name.is_empty() {
        FALLBACK.to_string()
    } else {
        name
    }
}

/// `C:x` → `x` (a Windows drive-relative name).
fn strip_drive(name: &str) -> &str {
    let b = name.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        &name[2..]
    } else {
        name
    }
}

/// `name` cut to [`MAX_NAME`] bytes at a character boundary, keeping a
/// short extension.
fn cap(name: &str) -> String {
    let ext = name
        .rfind('.')
        .filter(|&i| i > 0 && name.len() - i <= MAX_EXTENSION)
        .map_or("", |i| &name[i..]);
    let mut room = MAX_NAME - ext.len();
    while !name.is_char_boundary(room) {
        room -= 1;
    }
    format!("{}{ext}", name[..room].trim_end())
}

/// `name (n).ext` for `name.ext`.
fn with_suffix(name: &str, n: u32) -> String {
    match name.rfind('.').filter(|&i| i > 0) {
        Some(i) => format!("{} ({n}){}", &name[..i], &name[i..]),
        None => format!("{name} ({n})"),
    }
}

/// Creates a new empty file for `name` (already sanitized) in `dir`:
/// `name`, or the first free `name (n)`. `create_new` makes the claim
/// atomic: an existing file, or one another process creates meanwhile, is
/// never opened.
pub(crate) fn create_unique(dir: &Path, name: &str) -> io::Result<(PathBuf, File)> {
    for n in 0..MAX_SUFFIX {
        let candidate = if n == 0 {
            name.to_string()
        } else {
            with_suffix(name, n)
        };
        let path = dir.join(&candidate);
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("{name} and {MAX_SUFFIX} suffixed names exist"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_become_one_plain_component() {
        let cases: &[(&[u8], &str)] = &[
            (b"report.pdf", "report.pdf"),
            (b"../../etc/passwd", "passwd"),
            (b"/etc/shadow", "shadow"),
            (b"C:\\Windows\\win.ini", "win.ini"),
            (b"C:x", "x"),
            (b"C:\\x", "x"),
            (b"..", FALLBACK),
            (b".", FALLBACK),
            (b"", FALLBACK),
            (b"dir/", "dir"),
            (b"a\0b.txt", "ab.txt"),
            (b"\x1b[31mred\x07.txt", "[31mred.txt"),
            (b"line\nbreak", "linebreak"),
            (b".hidden", "hidden"),
            (b"   ", FALLBACK),
            (b"ok/\0\x01", "ok"),
            (b"\xff\xfe.bin", "\u{fffd}\u{fffd}.bin"),
            ("文件.zip".as_bytes(), "文件.zip"),
        ];
        for (raw, want) in cases {
            assert_eq!(sanitize(raw), *want, "{:?}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn long_names_are_cut_at_a_char_boundary_keeping_the_extension() {
        let long = format!("{}.tar.gz", "é".repeat(2048));
        let name = sanitize(long.as_bytes());
        assert!(name.len() <= MAX_NAME, "{}", name.len());
        assert!(name.ends_with(".gz"), "{name}");
        assert!(name.starts_with('é'));
        let plain = "x".repeat(4096);
        assert_eq!(sanitize(plain.as_bytes()), "x".repeat(MAX_NAME));
        for raw in [plain.as_bytes(), long.as_bytes()] {
            let n = sanitize(raw);
            assert!(!n.contains(['/', '\\', '\0']));
        }
    }

    #[test]
    fn an_existing_file_gets_a_suffix_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), b"first").unwrap();
        let (p1, _) = create_unique(dir.path(), "a.txt").unwrap();
        let (p2, _) = create_unique(dir.path(), "a.txt").unwrap();
        let (p3, _) = create_unique(dir.path(), "noext").unwrap();
        let (p4, _) = create_unique(dir.path(), "noext").unwrap();
        assert_eq!(p1, dir.path().join("a (1).txt"));
        assert_eq!(p2, dir.path().join("a (2).txt"));
        assert_eq!(p3, dir.path().join("noext"));
        assert_eq!(p4, dir.path().join("noext (1)"));
        assert_eq!(std::fs::read(dir.path().join("a.txt")).unwrap(), b"first");
    }
}

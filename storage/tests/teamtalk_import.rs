//! Import of a TeamTalk `offline_file/` tree: sound files become complete
//! tasks with the same bytes; garbage is refused, each with its reason.

mod common;

use std::path::Path;

use common::*;
use ferry_storage::teamtalk_import::{HEADER_LEN, import_teamtalk, parse_header};
use ferry_storage::{RecoveryMode, State, StdFs, Store};

fn header(task: &str, from: &str, to: &str, size: &str) -> Vec<u8> {
    let mut h = vec![0u8; HEADER_LEN];
    for (off, text) in [
        (0, task),
        (128, from),
        (192, to),
        (256, "1700000000"),
        (896, size),
    ] {
        h[off..off + text.len()].copy_from_slice(text.as_bytes());
    }
    h
}

fn write(root: &Path, dir: &str, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(root.join(dir)).unwrap();
    std::fs::write(root.join(dir).join(name), bytes).unwrap();
}

#[test]
fn sound_files_are_imported_and_garbage_is_refused_with_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("offline_file");
    std::fs::create_dir(&src).unwrap();
    let good = "6f9619ff-8b86-4d11-b42d-00c04fc964ff";
    let data = content(100_000, 5);
    write(
        &src,
        "6f",
        good,
        &[header(good, "7", "9", "100000"), data.clone()].concat(),
    );
    let empty = "6faaaaaa-8b86-4d11-b42d-00c04fc964ff";
    write(&src, "6f", empty, &header(empty, "7", "8", "0"));
    let refused = [
        (
            "11111111-0000-4000-8000-000000000001",
            header("11111111-0000-4000-8000-000000000001", "1", "2", "5")[..500].to_vec(),
            "short header",
        ),
        (
            "11111111-0000-4000-8000-000000000002",
            [
                header("11111111-0000-4000-8000-000000000002", "1", "2", "50"),
                vec![1; 20],
            ]
            .concat(),
            "size mismatch",
        ),
        (
            "11111111-0000-4000-8000-000000000003",
            vec![0; HEADER_LEN + 10],
            "all zeros",
        ),
        (
            "11111111-0000-4000-8000-000000000004",
            [header("../../../../etc/passwd", "1", "2", "3"), vec![1; 3]].concat(),
            "not UUID text",
        ),
        (
            "11111111-0000-4000-8000-000000000005",
            [
                header("11111111-0000-4000-8000-000000000005", "x1", "2", "3"),
                vec![1; 3],
            ]
            .concat(),
            "from_user_id is not a number",
        ),
        (
            "11111111-0000-4000-8000-000000000006",
            [
                header("11111111-0000-4000-8000-000000000009", "1", "2", "3"),
                vec![1; 3],
            ]
            .concat(),
            "header names task",
        ),
        (
            "not-a-task-id",
            header("not-a-task-id", "1", "2", "0"),
            "not a task id",
        ),
        ("..", Vec::new(), ""),
    ];
    for (name, bytes, _) in &refused {
        if *name != ".." {
            write(&src, "11", name, bytes);
        }
    }
    write(
        &src,
        "22",
        "11111111-0000-4000-8000-000000000007",
        &header("11111111-0000-4000-8000-000000000007", "1", "2", "0"),
    );
    std::fs::write(src.join("stray"), b"x").unwrap();

    let cfg = config(tmp.path().join("store").to_str().unwrap(), 64 * 1024);
    let (mut s, _) = Store::open(StdFs, &cfg, RecoveryMode::Quick, 0).unwrap();
    let report = import_teamtalk(&src, &mut s, 5_000).unwrap();
    let imported: Vec<String> = report.imported.iter().map(|t| t.to_string()).collect();
    assert_eq!(imported, [good, empty]);
    let reasons: Vec<String> = report.refused.iter().map(|r| r.reason.clone()).collect();
    for (_, _, want) in refused.iter().filter(|r| r.0 != "..") {
        assert!(
            reasons.iter().any(|r| r.contains(want)),
            "no {want:?} in {reasons:?}"
        );
    }
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("directory of its first two")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("not in a task-id directory")),
        "{reasons:?}"
    );
    assert_eq!(report.refused.len(), 9, "{reasons:?}");

    let info = s.stat(good).unwrap();
    assert_eq!((info.from_user, info.to_user, info.size), (7, 9, 100_000));
    assert_eq!((info.state, info.created), (State::Complete, 5_000));
    assert_eq!(info.sha256, Some(sha(&data)));
    assert!(s.read(good, 0, 100_000).unwrap() == data);
    assert_eq!(s.stat(empty).unwrap().state, State::Complete);

    // Importing again refuses what is already there.
    let again = import_teamtalk(&src, &mut s, 5_000).unwrap();
    assert!(again.imported.is_empty());
    assert!(
        again
            .refused
            .iter()
            .any(|r| r.reason.contains("already exists"))
    );
    drop(s);
    let (_, r) = Store::open(StdFs, &cfg, RecoveryMode::Full, 0).unwrap();
    assert!(r.is_sound() && r.tasks == 2, "{:?}", r.issues);
}

#[test]
fn header_fields_are_read_as_teamtalk_writes_them() {
    let h = header(
        "6f9619ff-8b86-4d11-b42d-00c04fc964ff",
        "123",
        "4294967295",
        "4294967295",
    );
    let p = parse_header(&h).unwrap();
    assert_eq!(
        (p.from_user, p.to_user, p.file_size, p.create_time),
        (123, u32::MAX, u64::from(u32::MAX), 1_700_000_000)
    );
    assert!(p.file_name.is_empty());
    assert!(
        parse_header(&header(
            "6f9619ff-8b86-4d11-b42d-00c04fc964ff",
            "",
            "1",
            "1"
        ))
        .unwrap_err()
        .contains("from_user_id")
    );
    assert!(
        parse_header(&header(
            "6f9619ff-8b86-4d11-b42d-00c04fc964ff",
            "1",
            "99999999999",
            "1"
        ))
        .is_err()
    );
}

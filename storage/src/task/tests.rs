use super::*;
use crate::digest::Digest;

fn task(size: u64, block: u32) -> Task {
    let id = TaskId::parse("6f9619ff-8b86-4d11-b42d-00c04fc964ff").unwrap();
    let mut r = Record::new(
        id,
        Geometry::new(size, block).unwrap(),
        1,
        2,
        3,
        b"f".to_vec(),
    );
    r.seq = 1;
    Task::new(r, Arc::new(Health::default()))
}

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Writes, syncs and commits `block` in pieces of `pull` bytes.
fn upload(t: &mut Task, file: &[u8], block: u32, pull: u32) {
    let g = t.geometry();
    for (off, len) in g.pulls(block, pull) {
        let w = t
            .begin_write(off, &file[off as usize..][..len as usize])
            .unwrap();
        t.end_write(w, true);
    }
    let s = t.begin_data_sync().unwrap().unwrap();
    t.end_data_sync(s, true).unwrap();
    let c = t.begin_commit(0).unwrap().unwrap();
    t.end_commit(c, true).unwrap();
}

#[test]
fn only_synced_blocks_are_committed() {
    let file = bytes(10_000, 1);
    let mut t = task(10_000, 4096);
    let w0 = t.begin_write(0, &file[..4096]).unwrap();
    t.end_write(w0, true);
    // Block 0 written but not synced: nothing to commit.
    assert_eq!(t.begin_commit(0).unwrap(), None);
    let s = t.begin_data_sync().unwrap().unwrap();
    // Block 1 written while the sync runs: not covered by it.
    let w1 = t.begin_write(4096, &file[4096..8192]).unwrap();
    t.end_write(w1, true);
    t.end_data_sync(s, true).unwrap();
    let c = t.begin_commit(0).unwrap().unwrap();
    assert_eq!((c.blocks, c.seq), (1, 2));
    // One commit at a time.
    assert_eq!(t.begin_commit(0).unwrap(), None);
    assert_eq!(t.committed(), 0);
    let r = Record::decode(&c.bytes).unwrap();
    assert!(r.committed.get(0) && !r.committed.get(1));
    assert_eq!(r.block_crc[0], crate::crc::crc32c(&file[..4096]));
    assert_eq!(c.offset, 0);
    t.end_commit(c, true).unwrap();
    assert_eq!(t.committed(), 1);
    assert_eq!(t.missing(), [2]);
    assert_eq!(t.committed_ranges(), [(0, 4096)]);
}

#[test]
fn committed_ranges_merge_adjacent_blocks() {
    let file = bytes(5 * 4096 + 10, 9);
    let mut t = task(file.len() as u64, 4096);
    for b in [0, 1, 3, 4, 5] {
        upload(&mut t, &file, b, 4096);
    }
    assert_eq!(t.committed_ranges(), [(0, 8192), (12_288, 8192 + 10)]);
}

#[test]
fn pieces_out_of_order_make_the_right_crc_and_duplicates_are_refused() {
    let file = bytes(10_000, 2);
    let mut t = task(10_000, 4096);
    for (off, len) in [(1000u64, 3096usize), (0, 1000)] {
        let w = t.begin_write(off, &file[off as usize..][..len]).unwrap();
        t.end_write(w, true);
    }
    assert!(matches!(
        t.begin_write(500, &file[500..600]),
        Err(Error::AlreadyExists(_))
    ));
    let s = t.begin_data_sync().unwrap().unwrap();
    t.end_data_sync(s, true).unwrap();
    let c = t.begin_commit(0).unwrap().unwrap();
    t.end_commit(c, true).unwrap();
    t.verify(0, &file[..4096]).unwrap();
    assert!(matches!(
        t.begin_write(0, &file[..10]),
        Err(Error::AlreadyExists(_))
    ));
    assert!(!t.needs(0, 10));
    assert!(t.needs(4096, 10));
}

#[test]
fn pieces_outside_one_block_are_refused() {
    let mut t = task(10_000, 4096);
    for (off, len) in [(4000u64, 200usize), (9_999, 2), (0, 0), (u64::MAX, 1)] {
        assert!(
            matches!(
                t.begin_write(off, &vec![0; len]),
                Err(Error::InvalidArgument(_))
            ),
            "{off} {len}"
        );
    }
}

#[test]
fn a_failed_write_is_asked_again_and_a_failed_sync_poisons() {
    let file = bytes(4096, 3);
    let mut t = task(4096, 4096);
    let w = t.begin_write(0, &file).unwrap();
    assert!(t.missing().is_empty());
    t.end_write(w, false);
    assert_eq!(t.missing(), [0]);
    let w = t.begin_write(0, &file).unwrap();
    t.end_write(w, true);
    let s = t.begin_data_sync().unwrap().unwrap();
    assert!(matches!(t.end_data_sync(s, false), Err(Error::Poisoned)));
    assert!(matches!(t.begin_commit(0), Err(Error::Poisoned)));
    assert!(matches!(t.begin_write(0, &file), Err(Error::Poisoned)));
    assert!(matches!(t.read_plan(0, 1), Err(Error::Poisoned)));
}

#[test]
fn digest_completes_and_downloads_verify_every_block() {
    let file = bytes(10_000, 4);
    let mut t = task(10_000, 4096);
    for b in [2, 0, 1] {
        upload(&mut t, &file, b, 1000);
    }
    assert!(t.needs_digest());
    assert!(t.read_plan(0, 10).is_err());
    let mut d = Digest::new();
    assert!(d.update(&t, 1, &file[4096..8192]).is_err());
    for b in 0..3u32 {
        let g = t.geometry();
        let s = g.block_offset(b) as usize;
        d.update(&t, b, &file[s..s + g.block_len(b) as usize])
            .unwrap();
    }
    t.set_digest(d).unwrap();
    let c = t.begin_commit(0).unwrap().unwrap();
    t.end_commit(c, true).unwrap();
    assert_eq!(t.state(), State::Complete);
    use sha2::Digest as _;
    assert_eq!(
        t.record().sha256.unwrap(),
        <[u8; 32]>::from(sha2::Sha256::digest(&file))
    );
    let plan = t.read_plan(4000, 200).unwrap();
    let blocks: Vec<_> = plan.blocks().collect();
    assert_eq!(blocks, [(0, 0, 4096), (1, 4096, 4096)]);
    let mut out = Vec::new();
    for (b, off, len) in plan.blocks() {
        let block = &file[off as usize..][..len as usize];
        t.verify(b, block).unwrap();
        out.extend_from_slice(plan.slice(b, block));
    }
    assert_eq!(out, &file[4000..4200]);
    assert!(matches!(
        t.begin_write(0, &file[..1]),
        Err(Error::InvalidArgument(_))
    ));
    // A flipped byte is caught; the task becomes damaged and is refused.
    let mut bad = file[..4096].to_vec();
    bad[7] ^= 1;
    assert!(t.verify(0, &bad).unwrap_err().is_corruption());
    assert_eq!(t.mark_bad(0), BadBlock::Damaged);
    assert!(t.read_plan(0, 1).unwrap_err().is_corruption());
    let c = t.begin_commit(0).unwrap().unwrap();
    assert_eq!(Record::decode(&c.bytes).unwrap().state, State::Damaged);
}

#[test]
fn a_bad_block_of_an_upload_is_asked_again() {
    let file = bytes(8192, 5);
    let mut t = task(8192, 4096);
    upload(&mut t, &file, 0, 4096);
    assert_eq!(t.mark_bad(0), BadBlock::Reask);
    assert_eq!(t.missing(), [0, 1]);
    let c = t.begin_commit(0).unwrap().unwrap();
    assert!(!Record::decode(&c.bytes).unwrap().committed.get(0));
    t.end_commit(c, true).unwrap();
    upload(&mut t, &file, 0, 4096);
    upload(&mut t, &file, 1, 4096);
    assert!(t.needs_digest());
}

#[test]
fn several_blocks_per_commit_and_slots_alternate() {
    let file = bytes(5 * 4096, 6);
    let mut t = task(5 * 4096, 4096);
    for b in 0..4u64 {
        let off = b * 4096;
        let w = t.begin_write(off, &file[off as usize..][..4096]).unwrap();
        t.end_write(w, true);
    }
    let s = t.begin_data_sync().unwrap().unwrap();
    assert_eq!(s.blocks, 4);
    t.end_data_sync(s, true).unwrap();
    let c = t.begin_commit(0).unwrap().unwrap();
    assert_eq!(c.blocks, 4);
    let slot = manifest::slot_size(c.bytes.len()) as u64;
    assert_eq!(c.offset, 0);
    t.end_commit(c, true).unwrap();
    upload(&mut t, &file, 4, 4096);
    assert_eq!(t.record().seq, 3);
    t.mark_bad(4);
    let c = t.begin_commit(0).unwrap().unwrap();
    assert_eq!((c.seq, c.offset), (4, 0));
    let _ = slot;
}

/// Writes `len` bytes of `file` at `off`, given to the running digest.
fn write_digesting(t: &mut Task, file: &[u8], off: u64, len: u32) {
    let piece = &file[off as usize..][..len as usize];
    let w = t.begin_write(off, piece).unwrap();
    t.end_write(w, true);
    t.digest_written(w, piece);
}

/// Syncs and commits what is written.
fn commit(t: &mut Task) {
    let s = t.begin_data_sync().unwrap().unwrap();
    t.end_data_sync(s, true).unwrap();
    let c = t.begin_commit(0).unwrap().unwrap();
    t.end_commit(c, true).unwrap();
}

/// Writes `block` in pieces of `pull` bytes, each given to the running
/// digest, then syncs and commits it.
fn upload_digesting(t: &mut Task, file: &[u8], block: u32, pull: u32) {
    for (off, len) in t.geometry().pulls(block, pull) {
        write_digesting(t, file, off, len);
    }
    commit(t);
}

/// Reads back from the digest's next block on, then completes the task.
fn read_back_and_complete(t: &mut Task, mut d: Digest, file: &[u8]) {
    let g = t.geometry();
    for b in d.next_block()..g.block_count() {
        let s = g.block_offset(b) as usize;
        d.update(t, b, &file[s..s + g.block_len(b) as usize])
            .unwrap();
    }
    t.set_digest(d).unwrap();
}

fn sha(file: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(file).into()
}

#[test]
fn an_upload_in_order_is_digested_as_it_is_written() {
    let file = bytes(10_000, 9);
    let mut t = task(10_000, 4096);
    for b in 0..3 {
        upload_digesting(&mut t, &file, b, 1000);
    }
    assert!(t.needs_digest());
    let d = t.take_digest();
    assert_eq!(
        (d.next_block(), d.fed()),
        (3, 10_000),
        "nothing to read back"
    );
    t.set_digest(d).unwrap();
    let c = t.begin_commit(0).unwrap().unwrap();
    t.end_commit(c, true).unwrap();
    assert_eq!(t.record().sha256, Some(sha(&file)));
}

#[test]
fn pieces_out_of_order_are_held_or_read_back() {
    let file = bytes(5 * 4096, 10);
    // Held: block 1 before block 0, within the hold.
    let mut t = task(5 * 4096, 4096);
    t.set_digest_hold(8192);
    for b in [1, 0, 2, 3, 4] {
        upload_digesting(&mut t, &file, b, 4096);
    }
    let d = t.take_digest();
    assert_eq!(d.next_block(), 5);
    t.set_digest(d).unwrap();
    assert_eq!(t.next.sha256, Some(sha(&file)));

    // Past the hold (nothing held): the running digest stops at block 0's
    // end; the rest is read back, each block checked.
    let mut t = task(5 * 4096, 4096);
    for b in [0, 2, 1, 3, 4] {
        upload_digesting(&mut t, &file, b, 4096);
    }
    let d = t.take_digest();
    assert_eq!(d.next_block(), 1);
    read_back_and_complete(&mut t, d, &file);
    assert_eq!(t.next.sha256, Some(sha(&file)));
}

#[test]
fn read_back_goes_on_inside_a_block_the_running_digest_began() {
    let file = bytes(8192, 11);
    let mut t = task(8192, 4096);
    // Half of block 0 is fed; block 1 comes before the other half and
    // stops the digest (nothing may be held).
    write_digesting(&mut t, &file, 0, 2048);
    upload_digesting(&mut t, &file, 1, 4096);
    write_digesting(&mut t, &file, 2048, 2048);
    commit(&mut t);
    let d = t.take_digest();
    assert_eq!((d.next_block(), d.fed()), (0, 2048));
    read_back_and_complete(&mut t, d, &file);
    assert_eq!(t.next.sha256, Some(sha(&file)));
}

#[test]
fn a_block_asked_again_or_a_resumed_upload_reads_back_from_the_start() {
    let file = bytes(8192, 12);
    let mut t = task(8192, 4096);
    upload_digesting(&mut t, &file, 0, 4096);
    assert_eq!(t.mark_bad(0), BadBlock::Reask);
    let c = t.begin_commit(0).unwrap().unwrap();
    t.end_commit(c, true).unwrap();
    upload_digesting(&mut t, &file, 0, 4096);
    upload_digesting(&mut t, &file, 1, 4096);
    let d = t.take_digest();
    assert_eq!(d.next_block(), 0, "block 0 was fed, then asked again");
    read_back_and_complete(&mut t, d, &file);
    assert_eq!(t.next.sha256, Some(sha(&file)));

    // A task loaded with a committed block has no running digest.
    let mut t = task(8192, 4096);
    upload_digesting(&mut t, &file, 0, 4096);
    let mut loaded = Task::new(t.record().clone(), Arc::new(Health::default()));
    upload_digesting(&mut loaded, &file, 1, 4096);
    assert_eq!(loaded.take_digest().next_block(), 0);
}

#[test]
fn a_parked_digest_lets_go_of_what_it_held() {
    let file = bytes(3 * 4096, 13);
    let mut t = task(3 * 4096, 4096);
    t.set_digest_hold(1 << 20);
    upload_digesting(&mut t, &file, 0, 4096);
    upload_digesting(&mut t, &file, 2, 4096);
    let held = |t: &Task| t.running.as_ref().map(|r| r.held_bytes());
    assert_eq!(held(&t), Some(4096), "block 2 held ahead of the digest");
    t.park_digest();
    assert_eq!(held(&t), Some(0), "let go when nobody uploads");
    upload_digesting(&mut t, &file, 1, 4096);
    let d = t.take_digest();
    assert_eq!(d.next_block(), 1, "the digest stopped where it was");
    read_back_and_complete(&mut t, d, &file);
    assert_eq!(t.next.sha256, Some(sha(&file)));
}

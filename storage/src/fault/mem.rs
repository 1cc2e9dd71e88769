//! The in-memory model behind [`FaultFs`] (see the module above).

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::rng::Rng;
use crate::fs::{Entry, FileSystem};

/// What operation N does instead of succeeding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Fails with an I/O error; nothing happens.
    Error,
    /// A write stores only its first half, then fails (other calls: `Error`).
    ShortWrite,
    /// A sync fails and makes nothing durable (other calls: `Error`).
    SyncFail,
    /// The machine dies: this call and every later one fail until
    /// [`FaultFs::crash`].
    Crash,
}

/// What a power cut does to unsynced writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashMode {
    /// Every unsynced write is lost.
    LoseUnsynced,
    /// Each unsynced write is kept, lost, or cut short at a random byte,
    /// independently, from this seed.
    Tear {
        /// Seed of the random choices.
        seed: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Dir,
    File(u64),
}

#[derive(Debug, Clone)]
enum Pending {
    Write(u64, Vec<u8>),
    Len(u64),
}

#[derive(Debug, Clone, Default)]
struct Inode {
    live: Vec<u8>,
    durable: Vec<u8>,
    pending: Vec<Pending>,
}

#[derive(Debug)]
struct State {
    ops: u64,
    fail_at: Option<(u64, Fault)>,
    dead: bool,
    /// The kind of operation the planned fault hit, once it did.
    hit: Option<Kind>,
    free: u64,
    next_ino: u64,
    inodes: HashMap<u64, Inode>,
    live: BTreeMap<PathBuf, Node>,
    durable: BTreeMap<PathBuf, Node>,
}

/// An in-memory file system that models crashes and injects faults.
#[derive(Debug)]
pub struct FaultFs {
    state: Mutex<State>,
}

impl Default for FaultFs {
    fn default() -> FaultFs {
        FaultFs::new()
    }
}

fn err(kind: io::ErrorKind, what: &str) -> io::Error {
    io::Error::new(kind, what.to_string())
}

fn apply(data: &mut Vec<u8>, p: &Pending) {
    match p {
        Pending::Write(off, bytes) => {
            let end = *off as usize + bytes.len();
            if data.len() < end {
                data.resize(end, 0);
            }
            data[*off as usize..end].copy_from_slice(bytes);
        }
        Pending::Len(len) => data.resize(*len as usize, 0),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Write,
    Sync,
    Other,
}

impl FaultFs {
    /// An empty file system with only `/`, and 1 TiB free.
    pub fn new() -> FaultFs {
        let mut root = BTreeMap::new();
        root.insert(PathBuf::from("/"), Node::Dir);
        FaultFs {
            state: Mutex::new(State {
                ops: 0,
                fail_at: None,
                dead: false,
                hit: None,
                free: 1 << 40,
                next_ino: 1,
                inodes: HashMap::new(),
                live: root.clone(),
                durable: root,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("fault fs lock")
    }

    /// Operations counted so far.
    pub fn ops(&self) -> u64 {
        self.lock().ops
    }

    /// Makes operation number `op` (counting from 1, see [`FaultFs::ops`])
    /// fail with `fault`.
    pub fn fail_at(&self, op: u64, fault: Fault) {
        self.lock().fail_at = Some((op, fault));
    }

    /// Bytes [`FileSystem::free_space`] reports.
    pub fn set_free_space(&self, bytes: u64) {
        self.lock().free = bytes;
    }

    /// Whether a [`Fault::Crash`] happened and [`FaultFs::crash`] was not
    /// called since.
    pub fn is_dead(&self) -> bool {
        self.lock().dead
    }

    /// The power cut: keeps only what was synced (and, with
    /// [`CrashMode::Tear`], a random part of what was not), then runs again
    /// with no fault planned.
    pub fn crash(&self, mode: CrashMode) {
        let mut s = self.lock();
        let mut rng = match mode {
            CrashMode::LoseUnsynced => None,
            CrashMode::Tear { seed } => Some(Rng::new(seed)),
        };
        let mut inos: Vec<u64> = s.inodes.keys().copied().collect();
        inos.sort_unstable();
        for ino in inos {
            let node = s.inodes.get_mut(&ino).expect("inode");
            let mut data = node.durable.clone();
            if let Some(rng) = rng.as_mut() {
                for p in &node.pending {
                    match rng.below(3) {
                        0 => apply(&mut data, p),
                        1 => {}
                        _ => match p {
                            Pending::Write(off, bytes) => {
                                let n = rng.below(bytes.len() as u64 + 1) as usize;
                                apply(&mut data, &Pending::Write(*off, bytes[..n].to_vec()));
                            }
                            Pending::Len(_) => apply(&mut data, p),
                        },
                    }
                }
            }
            node.durable = data.clone();
            node.live = data;
            node.pending.clear();
        }
        s.live = s.durable.clone();
        s.dead = false;
        s.fail_at = None;
        s.hit = None;
    }

    /// XORs `mask` into byte `offset` of `path`, durably (bit rot).
    pub fn corrupt(&self, path: &Path, offset: u64, mask: u8) {
        let mut s = self.lock();
        let Some(Node::File(ino)) = s.live.get(path).copied() else {
            panic!("corrupt: no file {}", path.display());
        };
        let node = s.inodes.get_mut(&ino).expect("inode");
        node.live[offset as usize] ^= mask;
        node.durable[offset as usize] ^= mask;
    }

    /// Counts an operation and applies a planned fault to it.
    fn step(&self, s: &mut State, kind: Kind) -> io::Result<Option<Fault>> {
        if s.dead {
            return Err(err(io::ErrorKind::Other, "injected: machine crashed"));
        }
        s.ops += 1;
        match s.fail_at {
            Some((n, fault)) if n == s.ops => {
                s.hit = Some(kind);
                Self::inject(s, fault, kind)
            }
            _ => Ok(None),
        }
    }

    fn inject(s: &mut State, fault: Fault, kind: Kind) -> io::Result<Option<Fault>> {
        match fault {
            Fault::Crash => {
                s.dead = true;
                Err(err(io::ErrorKind::Other, "injected: crash"))
            }
            Fault::ShortWrite if kind == Kind::Write => Ok(Some(Fault::ShortWrite)),
            Fault::SyncFail if kind == Kind::Sync => {
                Err(err(io::ErrorKind::Other, "injected: sync failed"))
            }
            _ => Err(err(io::ErrorKind::Other, "injected: I/O error")),
        }
    }

    /// Whether the planned fault has happened.
    pub fn fault_hit(&self) -> bool {
        self.lock().hit.is_some()
    }

    /// Whether the planned fault hit a sync (`sync_data`, `sync_all`,
    /// `sync_dir`): after it, the store must be poisoned.
    pub fn fault_hit_sync(&self) -> bool {
        self.lock().hit == Some(Kind::Sync)
    }

    fn file(s: &State, path: &Path) -> io::Result<u64> {
        match s.live.get(path) {
            Some(Node::File(ino)) => Ok(*ino),
            Some(Node::Dir) => Err(err(io::ErrorKind::IsADirectory, "is a directory")),
            None => Err(err(io::ErrorKind::NotFound, "no such file")),
        }
    }

    fn parent_is_dir(s: &State, path: &Path) -> io::Result<()> {
        match path.parent().map(|p| s.live.get(p)) {
            Some(Some(Node::Dir)) => Ok(()),
            _ => Err(err(io::ErrorKind::NotFound, "no parent directory")),
        }
    }

    fn insert_new(s: &mut State, path: &Path, node: Node) -> io::Result<()> {
        Self::parent_is_dir(s, path)?;
        if s.live.contains_key(path) {
            return Err(err(io::ErrorKind::AlreadyExists, "exists"));
        }
        s.live.insert(path.to_path_buf(), node);
        Ok(())
    }
}

impl FileSystem for FaultFs {
    fn create_dir(&self, path: &Path) -> io::Result<()> {
        let mut s = self.lock();
        self.step(&mut s, Kind::Other)?;
        Self::insert_new(&mut s, path, Node::Dir)
    }

    fn create_file(&self, path: &Path, len: u64, _reserve: bool) -> io::Result<()> {
        let mut s = self.lock();
        self.step(&mut s, Kind::Other)?;
        let ino = s.next_ino;
        Self::insert_new(&mut s, path, Node::File(ino))?;
        s.next_ino += 1;
        s.inodes.insert(
            ino,
            Inode {
                live: vec![0; len as usize],
                durable: Vec::new(),
                pending: vec![Pending::Len(len)],
            },
        );
        Ok(())
    }

    fn write_at(&self, path: &Path, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let mut s = self.lock();
        let fault = self.step(&mut s, Kind::Write)?;
        let ino = Self::file(&s, path)?;
        let n = if fault.is_some() {
            bytes.len() / 2
        } else {
            bytes.len()
        };
        let p = Pending::Write(offset, bytes[..n].to_vec());
        let node = s.inodes.get_mut(&ino).expect("inode");
        apply(&mut node.live, &p);
        node.pending.push(p);
        match fault {
            Some(_) => Err(err(io::ErrorKind::WriteZero, "injected: short write")),
            None => Ok(()),
        }
    }

    fn read_at(&self, path: &Path, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let mut s = self.lock();
        self.step(&mut s, Kind::Other)?;
        let ino = Self::file(&s, path)?;
        let data = &s.inodes[&ino].live;
        let start = (offset as usize).min(data.len());
        let n = (data.len() - start).min(buf.len());
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let mut s = self.lock();
        self.step(&mut s, Kind::Other)?;
        let ino = Self::file(&s, path)?;
        Ok(s.inodes[&ino].live.clone())
    }

    fn len(&self, path: &Path) -> io::Result<u64> {
        let mut s = self.lock();
        self.step(&mut s, Kind::Other)?;
        let ino = Self::file(&s, path)?;
        Ok(s.inodes[&ino].live.len() as u64)
    }

    fn links(&self, path: &Path) -> io::Result<u64> {
        let mut s = self.lock();
        self.step(&mut s, Kind::Other)?;
        let ino = Self::file(&s, path)?;
        Ok(s.live.values().filter(|n| **n == Node::File(ino)).count() as u64)
    }

    fn sync_data(&self, path: &Path) -> io::Result<()> {
        let mut s = self.lock();
        self.step(&mut s, Kind::Sync)?;
        let ino = Self::file(&s, path)?;
        let node = s.inodes.get_mut(&ino).expect("inode");
        node.durable = node.live.clone();
        node.pending.clear();
        Ok(())
    }

    fn sync_all(&self, path: &Path) -> io::Result<()> {
        self.sync_data(path)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let mut s = self.lock();
        self.step(&mut s, Kind::Sync)?;
        if s.live.get(path) != Some(&Node::Dir) {
            return Err(err(io::ErrorKind::NotFound, "no such directory"));
        }
        let children = |m: &BTreeMap<PathBuf, Node>| -> Vec<PathBuf> {
            m.keys()
                .filter(|k| k.parent() == Some(path))
                .cloned()
                .collect()
        };
        for k in children(&s.durable) {
            if !s.live.contains_key(&k) {
                s.durable.remove(&k);
            }
        }
        for k in children(&s.live) {
            let n = s.live[&k];
            s.durable.insert(k, n);
        }
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut s = self.lock();
        self.step(&mut s, Kind::Other)?;
        Self::file(&s, path)?;
        s.live.remove(path);
        Ok(())
    }

    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        let mut s = self.lock();
        self.step(&mut s, Kind::Other)?;
        if s.live.get(path) != Some(&Node::Dir) {
            return Err(err(io::ErrorKind::NotFound, "no such directory"));
        }
        if s.live.keys().any(|k| k.parent() == Some(path)) {
            return Err(err(io::ErrorKind::DirectoryNotEmpty, "not empty"));
        }
        s.live.remove(path);
        Ok(())
    }

    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.lock();
        self.step(&mut s, Kind::Other)?;
        let ino = Self::file(&s, from)?;
        Self::insert_new(&mut s, to, Node::File(ino))
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<Entry>> {
        let mut s = self.lock();
        self.step(&mut s, Kind::Other)?;
        if s.live.get(dir) != Some(&Node::Dir) {
            return Err(err(io::ErrorKind::NotFound, "no such directory"));
        }
        Ok(s.live
            .iter()
            .filter(|(k, _)| k.parent() == Some(dir))
            .map(|(k, n)| Entry {
                name: k.file_name().expect("name").to_os_string(),
                is_dir: *n == Node::Dir,
            })
            .collect())
    }

    fn exists(&self, path: &Path) -> bool {
        self.lock().live.contains_key(path)
    }

    fn free_space(&self, _path: &Path) -> io::Result<u64> {
        Ok(self.lock().free)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    #[test]
    fn only_synced_bytes_and_entries_survive_a_crash() {
        let fs = FaultFs::new();
        fs.create_dir(&p("/d")).unwrap();
        fs.create_file(&p("/d/f"), 4, false).unwrap();
        fs.write_at(&p("/d/f"), 0, b"abcd").unwrap();
        fs.sync_data(&p("/d/f")).unwrap();
        // The file's bytes are durable, but not its name.
        fs.crash(CrashMode::LoseUnsynced);
        assert!(!fs.exists(&p("/d")));
        fs.create_dir(&p("/d")).unwrap();
        fs.sync_dir(&p("/")).unwrap();
        fs.create_file(&p("/d/f"), 4, false).unwrap();
        fs.write_at(&p("/d/f"), 0, b"abcd").unwrap();
        fs.sync_data(&p("/d/f")).unwrap();
        fs.sync_dir(&p("/d")).unwrap();
        fs.write_at(&p("/d/f"), 0, b"XY").unwrap();
        fs.hard_link(&p("/d/f"), &p("/d/g")).unwrap();
        assert_eq!(fs.links(&p("/d/f")).unwrap(), 2);
        fs.crash(CrashMode::LoseUnsynced);
        assert_eq!(fs.read(&p("/d/f")).unwrap(), b"abcd");
        assert!(!fs.exists(&p("/d/g")));
        // A removal is undone by a crash until the directory is synced.
        fs.remove_file(&p("/d/f")).unwrap();
        fs.crash(CrashMode::LoseUnsynced);
        assert!(fs.exists(&p("/d/f")));
        fs.remove_file(&p("/d/f")).unwrap();
        fs.sync_dir(&p("/d")).unwrap();
        fs.crash(CrashMode::LoseUnsynced);
        assert!(!fs.exists(&p("/d/f")));
    }

    #[test]
    fn tears_keep_drop_or_cut_unsynced_writes() {
        let mut seen = std::collections::HashSet::new();
        for seed in 0..40 {
            let fs = FaultFs::new();
            fs.create_file(&p("/f"), 8, false).unwrap();
            fs.sync_data(&p("/f")).unwrap();
            fs.sync_dir(&p("/")).unwrap();
            fs.write_at(&p("/f"), 0, b"12345678").unwrap();
            fs.crash(CrashMode::Tear { seed });
            let d = fs.read(&p("/f")).unwrap();
            assert_eq!(d.len(), 8);
            let kept = d.iter().take_while(|&&b| b != 0).count();
            assert!(d[kept..].iter().all(|&b| b == 0), "a prefix survives");
            seen.insert(kept);
        }
        assert!(
            seen.contains(&0) && seen.contains(&8) && seen.len() > 2,
            "{seen:?}"
        );
    }

    #[test]
    fn planned_faults_hit_their_operation() {
        let fs = FaultFs::new();
        fs.create_file(&p("/f"), 4, false).unwrap();
        fs.fail_at(fs.ops() + 1, Fault::ShortWrite);
        assert!(fs.write_at(&p("/f"), 0, b"abcd").is_err());
        assert_eq!(fs.read(&p("/f")).unwrap(), b"ab\0\0");
        fs.fail_at(fs.ops() + 1, Fault::SyncFail);
        assert!(fs.sync_data(&p("/f")).is_err());
        assert!(fs.fault_hit_sync());
        fs.fail_at(fs.ops() + 2, Fault::Crash);
        fs.read(&p("/f")).unwrap();
        assert!(fs.read(&p("/f")).is_err());
        assert!(fs.is_dead() && fs.read(&p("/f")).is_err());
        fs.crash(CrashMode::LoseUnsynced);
        assert!(!fs.exists(&p("/f")), "never synced into /");
    }
}

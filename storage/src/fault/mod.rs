//! A file system for tests that models what a crash keeps and injects
//! faults, the way raft-engine's recovery tests do.
//!
//! [`FaultFs`] is in memory. Each file has the bytes a reader sees (`live`)
//! and the bytes that would survive a power cut (`durable`); each directory
//! entry likewise. `sync_data`/`sync_all` make a file's bytes durable,
//! `sync_dir` makes a directory's entries (creates, links, removes)
//! durable, and nothing else does. [`FaultFs::crash`] is the power cut:
//! unsynced entries vanish, and unsynced writes are lost
//! ([`CrashMode::LoseUnsynced`]) or kept, dropped or cut short at random
//! from a seed ([`CrashMode::Tear`]).
//!
//! Every call except `exists` and `free_space` counts as one operation;
//! [`FaultFs::fail_at`] makes operation N fail with a [`Fault`]: an I/O
//! error, a short write, a failed sync, or a crash (that call and every
//! later one fails until [`FaultFs::crash`] restarts the machine).

mod mem;
mod rng;

pub use mem::{CrashMode, Fault, FaultFs};
pub use rng::Rng;

//! # ferry-storage
//!
//! The offline block store (docs/ARCHITECTURE.md): per-task data files and
//! checksummed, versioned manifests with breakpoint resume. The format and
//! recovery logic will be runtime-free; the relay does the I/O.
//!
//! Nothing is implemented yet: the offline block store issue fills this crate.

//! # ferry (root package)
//!
//! The one binary (`src/main.rs`, `src/cli.rs`: thin wiring) and the part of
//! it tests and benches share: configuration.
//!
//! # Layout
//!
//! - [`config`]: the TOML file (one section per service, each the service's
//!   own settings struct), environment overrides, flags, and the check that
//!   names every problem by its key.

pub mod config;

//! # ferry (root package)
//!
//! The one binary (`src/main.rs`, `src/cli.rs`: thin wiring) and the part of
//! it tests and benches share: configuration.
//!
//! # Layout
//!
//! - [`config`]: the TOML file schema with TeamTalk's defaults, environment
//!   overrides, validation into the typed [`config::Config`] each service
//!   is started with.

pub mod config;

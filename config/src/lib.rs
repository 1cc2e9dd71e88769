//! # ferry-config
//!
//! What every service's configuration is made of. Each service defines its
//! settings once, as a struct of its own crate that derives serde's
//! `Deserialize` and `Serialize` (`ferry_relay::Config`,
//! `ferry_control::db_proxy::Config`, …): the TOML file, the
//! `FERRY_<SECTION>__<KEY>` environment overrides, the `--set` and named
//! flags and `ferry config check` all read and print that one struct, so
//! adding a key is one edit (a field with its doc and default). This crate
//! has the pieces those structs share. No I/O, no runtime.
//!
//! # Layout
//!
//! - [`value`]: serde helpers for values written as text: sizes
//!   (`"4MiB"`), durations (`"10s"`), `IP:PORT` addresses with errors that
//!   say what is wrong (`port 70000 is out of range`), optional addresses
//!   and IPs (`""` is none).
//! - [`problem`]: [`Problem`] (one key, what is wrong with it) and
//!   [`Problems`], which a service's `validate` fills with every problem it
//!   finds rather than stopping at the first; [`Validate`].

pub mod problem;
pub mod value;

pub use problem::{Problem, Problems, Validate};

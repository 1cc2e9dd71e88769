//! # ferry-control
//!
//! The control plane on tokio (DESIGN.md, "Control plane"): msg_server,
//! route_server, db_proxy and login_server. Never depends on monoio.
//!
//! Nothing is implemented yet: the db_proxy and msg/route/login issues fill
//! this crate.

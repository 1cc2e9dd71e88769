//! prost types generated from `proto/*.proto` by `build.rs`. Module paths
//! follow the packages: `IM.File` is `pb::im::file`, `IM.BaseDefine` is
//! `pb::im::base_define`. `bytes` fields are `bytes::Bytes`.

#![allow(unreachable_pub, clippy::all, missing_docs)]

include!(concat!(env!("OUT_DIR"), "/pb.rs"));

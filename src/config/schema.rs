//! The config file: one section per service, each the service's own
//! settings struct (defined once, in its crate), so the file, the
//! environment, the flags and `config check` all read the same definition.
//!
//! The storage section holds the data directory the embedded database
//! lives in (and, with the offline store, the files).

use std::path::PathBuf;

use ferry_config::{Problems, Validate};
use serde::{Deserialize, Serialize};

/// The whole file. Unknown sections and keys are refused by the loader
/// (`super::load_from`), which knows every key from the serialized
/// defaults.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FileConfig {
    pub relay: ferry_relay::Config,
    pub msg_server: ferry_control::msg_server::Config,
    pub route_server: ferry_control::route_server::Config,
    pub db_proxy: ferry_control::db_proxy::Config,
    pub login_server: ferry_control::login_server::Config,
    pub storage: StorageFile,
    pub offline: OfflineFile,
}

impl FileConfig {
    /// Every section's own checks, problems named `section.key`.
    pub fn validate(&self) -> Vec<ferry_config::Problem> {
        fn section(name: &str, s: &dyn Validate, out: &mut Vec<ferry_config::Problem>) {
            let mut p = Problems::new(name);
            s.validate(&mut p);
            out.extend(p.into_vec());
        }
        let mut out = Vec::new();
        section("relay", &self.relay, &mut out);
        section("msg_server", &self.msg_server, &mut out);
        section("route_server", &self.route_server, &mut out);
        section("db_proxy", &self.db_proxy, &mut out);
        section("login_server", &self.login_server, &mut out);
        section("storage", &self.storage, &mut out);
        section("offline", &self.offline, &mut out);
        out
    }
}

/// Where ferry keeps what it persists: offline files and the embedded SQLite.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageFile {
    /// A directory; relative paths are from the working directory.
    pub data_dir: PathBuf,
}

impl Default for StorageFile {
    fn default() -> Self {
        StorageFile {
            data_dir: PathBuf::from("ferry-data"),
        }
    }
}

impl Validate for StorageFile {
    fn validate(&self, p: &mut Problems) {
        if self.data_dir.as_os_str().is_empty() {
            p.fail("data_dir", "must not be empty");
        }
    }
}

/// The relay's offline block store (ferry-storage): off unless `enabled`;
/// the other keys are `ferry_storage::Config`'s, documented there, with
/// its defaults (a flattened struct takes its own defaults, not ours).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct OfflineFile {
    /// Serve offline transfers (keep files for receivers not online).
    /// Off: the relay refuses them, as TeamTalk without storage would.
    pub enabled: bool,
    #[serde(flatten)]
    pub store: ferry_storage::Config,
}

impl OfflineFile {
    /// What the relay is given: the store's settings when enabled.
    pub fn relay_store(&self) -> Option<ferry_storage::Config> {
        self.enabled.then(|| self.store.clone())
    }
}

impl Validate for OfflineFile {
    fn validate(&self, p: &mut Problems) {
        if self.enabled {
            self.store.validate(p);
        }
    }
}

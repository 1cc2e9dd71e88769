//! Environment overrides: `FERRY_<SECTION>__<KEY>=value` sets `section.key`,
//! e.g. `FERRY_RELAY__CORES=4` or `FERRY_MSG_SERVER__DB_PROXY=10.0.0.2:10600`.
//!
//! The value is typed by the key's default: integers and booleans are parsed,
//! lists are split on commas, anything else stays text. Variables without a
//! `__` (FERRY_CONFIG, FERRY_TEST_…) are not overrides and are left alone; an
//! override naming an unknown section or key is refused by the schema like a
//! typo in the file.

use std::collections::BTreeMap;

use toml::{Table, Value};

use super::Problem;

pub(crate) const PREFIX: &str = "FERRY_";

/// Which variable set which key, so errors can name where a value came from.
pub(crate) type Origins = BTreeMap<String, String>;

/// Applies every override in `vars` to `table`, typed by `defaults`.
pub(crate) fn apply(
    table: &mut Table,
    defaults: &Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Origins, Problem> {
    let mut origins = Origins::new();
    for (name, raw) in vars {
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let Some((section, key)) = rest.split_once("__") else {
            continue;
        };
        let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
        if key.contains("__") || section.is_empty() || key.is_empty() {
            return Err(Problem {
                key: format!("{section}.{key}"),
                problem: format!("{name} is not of the form FERRY_<SECTION>__<KEY>"),
                origin: Some(name.clone()),
            });
        }
        set(table, defaults, &section, &key, &raw, &name)?;
        origins.insert(format!("{section}.{key}"), name);
    }
    Ok(origins)
}

/// Sets `section.key` to `raw` in `table`, typed by the key's default
/// (`origin` names where the value came from, for problems).
pub(crate) fn set(
    table: &mut Table,
    defaults: &Table,
    section: &str,
    key: &str,
    raw: &str,
    origin: &str,
) -> Result<(), Problem> {
    let problem = |what: String| Problem {
        key: format!("{section}.{key}"),
        problem: what,
        origin: Some(origin.to_string()),
    };
    let default = defaults
        .get(section)
        .and_then(Value::as_table)
        .and_then(|t| t.get(key));
    let value = typed(default, raw).map_err(problem)?;
    let entry = table
        .entry(section.to_string())
        .or_insert_with(|| Value::Table(Table::new()));
    let Value::Table(section_table) = entry else {
        return Err(problem(
            "the section is not a table in the config file".into(),
        ));
    };
    section_table.insert(key.to_string(), value);
    Ok(())
}

fn typed(default: Option<&Value>, raw: &str) -> Result<Value, String> {
    Ok(match default {
        Some(Value::Integer(_)) => Value::Integer(
            raw.trim()
                .parse()
                .map_err(|_| format!("expected a whole number, got {raw:?}"))?,
        ),
        Some(Value::Boolean(_)) => Value::Boolean(
            raw.trim()
                .parse()
                .map_err(|_| format!("expected true or false, got {raw:?}"))?,
        ),
        Some(Value::Array(_)) => Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.into()))
                .collect(),
        ),
        _ => Value::String(raw.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Table {
        toml::from_str("[relay]\ncores = 0\nclient_listen = \"x\"\nmsg_allow = []\n").unwrap()
    }

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn overrides_are_typed_by_their_default() {
        let mut table = Table::new();
        let env = vars(&[
            ("FERRY_RELAY__CORES", "4"),
            ("FERRY_RELAY__CLIENT_LISTEN", "127.0.0.1:9"),
            ("FERRY_RELAY__MSG_ALLOW", "10.0.0.1, 10.0.0.2"),
            ("FERRY_CONFIG", "ignored.toml"),
            ("FERRY_TEST_MYSQL_URL", "mysql://ignored"),
            ("HOME", "/root"),
        ]);
        let origins = apply(&mut table, &defaults(), env).unwrap();
        let expected: Table = toml::from_str(
            "[relay]\ncores = 4\nclient_listen = \"127.0.0.1:9\"\nmsg_allow = [\"10.0.0.1\", \"10.0.0.2\"]\n",
        )
        .unwrap();
        assert_eq!(table, expected);
        assert_eq!(origins["relay.cores"], "FERRY_RELAY__CORES");
        assert_eq!(origins.len(), 3);
    }

    #[test]
    fn a_bad_number_names_the_variable() {
        let err = apply(
            &mut Table::new(),
            &defaults(),
            vars(&[("FERRY_RELAY__CORES", "four")]),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "relay.cores: expected a whole number, got \"four\" (from FERRY_RELAY__CORES)"
        );
    }
}

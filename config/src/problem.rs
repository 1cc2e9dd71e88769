//! Problems named by key. A service's settings are checked as a whole and
//! every problem is reported, each with the key it is about, so one run of
//! `ferry config check` shows everything that is wrong.

use std::fmt;

/// One thing wrong with one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `section.key`, e.g. `relay.window`.
    pub key: String,
    pub problem: String,
    /// The environment variable the value came from, if not the file.
    pub origin: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.problem)?;
        if let Some(var) = &self.origin {
            write!(f, " (from {var})")?;
        }
        Ok(())
    }
}

/// Problems found while checking one section (`section` prefixes each key).
#[derive(Debug, Default)]
pub struct Problems {
    section: String,
    found: Vec<Problem>,
}

impl Problems {
    /// Collects problems of the section named `section` (`"relay"`).
    pub fn new(section: &str) -> Problems {
        Problems {
            section: section.to_string(),
            found: Vec::new(),
        }
    }

    /// Records that `key` (within the section) is wrong.
    pub fn fail(&mut self, key: &str, problem: impl Into<String>) {
        self.found.push(Problem {
            key: format!("{}.{key}", self.section),
            problem: problem.into(),
            origin: None,
        });
    }

    /// Fails `key` unless `value` lies in `range`.
    pub fn range<T>(&mut self, key: &str, value: T, range: std::ops::RangeInclusive<T>)
    where
        T: PartialOrd + fmt::Display + Copy,
    {
        if !range.contains(&value) {
            self.fail(
                key,
                format!(
                    "{value} is out of range ({}-{})",
                    range.start(),
                    range.end()
                ),
            );
        }
    }

    pub fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    pub fn into_vec(self) -> Vec<Problem> {
        self.found
    }
}

/// Checks a section's values beyond their types: ranges and rules between
/// keys. Every problem goes into `problems`; nothing stops at the first.
pub trait Validate {
    fn validate(&self, problems: &mut Problems);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_carry_their_section_and_every_failure() {
        let mut p = Problems::new("relay");
        p.range("window", 0u32, 1..=1024);
        p.range("cores", 4u32, 0..=1024);
        p.fail("advertise", "0.0.0.0 cannot be advertised");
        let list: Vec<String> = p.into_vec().iter().map(ToString::to_string).collect();
        assert_eq!(
            list,
            [
                "relay.window: 0 is out of range (1-1024)",
                "relay.advertise: 0.0.0.0 cannot be advertised"
            ]
        );
    }
}

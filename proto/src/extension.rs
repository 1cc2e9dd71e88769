//! Ids reserved for ferry's wire extensions (DESIGN.md, "Extensions").
//!
//! New commands take ids from these ranges, which no stock TeamTalk command
//! uses; new fields of existing messages are `optional` with numbers from
//! [`FIRST_EXTENSION_FIELD`] up, so stock peers skip them as unknown fields.
//! Every extension defined is listed in `PROTOCOL-EXTENSIONS.md` at the root.

use std::ops::RangeInclusive;

/// New file-service commands (SID_FILE).
pub const FILE_EXTENSION_COMMANDS: RangeInclusive<u16> = 0x0580..=0x05ff;
/// New other-service commands (SID_OTHER).
pub const OTHER_EXTENSION_COMMANDS: RangeInclusive<u16> = 0x0780..=0x07ff;
/// First field number an extension field may use.
pub const FIRST_EXTENSION_FIELD: u32 = 100;

/// Whether `command_id` lies in a range reserved for ferry's extensions.
pub fn is_extension_command(command_id: u16) -> bool {
    FILE_EXTENSION_COMMANDS.contains(&command_id) || OTHER_EXTENSION_COMMANDS.contains(&command_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::COMMANDS;
    use crate::schema::ALL_SCHEMAS;

    #[test]
    fn no_stock_command_or_field_lies_in_the_reserved_space() {
        assert!(
            COMMANDS
                .iter()
                .all(|c| !is_extension_command(c.id.command_id))
        );
        for schema in ALL_SCHEMAS {
            assert!(
                schema
                    .fields
                    .iter()
                    .all(|f| f.number < FIRST_EXTENSION_FIELD),
                "{}",
                schema.name
            );
        }
    }
}

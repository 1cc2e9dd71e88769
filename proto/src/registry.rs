//! The command registry: (service id, command id) -> name and message, for
//! dispatch and logs. Every stock TeamTalk command is listed once, with the
//! number written here *and* checked by a test against the enums generated
//! from `IM.BaseDefine.proto`, so the two can never drift apart (mind the
//! trap: the file-server link commands are 0x0731-0x0734, not the 0x0715-
//! 0x0718 of the original's comments).

use std::fmt;

use bytes::Bytes;

use crate::error::DecodeError;
use crate::pb::im::{buddy, file, group, login, message, other, server, switch_service};
use crate::schema::{Message, MessageSchema};

pub const SID_LOGIN: u16 = 0x0001;
pub const SID_BUDDY_LIST: u16 = 0x0002;
pub const SID_MSG: u16 = 0x0003;
pub const SID_GROUP: u16 = 0x0004;
pub const SID_FILE: u16 = 0x0005;
pub const SID_SWITCH_SERVICE: u16 = 0x0006;
pub const SID_OTHER: u16 = 0x0007;
/// Declared by TeamTalk, never used.
pub const SID_INTERNAL: u16 = 0x0008;

/// A (service id, command id) pair as carried in a PDU header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CommandId {
    pub service_id: u16,
    pub command_id: u16,
}

impl CommandId {
    pub const fn new(service_id: u16, command_id: u16) -> CommandId {
        CommandId {
            service_id,
            command_id,
        }
    }

    /// The registered command (stock or extension), if any.
    pub fn info(self) -> Option<&'static CommandInfo> {
        lookup_any(self)
    }
}

/// `CID_FILE_LOGIN_REQ (0x0005/0x0501)` for a known command (stock or
/// extension), the bare numbers for an unknown one.
impl fmt::Display for CommandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(info) = lookup_any(*self) {
            write!(f, "{} ", info.name)?;
        }
        write!(f, "(0x{:04x}/0x{:04x})", self.service_id, self.command_id)
    }
}

/// One registered command.
#[derive(Debug)]
pub struct CommandInfo {
    pub id: CommandId,
    /// The enum value's name in `IM.BaseDefine.proto`, e.g. `CID_FILE_STATE`.
    pub name: &'static str,
    /// The message its body carries.
    pub schema: &'static MessageSchema,
    /// Validates and decodes a body as this command's message and renders it
    /// with `Debug`: for logs, operator tools and the fuzz target.
    pub decode_debug: fn(Bytes) -> Result<String, DecodeError>,
}

impl CommandInfo {
    /// The entry for command `id` (named `name`) carrying message `T`.
    pub(crate) const fn of<T: Message + std::fmt::Debug>(
        id: CommandId,
        name: &'static str,
    ) -> CommandInfo {
        CommandInfo {
            id,
            name,
            schema: T::SCHEMA,
            decode_debug: decode_debug::<T>,
        }
    }
}

/// Validates and decodes `body` as a `T`, rendered with `Debug`.
fn decode_debug<T: Message + std::fmt::Debug>(body: Bytes) -> Result<String, DecodeError> {
    crate::schema::decode::<T>(body).map(|m| format!("{m:?}"))
}

/// A message that travels as the body of exactly one command.
pub trait Pdu: Message {
    const COMMAND: CommandId;
}

/// The stock command with this exact (service id, command id).
pub fn lookup(id: CommandId) -> Option<&'static CommandInfo> {
    COMMANDS.iter().find(|c| c.id == id)
}

/// The stock command with this command id, whatever the service id
/// says (TeamTalk's file_server and msg_server dispatch on the command id
/// alone, and the high byte of every command id is its service).
pub fn lookup_command(command_id: u16) -> Option<&'static CommandInfo> {
    COMMANDS.iter().find(|c| c.id.command_id == command_id)
}

/// The command with this exact (service id, command id), stock or one of
/// ferry's extensions ([`crate::extension::COMMANDS`]): for dispatch and
/// logs of peers that speak the extensions.
pub fn lookup_any(id: CommandId) -> Option<&'static CommandInfo> {
    lookup(id).or_else(|| crate::extension::COMMANDS.iter().find(|c| c.id == id))
}

macro_rules! commands {
    ($($name:ident = $sid:ident, $cid:literal => $ty:ty,)*) => {
        $(
            pub const $name: CommandId = CommandId::new($sid, $cid);
            impl Pdu for $ty {
                const COMMAND: CommandId = $name;
            }
        )*
        /// Every stock command, in command-id order.
        pub static COMMANDS: &[CommandInfo] = &[
            $(CommandInfo::of::<$ty>($name, stringify!($name)),)*
        ];
    };
}

commands! {
    CID_LOGIN_REQ_MSGSERVER = SID_LOGIN, 0x0101 => login::ImMsgServReq,
    CID_LOGIN_RES_MSGSERVER = SID_LOGIN, 0x0102 => login::ImMsgServRsp,
    CID_LOGIN_REQ_USERLOGIN = SID_LOGIN, 0x0103 => login::ImLoginReq,
    CID_LOGIN_RES_USERLOGIN = SID_LOGIN, 0x0104 => login::ImLoginRes,
    CID_LOGIN_REQ_LOGINOUT = SID_LOGIN, 0x0105 => login::ImLogoutReq,
    CID_LOGIN_RES_LOGINOUT = SID_LOGIN, 0x0106 => login::ImLogoutRsp,
    CID_LOGIN_KICK_USER = SID_LOGIN, 0x0107 => login::ImKickUser,
    CID_LOGIN_REQ_DEVICETOKEN = SID_LOGIN, 0x0108 => login::ImDeviceTokenReq,
    CID_LOGIN_RES_DEVICETOKEN = SID_LOGIN, 0x0109 => login::ImDeviceTokenRsp,
    CID_LOGIN_REQ_KICKPCCLIENT = SID_LOGIN, 0x010a => login::ImKickPcClientReq,
    CID_LOGIN_RES_KICKPCCLIENT = SID_LOGIN, 0x010b => login::ImKickPcClientRsp,
    CID_LOGIN_REQ_PUSH_SHIELD = SID_LOGIN, 0x010c => login::ImPushShieldReq,
    CID_LOGIN_RES_PUSH_SHIELD = SID_LOGIN, 0x010d => login::ImPushShieldRsp,
    CID_LOGIN_REQ_QUERY_PUSH_SHIELD = SID_LOGIN, 0x010e => login::ImQueryPushShieldReq,
    CID_LOGIN_RES_QUERY_PUSH_SHIELD = SID_LOGIN, 0x010f => login::ImQueryPushShieldRsp,
    CID_BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST = SID_BUDDY_LIST, 0x0201 => buddy::ImRecentContactSessionReq,
    CID_BUDDY_LIST_RECENT_CONTACT_SESSION_RESPONSE = SID_BUDDY_LIST, 0x0202 => buddy::ImRecentContactSessionRsp,
    CID_BUDDY_LIST_STATUS_NOTIFY = SID_BUDDY_LIST, 0x0203 => buddy::ImUserStatNotify,
    CID_BUDDY_LIST_USER_INFO_REQUEST = SID_BUDDY_LIST, 0x0204 => buddy::ImUsersInfoReq,
    CID_BUDDY_LIST_USER_INFO_RESPONSE = SID_BUDDY_LIST, 0x0205 => buddy::ImUsersInfoRsp,
    CID_BUDDY_LIST_REMOVE_SESSION_REQ = SID_BUDDY_LIST, 0x0206 => buddy::ImRemoveSessionReq,
    CID_BUDDY_LIST_REMOVE_SESSION_RES = SID_BUDDY_LIST, 0x0207 => buddy::ImRemoveSessionRsp,
    CID_BUDDY_LIST_ALL_USER_REQUEST = SID_BUDDY_LIST, 0x0208 => buddy::ImAllUserReq,
    CID_BUDDY_LIST_ALL_USER_RESPONSE = SID_BUDDY_LIST, 0x0209 => buddy::ImAllUserRsp,
    CID_BUDDY_LIST_USERS_STATUS_REQUEST = SID_BUDDY_LIST, 0x020a => buddy::ImUsersStatReq,
    CID_BUDDY_LIST_USERS_STATUS_RESPONSE = SID_BUDDY_LIST, 0x020b => buddy::ImUsersStatRsp,
    CID_BUDDY_LIST_CHANGE_AVATAR_REQUEST = SID_BUDDY_LIST, 0x020c => buddy::ImChangeAvatarReq,
    CID_BUDDY_LIST_CHANGE_AVATAR_RESPONSE = SID_BUDDY_LIST, 0x020d => buddy::ImChangeAvatarRsp,
    CID_BUDDY_LIST_PC_LOGIN_STATUS_NOTIFY = SID_BUDDY_LIST, 0x020e => buddy::ImpcLoginStatusNotify,
    CID_BUDDY_LIST_REMOVE_SESSION_NOTIFY = SID_BUDDY_LIST, 0x020f => buddy::ImRemoveSessionNotify,
    CID_BUDDY_LIST_DEPARTMENT_REQUEST = SID_BUDDY_LIST, 0x0210 => buddy::ImDepartmentReq,
    CID_BUDDY_LIST_DEPARTMENT_RESPONSE = SID_BUDDY_LIST, 0x0211 => buddy::ImDepartmentRsp,
    CID_BUDDY_LIST_AVATAR_CHANGED_NOTIFY = SID_BUDDY_LIST, 0x0212 => buddy::ImAvatarChangedNotify,
    CID_BUDDY_LIST_CHANGE_SIGN_INFO_REQUEST = SID_BUDDY_LIST, 0x0213 => buddy::ImChangeSignInfoReq,
    CID_BUDDY_LIST_CHANGE_SIGN_INFO_RESPONSE = SID_BUDDY_LIST, 0x0214 => buddy::ImChangeSignInfoRsp,
    CID_BUDDY_LIST_SIGN_INFO_CHANGED_NOTIFY = SID_BUDDY_LIST, 0x0215 => buddy::ImSignInfoChangedNotify,
    CID_MSG_DATA = SID_MSG, 0x0301 => message::ImMsgData,
    CID_MSG_DATA_ACK = SID_MSG, 0x0302 => message::ImMsgDataAck,
    CID_MSG_READ_ACK = SID_MSG, 0x0303 => message::ImMsgDataReadAck,
    CID_MSG_READ_NOTIFY = SID_MSG, 0x0304 => message::ImMsgDataReadNotify,
    CID_MSG_TIME_REQUEST = SID_MSG, 0x0305 => message::ImClientTimeReq,
    CID_MSG_TIME_RESPONSE = SID_MSG, 0x0306 => message::ImClientTimeRsp,
    CID_MSG_UNREAD_CNT_REQUEST = SID_MSG, 0x0307 => message::ImUnreadMsgCntReq,
    CID_MSG_UNREAD_CNT_RESPONSE = SID_MSG, 0x0308 => message::ImUnreadMsgCntRsp,
    CID_MSG_LIST_REQUEST = SID_MSG, 0x0309 => message::ImGetMsgListReq,
    CID_MSG_LIST_RESPONSE = SID_MSG, 0x030a => message::ImGetMsgListRsp,
    CID_MSG_GET_LATEST_MSG_ID_REQ = SID_MSG, 0x030b => message::ImGetLatestMsgIdReq,
    CID_MSG_GET_LATEST_MSG_ID_RSP = SID_MSG, 0x030c => message::ImGetLatestMsgIdRsp,
    CID_MSG_GET_BY_MSG_ID_REQ = SID_MSG, 0x030d => message::ImGetMsgByIdReq,
    CID_MSG_GET_BY_MSG_ID_RES = SID_MSG, 0x030e => message::ImGetMsgByIdRsp,
    CID_GROUP_NORMAL_LIST_REQUEST = SID_GROUP, 0x0401 => group::ImNormalGroupListReq,
    CID_GROUP_NORMAL_LIST_RESPONSE = SID_GROUP, 0x0402 => group::ImNormalGroupListRsp,
    CID_GROUP_INFO_REQUEST = SID_GROUP, 0x0403 => group::ImGroupInfoListReq,
    CID_GROUP_INFO_RESPONSE = SID_GROUP, 0x0404 => group::ImGroupInfoListRsp,
    CID_GROUP_CREATE_REQUEST = SID_GROUP, 0x0405 => group::ImGroupCreateReq,
    CID_GROUP_CREATE_RESPONSE = SID_GROUP, 0x0406 => group::ImGroupCreateRsp,
    CID_GROUP_CHANGE_MEMBER_REQUEST = SID_GROUP, 0x0407 => group::ImGroupChangeMemberReq,
    CID_GROUP_CHANGE_MEMBER_RESPONSE = SID_GROUP, 0x0408 => group::ImGroupChangeMemberRsp,
    CID_GROUP_SHIELD_GROUP_REQUEST = SID_GROUP, 0x0409 => group::ImGroupShieldReq,
    CID_GROUP_SHIELD_GROUP_RESPONSE = SID_GROUP, 0x040a => group::ImGroupShieldRsp,
    CID_GROUP_CHANGE_MEMBER_NOTIFY = SID_GROUP, 0x040b => group::ImGroupChangeMemberNotify,
    CID_FILE_LOGIN_REQ = SID_FILE, 0x0501 => file::ImFileLoginReq,
    CID_FILE_LOGIN_RES = SID_FILE, 0x0502 => file::ImFileLoginRsp,
    CID_FILE_STATE = SID_FILE, 0x0503 => file::ImFileState,
    CID_FILE_PULL_DATA_REQ = SID_FILE, 0x0504 => file::ImFilePullDataReq,
    CID_FILE_PULL_DATA_RSP = SID_FILE, 0x0505 => file::ImFilePullDataRsp,
    CID_FILE_REQUEST = SID_FILE, 0x0506 => file::ImFileReq,
    CID_FILE_RESPONSE = SID_FILE, 0x0507 => file::ImFileRsp,
    CID_FILE_NOTIFY = SID_FILE, 0x0508 => file::ImFileNotify,
    CID_FILE_HAS_OFFLINE_REQ = SID_FILE, 0x0509 => file::ImFileHasOfflineReq,
    CID_FILE_HAS_OFFLINE_RES = SID_FILE, 0x050a => file::ImFileHasOfflineRsp,
    CID_FILE_ADD_OFFLINE_REQ = SID_FILE, 0x050b => file::ImFileAddOfflineReq,
    CID_FILE_DEL_OFFLINE_REQ = SID_FILE, 0x050c => file::ImFileDelOfflineReq,
    CID_SWITCH_P2P_CMD = SID_SWITCH_SERVICE, 0x0601 => switch_service::Imp2pCmdMsg,
    CID_OTHER_HEARTBEAT = SID_OTHER, 0x0701 => other::ImHeartBeat,
    CID_OTHER_STOP_RECV_PACKET = SID_OTHER, 0x0702 => server::ImStopReceivePacket,
    CID_OTHER_VALIDATE_REQ = SID_OTHER, 0x0703 => server::ImValidateReq,
    CID_OTHER_VALIDATE_RSP = SID_OTHER, 0x0704 => server::ImValidateRsp,
    CID_OTHER_GET_DEVICE_TOKEN_REQ = SID_OTHER, 0x0705 => server::ImGetDeviceTokenReq,
    CID_OTHER_GET_DEVICE_TOKEN_RSP = SID_OTHER, 0x0706 => server::ImGetDeviceTokenRsp,
    CID_OTHER_ROLE_SET = SID_OTHER, 0x0707 => server::ImRoleSet,
    CID_OTHER_ONLINE_USER_INFO = SID_OTHER, 0x0708 => server::ImOnlineUserInfo,
    CID_OTHER_MSG_SERV_INFO = SID_OTHER, 0x0709 => server::ImMsgServInfo,
    CID_OTHER_USER_STATUS_UPDATE = SID_OTHER, 0x070a => server::ImUserStatusUpdate,
    CID_OTHER_USER_CNT_UPDATE = SID_OTHER, 0x070b => server::ImUserCntUpdate,
    CID_OTHER_SERVER_KICK_USER = SID_OTHER, 0x070d => server::ImServerKickUser,
    CID_OTHER_LOGIN_STATUS_NOTIFY = SID_OTHER, 0x070e => server::ImServerPcLoginStatusNotify,
    CID_OTHER_PUSH_TO_USER_REQ = SID_OTHER, 0x070f => server::ImPushToUserReq,
    CID_OTHER_PUSH_TO_USER_RSP = SID_OTHER, 0x0710 => server::ImPushToUserRsp,
    CID_OTHER_GET_SHIELD_REQ = SID_OTHER, 0x0711 => server::ImGroupGetShieldReq,
    CID_OTHER_GET_SHIELD_RSP = SID_OTHER, 0x0712 => server::ImGroupGetShieldRsp,
    CID_OTHER_FILE_TRANSFER_REQ = SID_OTHER, 0x0731 => server::ImFileTransferReq,
    CID_OTHER_FILE_TRANSFER_RSP = SID_OTHER, 0x0732 => server::ImFileTransferRsp,
    CID_OTHER_FILE_SERVER_IP_REQ = SID_OTHER, 0x0733 => server::ImFileServerIpReq,
    CID_OTHER_FILE_SERVER_IP_RSP = SID_OTHER, 0x0734 => server::ImFileServerIpRsp,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::im::base_define::{
        BuddyListCmdId, FileCmdId, GroupCmdId, LoginCmdId, MessageCmdId, OtherCmdId, ServiceId,
        SwitchServiceCmdId,
    };

    /// The name the generated enum gives a command id, if it declares it.
    fn declared(sid: u16, cid: u16) -> Option<&'static str> {
        let cid = i32::from(cid);
        match sid {
            SID_LOGIN => LoginCmdId::try_from(cid).ok().map(|c| c.as_str_name()),
            SID_BUDDY_LIST => BuddyListCmdId::try_from(cid).ok().map(|c| c.as_str_name()),
            SID_MSG => MessageCmdId::try_from(cid).ok().map(|c| c.as_str_name()),
            SID_GROUP => GroupCmdId::try_from(cid).ok().map(|c| c.as_str_name()),
            SID_FILE => FileCmdId::try_from(cid).ok().map(|c| c.as_str_name()),
            SID_SWITCH_SERVICE => SwitchServiceCmdId::try_from(cid)
                .ok()
                .map(|c| c.as_str_name()),
            SID_OTHER => OtherCmdId::try_from(cid).ok().map(|c| c.as_str_name()),
            _ => None,
        }
    }

    #[test]
    fn table_matches_the_proto_enums_both_ways() {
        for c in COMMANDS {
            assert_eq!(
                declared(c.id.service_id, c.id.command_id),
                Some(c.name),
                "{c:?}"
            );
            assert_eq!(
                c.id.command_id >> 8,
                c.id.service_id,
                "{}: high byte is the service",
                c.name
            );
        }
        let mut declared_count = 0;
        for sid in SID_LOGIN..=SID_OTHER {
            for cid in 0..=u16::MAX {
                if let Some(name) = declared(sid, cid) {
                    declared_count += 1;
                    assert_eq!(lookup(CommandId::new(sid, cid)).map(|c| c.name), Some(name));
                }
            }
        }
        assert_eq!(declared_count, COMMANDS.len());
        assert_eq!(COMMANDS.len(), 95);
        for (sid, name) in [
            (SID_LOGIN, "SID_LOGIN"),
            (SID_FILE, "SID_FILE"),
            (SID_OTHER, "SID_OTHER"),
        ] {
            assert_eq!(
                ServiceId::try_from(i32::from(sid)).unwrap().as_str_name(),
                name
            );
        }
    }

    #[test]
    fn file_server_link_commands_use_the_enum_values_not_the_comments() {
        assert_eq!(CID_OTHER_FILE_TRANSFER_REQ, CommandId::new(7, 0x0731));
        assert_eq!(CID_OTHER_FILE_TRANSFER_RSP, CommandId::new(7, 0x0732));
        assert_eq!(CID_OTHER_FILE_SERVER_IP_REQ, CommandId::new(7, 0x0733));
        assert_eq!(CID_OTHER_FILE_SERVER_IP_RSP, CommandId::new(7, 0x0734));
        assert!(lookup(CommandId::new(7, 0x0715)).is_none());
    }

    #[test]
    fn display_names_known_commands_and_numbers_unknown_ones() {
        assert_eq!(
            CID_FILE_LOGIN_REQ.to_string(),
            "CID_FILE_LOGIN_REQ (0x0005/0x0501)"
        );
        assert_eq!(CommandId::new(5, 0x05ff).to_string(), "(0x0005/0x05ff)");
        assert_eq!(
            lookup_command(0x0505).map(|c| c.name),
            Some("CID_FILE_PULL_DATA_RSP")
        );
    }
}

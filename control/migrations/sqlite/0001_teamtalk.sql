-- TeamTalk's schema (auto_setup/mariadb/conf/ttopen.sql) for SQLite: the same
-- tables and columns (INTEGER / TEXT affinity), the same indexes (SQLite index
-- names are global, so each is prefixed with its table). IMTransmitFile is
-- missing from TeamTalk's shipped schema; it is defined from FileModel's queries.

CREATE TABLE IF NOT EXISTS IMAdmin (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  uname TEXT NOT NULL,
  pwd TEXT NOT NULL,
  status INTEGER NOT NULL DEFAULT 0,
  created INTEGER NOT NULL DEFAULT 0,
  updated INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS IMAudio (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  fromId INTEGER NOT NULL,
  toId INTEGER NOT NULL,
  path TEXT DEFAULT '',
  size INTEGER NOT NULL DEFAULT 0,
  duration INTEGER NOT NULL DEFAULT 0,
  created INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS IMAudio_idx_fromId_toId ON IMAudio (fromId, toId);

CREATE TABLE IF NOT EXISTS IMDepart (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  departName TEXT NOT NULL DEFAULT '',
  priority INTEGER NOT NULL DEFAULT 0,
  parentId INTEGER NOT NULL,
  status INTEGER NOT NULL DEFAULT 0,
  created INTEGER NOT NULL,
  updated INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS IMDepart_idx_departName ON IMDepart (departName);
CREATE INDEX IF NOT EXISTS IMDepart_idx_priority_status ON IMDepart (priority, status);

CREATE TABLE IF NOT EXISTS IMDiscovery (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  itemName TEXT NOT NULL DEFAULT '',
  itemUrl TEXT NOT NULL DEFAULT '',
  itemPriority INTEGER NOT NULL,
  status INTEGER NOT NULL DEFAULT 0,
  created INTEGER NOT NULL,
  updated INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS IMDiscovery_idx_itemName ON IMDiscovery (itemName);

CREATE TABLE IF NOT EXISTS IMGroup (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL DEFAULT '',
  avatar TEXT NOT NULL DEFAULT '',
  creator INTEGER NOT NULL DEFAULT 0,
  type INTEGER NOT NULL DEFAULT 1,
  userCnt INTEGER NOT NULL DEFAULT 0,
  status INTEGER NOT NULL DEFAULT 1,
  version INTEGER NOT NULL DEFAULT 1,
  lastChated INTEGER NOT NULL DEFAULT 0,
  updated INTEGER NOT NULL DEFAULT 0,
  created INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS IMGroup_idx_name ON IMGroup (name);
CREATE INDEX IF NOT EXISTS IMGroup_idx_creator ON IMGroup (creator);

CREATE TABLE IF NOT EXISTS IMGroupMember (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  groupId INTEGER NOT NULL,
  userId INTEGER NOT NULL,
  status INTEGER NOT NULL DEFAULT 1,
  created INTEGER NOT NULL DEFAULT 0,
  updated INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS IMGroupMember_idx_groupId_userId_status ON IMGroupMember (groupId, userId, status);
CREATE INDEX IF NOT EXISTS IMGroupMember_idx_userId_status_updated ON IMGroupMember (userId, status, updated);
CREATE INDEX IF NOT EXISTS IMGroupMember_idx_groupId_updated ON IMGroupMember (groupId, updated);

CREATE TABLE IF NOT EXISTS IMGroupMessage_0 (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  groupId INTEGER NOT NULL,
  userId INTEGER NOT NULL,
  msgId INTEGER NOT NULL,
  content TEXT NOT NULL DEFAULT '',
  type INTEGER NOT NULL DEFAULT 2,
  status INTEGER NOT NULL DEFAULT 0,
  updated INTEGER NOT NULL DEFAULT 0,
  created INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS IMGroupMessage_0_idx_groupId_status_created ON IMGroupMessage_0 (groupId, status, created);
CREATE INDEX IF NOT EXISTS IMGroupMessage_0_idx_groupId_msgId_status_created ON IMGroupMessage_0 (groupId, msgId, status, created);

CREATE TABLE IF NOT EXISTS IMGroupMessage_1 (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  groupId INTEGER NOT NULL,
  userId INTEGER NOT NULL,
  msgId INTEGER NOT NULL,
  content TEXT NOT NULL DEFAULT '',
  type INTEGER NOT NULL DEFAULT 2,
  status INTEGER NOT NULL DEFAULT 0,
  updated INTEGER NOT NULL DEFAULT 0,
  created INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS IMGroupMessage_1_idx_groupId_status_created ON IMGroupMessage_1 (groupId, status, created);
CREATE INDEX IF NOT EXISTS IMGroupMessage_1_idx_groupId_msgId_status_created ON IMGroupMessage_1 (groupId, msgId, status, created);

CREATE TABLE IF NOT EXISTS IMGroupMessage_2 (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  groupId INTEGER NOT NULL,
  userId INTEGER NOT NULL,
  msgId INTEGER NOT NULL,
  content TEXT NOT NULL DEFAULT '',
  type INTEGER NOT NULL DEFAULT 2,
  status INTEGER NOT NULL DEFAULT 0,
  updated INTEGER NOT NULL DEFAULT 0,
  created INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS IMGroupMessage_2_idx_groupId_status_created ON IMGroupMessage_2 (groupId, status, created);
CREATE INDEX IF NOT EXISTS IMGroupMessage_2_idx_groupId_msgId_status_created ON IMGroupMessage_2 (groupId, msgId, status, created);

CREATE TABLE IF NOT EXISTS IMGroupMessage_3 (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  groupId INTEGER NOT NULL,
  userId INTEGER NOT NULL,
  msgId INTEGER NOT NULL,
  content TEXT NOT NULL DEFAULT '',
  type INTEGER NOT NULL DEFAULT 2,
  status INTEGER NOT NULL DEFAULT 0,
  updated INTEGER NOT NULL DEFAULT 0,
  created INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS IMGroupMessage_3_idx_groupId_status_created ON IMGroupMessage_3 (groupId, status, created);
CREATE INDEX IF NOT EXISTS IMGroupMessage_3_idx_groupId_msgId_status_created ON IMGroupMessage_3 (groupId, msgId, status, created);

CREATE TABLE IF NOT EXISTS IMGroupMessage_4 (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  groupId INTEGER NOT NULL,
  userId INTEGER NOT NULL,
  msgId INTEGER NOT NULL,
  content TEXT NOT NULL DEFAULT '',
  type INTEGER NOT NULL DEFAULT 2,
  status INTEGER NOT NULL DEFAULT 0,
  updated INTEGER NOT NULL DEFAULT 0,
  created INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS IMGroupMessage_4_idx_groupId_status_created ON IMGroupMessage_4 (groupId, status, created);
CREATE INDEX IF NOT EXISTS IMGroupMessage_4_idx_groupId_msgId_status_created ON IMGroupMessage_4 (groupId, msgId, status, created);

CREATE TABLE IF NOT EXISTS IMGroupMessage_5 (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  groupId INTEGER NOT NULL,
  userId INTEGER NOT NULL,
  msgId INTEGER NOT NULL,
  content TEXT NOT NULL DEFAULT '',
  type INTEGER NOT NULL DEFAULT 2,
  status INTEGER NOT NULL DEFAULT 0,
  updated INTEGER NOT NULL DEFAULT 0,
  created INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS IMGroupMessage_5_idx_groupId_status_created ON IMGroupMessage_5 (groupId, status, created);
CREATE INDEX IF NOT EXISTS IMGroupMessage_5_idx_groupId_msgId_status_created ON IMGroupMessage_5 (groupId, msgId, status, created);

CREATE TABLE IF NOT EXISTS IMGroupMessage_6 (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  groupId INTEGER NOT NULL,
  userId INTEGER NOT NULL,
  msgId INTEGER NOT NULL,
  content TEXT NOT NULL DEFAULT '',
  type INTEGER NOT NULL DEFAULT 2,
  status INTEGER NOT NULL DEFAULT 0,
  updated INTEGER NOT NULL DEFAULT 0,
  created INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS IMGroupMessage_6_idx_groupId_status_created ON IMGroupMessage_6 (groupId, status, created);
CREATE INDEX IF NOT EXISTS IMGroupMessage_6_idx_groupId_msgId_status_created ON IMGroupMessage_6 (groupId, msgId, status, created);

CREATE TABLE IF NOT EXISTS IMGroupMessage_7 (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  groupId INTEGER NOT NULL,
  userId INTEGER NOT NULL,
  msgId INTEGER NOT NULL,
  content TEXT NOT NULL DEFAULT '',
  type INTEGER NOT NULL DEFAULT 2,
  status INTEGER NOT NULL DEFAULT 0,
  updated INTEGER NOT NULL DEFAULT 0,
  created INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS IMGroupMessage_7_idx_groupId_status_created ON IMGroupMessage_7 (groupId, status, created);
CREATE INDEX IF NOT EXISTS IMGroupMessage_7_idx_groupId_msgId_status_created ON IMGroupMessage_7 (groupId, msgId, status, created);

CREATE TABLE IF NOT EXISTS IMMessage_0 (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  relateId INTEGER NOT NULL,
  fromId INTEGER NOT NULL,
  toId INTEGER NOT NULL,
  msgId INTEGER NOT NULL,
  content TEXT DEFAULT '',
  type INTEGER NOT NULL DEFAULT 1,
  status INTEGER NOT NULL DEFAULT 0,
  updated INTEGER NOT NULL,
  created INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS IMMessage_0_idx_relateId_status_created ON IMMessage_0 (relateId, status, created);
CREATE INDEX IF NOT EXISTS IMMessage_0_idx_relateId_status_msgId_created ON IMMessage_0 (relateId, status, msgId, created);
CREATE INDEX IF NOT EXISTS IMMessage_0_idx_fromId_toId_created ON IMMessage_0 (fromId, toId, status);

CREATE TABLE IF NOT EXISTS IMMessage_1 (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  relateId INTEGER NOT NULL,
  fromId INTEGER NOT NULL,
  toId INTEGER NOT NULL,
  msgId INTEGER NOT NULL,
  content TEXT DEFAULT '',
  type INTEGER NOT NULL DEFAULT 1,
  status INTEGER NOT NULL DEFAULT 0,
  updated INTEGER NOT NULL,
  created INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS IMMessage_1_idx_relateId_status_created ON IMMessage_1 (relateId, status, created);
CREATE INDEX IF NOT EXISTS IMMessage_1_idx_relateId_status_msgId_created ON IMMessage_1 (relateId, status, msgId, created);
CREATE INDEX IF NOT EXISTS IMMessage_1_idx_fromId_toId_created ON IMMessage_1 (fromId, toId, status);

CREATE TABLE IF NOT EXISTS IMMessage_2 (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  relateId INTEGER NOT NULL,
  fromId INTEGER NOT NULL,
  toId INTEGER NOT NULL,
  msgId INTEGER NOT NULL,
  content TEXT DEFAULT '',
  type INTEGER NOT NULL DEFAULT 1,
  status INTEGER NOT NULL DEFAULT 0,
  updated INTEGER NOT NULL,
  created INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS IMMessage_2_idx_relateId_status_created ON IMMessage_2 (relateId, status, created);
CREATE INDEX IF NOT EXISTS IMMessage_2_idx_relateId_status_msgId_created ON IMMessage_2 (relateId, status, msgId, created);
CREATE INDEX IF NOT EXISTS IMMessage_2_idx_fromId_toId_created ON IMMessage_2 (fromId, toId, status);

CREATE TABLE IF NOT EXISTS IMMessage_3 (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  relateId INTEGER NOT NULL,
  fromId INTEGER NOT NULL,
  toId INTEGER NOT NULL,
  msgId INTEGER NOT NULL,
  content TEXT DEFAULT '',
  type INTEGER NOT NULL DEFAULT 1,
  status INTEGER NOT NULL DEFAULT 0,
  updated INTEGER NOT NULL,
  created INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS IMMessage_3_idx_relateId_status_created ON IMMessage_3 (relateId, status, created);
CREATE INDEX IF NOT EXISTS IMMessage_3_idx_relateId_status_msgId_created ON IMMessage_3 (relateId, status, msgId, created);
CREATE INDEX IF NOT EXISTS IMMessage_3_idx_fromId_toId_created ON IMMessage_3 (fromId, toId, status);

CREATE TABLE IF NOT EXISTS IMMessage_4 (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  relateId INTEGER NOT NULL,
  fromId INTEGER NOT NULL,
  toId INTEGER NOT NULL,
  msgId INTEGER NOT NULL,
  content TEXT DEFAULT '',
  type INTEGER NOT NULL DEFAULT 1,
  status INTEGER NOT NULL DEFAULT 0,
  updated INTEGER NOT NULL,
  created INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS IMMessage_4_idx_relateId_status_created ON IMMessage_4 (relateId, status, created);
CREATE INDEX IF NOT EXISTS IMMessage_4_idx_relateId_status_msgId_created ON IMMessage_4 (relateId, status, msgId, created);
CREATE INDEX IF NOT EXISTS IMMessage_4_idx_fromId_toId_created ON IMMessage_4 (fromId, toId, status);

CREATE TABLE IF NOT EXISTS IMMessage_5 (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  relateId INTEGER NOT NULL,
  fromId INTEGER NOT NULL,
  toId INTEGER NOT NULL,
  msgId INTEGER NOT NULL,
  content TEXT DEFAULT '',
  type INTEGER NOT NULL DEFAULT 1,
  status INTEGER NOT NULL DEFAULT 0,
  updated INTEGER NOT NULL,
  created INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS IMMessage_5_idx_relateId_status_created ON IMMessage_5 (relateId, status, created);
CREATE INDEX IF NOT EXISTS IMMessage_5_idx_relateId_status_msgId_created ON IMMessage_5 (relateId, status, msgId, created);
CREATE INDEX IF NOT EXISTS IMMessage_5_idx_fromId_toId_created ON IMMessage_5 (fromId, toId, status);

CREATE TABLE IF NOT EXISTS IMMessage_6 (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  relateId INTEGER NOT NULL,
  fromId INTEGER NOT NULL,
  toId INTEGER NOT NULL,
  msgId INTEGER NOT NULL,
  content TEXT DEFAULT '',
  type INTEGER NOT NULL DEFAULT 1,
  status INTEGER NOT NULL DEFAULT 0,
  updated INTEGER NOT NULL,
  created INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS IMMessage_6_idx_relateId_status_created ON IMMessage_6 (relateId, status, created);
CREATE INDEX IF NOT EXISTS IMMessage_6_idx_relateId_status_msgId_created ON IMMessage_6 (relateId, status, msgId, created);
CREATE INDEX IF NOT EXISTS IMMessage_6_idx_fromId_toId_created ON IMMessage_6 (fromId, toId, status);

CREATE TABLE IF NOT EXISTS IMMessage_7 (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  relateId INTEGER NOT NULL,
  fromId INTEGER NOT NULL,
  toId INTEGER NOT NULL,
  msgId INTEGER NOT NULL,
  content TEXT DEFAULT '',
  type INTEGER NOT NULL DEFAULT 1,
  status INTEGER NOT NULL DEFAULT 0,
  updated INTEGER NOT NULL,
  created INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS IMMessage_7_idx_relateId_status_created ON IMMessage_7 (relateId, status, created);
CREATE INDEX IF NOT EXISTS IMMessage_7_idx_relateId_status_msgId_created ON IMMessage_7 (relateId, status, msgId, created);
CREATE INDEX IF NOT EXISTS IMMessage_7_idx_fromId_toId_created ON IMMessage_7 (fromId, toId, status);

CREATE TABLE IF NOT EXISTS IMRecentSession (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  userId INTEGER NOT NULL,
  peerId INTEGER NOT NULL,
  type INTEGER DEFAULT 0,
  status INTEGER DEFAULT 0,
  created INTEGER NOT NULL DEFAULT 0,
  updated INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS IMRecentSession_idx_userId_peerId_status_updated ON IMRecentSession (userId, peerId, status, updated);
CREATE INDEX IF NOT EXISTS IMRecentSession_idx_userId_peerId_type ON IMRecentSession (userId, peerId, type);

CREATE TABLE IF NOT EXISTS IMRelationShip (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  smallId INTEGER NOT NULL,
  bigId INTEGER NOT NULL,
  status INTEGER DEFAULT 0,
  created INTEGER NOT NULL DEFAULT 0,
  updated INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS IMRelationShip_idx_smallId_bigId_status_updated ON IMRelationShip (smallId, bigId, status, updated);

CREATE TABLE IF NOT EXISTS IMTransmitFile (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  fromId INTEGER NOT NULL,
  toId INTEGER NOT NULL,
  fileName TEXT NOT NULL DEFAULT '',
  size INTEGER NOT NULL DEFAULT 0,
  taskId TEXT NOT NULL DEFAULT '',
  status INTEGER NOT NULL DEFAULT 0,
  created INTEGER NOT NULL DEFAULT 0,
  updated INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS IMTransmitFile_idx_toId_status_created ON IMTransmitFile (toId, status, created);
CREATE INDEX IF NOT EXISTS IMTransmitFile_idx_fromId_toId_taskId ON IMTransmitFile (fromId, toId, taskId);

CREATE TABLE IF NOT EXISTS IMUser (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  sex INTEGER NOT NULL DEFAULT 0,
  name TEXT NOT NULL DEFAULT '',
  domain TEXT NOT NULL DEFAULT '',
  nick TEXT NOT NULL DEFAULT '',
  password TEXT NOT NULL DEFAULT '',
  salt TEXT NOT NULL DEFAULT '',
  phone TEXT NOT NULL DEFAULT '',
  email TEXT NOT NULL DEFAULT '',
  avatar TEXT DEFAULT '',
  departId INTEGER NOT NULL,
  status INTEGER DEFAULT 0,
  created INTEGER NOT NULL,
  updated INTEGER NOT NULL,
  push_shield_status INTEGER NOT NULL DEFAULT 0,
  sign_info TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS IMUser_idx_domain ON IMUser (domain);
CREATE INDEX IF NOT EXISTS IMUser_idx_name ON IMUser (name);
CREATE INDEX IF NOT EXISTS IMUser_idx_phone ON IMUser (phone);

//! IMDepart: departments changed since a time
//! (CID_BUDDY_LIST_DEPARTMENT_REQUEST). As TeamTalk: every row with
//! `updated` after the asked time, deleted ones included (status 1, so
//! clients drop them), rows with a status outside DepartmentStatusType left
//! out; the answer's time is the newest `updated` seen, or the asked one.

use ferry_proto::pb::im::base_define::DepartInfo;

use super::Store;
use super::pool::{RowExt, with_pool};
use crate::Error;

impl Store {
    pub async fn departments_changed_since(
        &self,
        since: u32,
    ) -> Result<(u32, Vec<DepartInfo>), Error> {
        let rows: Vec<(u32, DepartInfo)> = with_pool!(&self.read, p => {
            sqlx::query(
                "SELECT id, departName, priority, parentId, status, updated FROM IMDepart \
                 WHERE updated > ? ORDER BY id",
            )
            .bind(since)
            .fetch_all(p)
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.u32("updated")?,
                    DepartInfo {
                        dept_id: r.u32("id")?,
                        priority: r.u32("priority")?,
                        dept_name: r.text("departName")?.into(),
                        parent_dept_id: r.u32("parentId")?,
                        dept_status: r.u32("status")? as i32,
                    },
                ))
            })
            .collect::<Result<_, Error>>()?
        });
        let latest = rows.iter().map(|(t, _)| *t).fold(since, u32::max);
        let list = rows
            .into_iter()
            .map(|(_, d)| d)
            .filter(|d| matches!(d.dept_status, 0 | 1))
            .collect();
        Ok((latest, list))
    }
}

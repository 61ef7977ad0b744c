//! ListTasks across every owner by a filter no index answers: a walk of
//! `tasks_create_time` that tests each task and reads at most a bound of
//! them per page.

use anyhow::Context;
use sqlx::{FromRow as _, PgPool, Postgres, QueryBuilder, Row as _};

use super::keyset::{push_after, push_order};
use super::{push_filter, Listed, Lower};
use crate::domain::{Cursor, ListFilter, OrderBy, OwnerScope, SortKey, Task};
use crate::store::tasks::{TaskRow, COLUMNS};

/// Whether a listing finds its rows by walking every owner's tasks in
/// `tasks_create_time`'s order and testing each: a filter over all owners
/// that no index answers (one state alone has `tasks_state_create_time`).
/// Such a walk reads until the page is full, so when the newest tasks match
/// nothing it reads the table: measured at 10,000,000 tasks, an admin's
/// search for a word and a tag took 244 ms at p95 when the newest 90,000
/// tasks matched neither. Other orders over all owners sort the whole table
/// whatever the bound, so a bound would only split that sort over pages.
pub(super) fn walks(filter: &ListFilter, order: &OrderBy) -> bool {
    matches!(filter.scope, OwnerScope::Everyone)
        && matches!(order.keys(), [(SortKey::CreateTime, _)])
        && (filter.thins_beyond_states() || filter.states.len() > 1)
}

/// A walk (see [`walks`]) that reads at most `scan` tasks after `cursor`:
/// the matches among them, up to `limit`, and, when fewer match and the walk
/// went on past `scan` tasks, the `scan`-th (the next page starts after it).
///
/// The walk's rows pass through a `LIMIT`, so the filter tests them above it
/// instead of inside the index scan: measured at 1,000,000 tasks, where the
/// bench's words are common, 1.2 ms for a page against 0.73 ms unbounded.
/// The last task read is found by the index alone (`tasks_create_time`) and
/// only for a short page: as a column of every row read (`row_number()`) it
/// cost a page 2.3 ms, and read from the table 30 ms at 10,000,000 tasks
/// instead of 8 ms. One statement, so that the page and the task it ends at
/// come from the same snapshot.
///
/// Its plan cannot depend on the values (the filter sits above the fence),
/// so the statement is prepared once per connection and its generic plan
/// kept. Measured at 1,000,000 tasks under `task-bench --lists-only` (an
/// admin's search for a word and a tag, 4 clients): planning took 1.0 ms at
/// p50 and 3.2 ms at p95 of every page, 0.17 and 0.64 ms kept; the form's p95
/// 22.3 ms against 18.0 ms (means of five alternating runs each).
pub(super) async fn list_bounded(
    pool: &PgPool,
    filter: &ListFilter,
    order: &OrderBy,
    cursor: Option<&Cursor>,
    limit: u32,
    scan: u32,
) -> anyhow::Result<Listed> {
    let limit = i64::from(limit);
    let mut sql = QueryBuilder::<Postgres>::new(format!(
        "SELECT * FROM (WITH page AS (SELECT {COLUMNS} FROM (SELECT * FROM tasks WHERE TRUE"
    ));
    if let Some(cursor) = cursor {
        push_after(&mut sql, order, cursor);
    }
    push_order(&mut sql, order);
    // The bound is written into the statement, not bound: with `LIMIT $1`
    // the generic plan's estimate (a tenth of the table) made it look ten
    // times dearer than the custom plans, and PostgreSQL went on planning
    // every page. It is the process's setting, so the text stays one.
    sql.push(format!(" LIMIT {scan}) AS tasks WHERE TRUE"));
    push_filter(&mut sql, filter, Lower::WhenRun);
    push_order(&mut sql, order);
    sql.push(" LIMIT ").push_bind(limit).push(format!(
        ") SELECT *, TRUE AS hit FROM page UNION ALL (SELECT {COLUMNS}, FALSE FROM tasks \
         WHERE id = (SELECT id FROM tasks WHERE (SELECT count(*) FROM page) < "
    ));
    sql.push_bind(limit);
    if let Some(cursor) = cursor {
        push_after(&mut sql, order, cursor);
    }
    push_order(&mut sql, order);
    sql.push(format!(
        " OFFSET {} LIMIT 1))) AS listed",
        scan.saturating_sub(1)
    ));
    push_order(&mut sql, order);

    let rows = sql
        .build()
        .persistent(true)
        .fetch_all(pool)
        .await
        .context("cannot list tasks")?;
    let mut listed = Listed {
        tasks: Vec::with_capacity(rows.len()),
        read_to: None,
    };
    for row in rows {
        let hit: bool = row.try_get("hit")?;
        let task = Task::try_from(TaskRow::from_row(&row)?)?;
        if hit {
            listed.tasks.push(task);
        } else {
            listed.read_to = Some(task);
        }
    }
    Ok(listed)
}

//! ListTasks as SQL: the filter, and the statement a listing takes (an
//! owner's, straight from the index its order follows, or a bounded walk
//! across owners); the order and the cursor's condition are in `keyset`.

use anyhow::Context;
use sqlx::{FromRow as _, PgPool, Postgres, QueryBuilder, Row as _};

use super::tasks::{TaskRow, COLUMNS};
use crate::domain::{Cursor, ListFilter, OrderBy, OwnerScope, SortKey, Task};

mod keyset;
use keyset::{column, push_after, push_order};

/// A page's tasks, and where its reading stopped if it stopped at the bound.
pub struct Listed {
    pub tasks: Vec<Task>,
    /// The last task a bounded page read, when it read as many as it may:
    /// the next page starts after it, however few matched.
    pub read_to: Option<Task>,
}

/// Up to `limit` tasks matching `filter` in `order`, after `cursor`; a
/// listing across every owner that must read tasks in order to find its
/// matches reads at most `scan` of them. The caller has checked that
/// `cursor` fits `order`.
pub async fn list(
    pool: &PgPool,
    filter: &ListFilter,
    order: &OrderBy,
    cursor: Option<&Cursor>,
    limit: u32,
    scan: u32,
) -> anyhow::Result<Listed> {
    if walks(filter, order) {
        return list_bounded(pool, filter, order, cursor, limit, scan).await;
    }
    let mut sql = QueryBuilder::<Postgres>::new("");
    let prepared = match &filter.scope {
        OwnerScope::One(owner) => {
            push_owners(&mut sql, owner.as_str(), filter, order, cursor, limit)
        }
        OwnerScope::Everyone => {
            push_straight(&mut sql, filter, order, cursor, limit);
            false
        }
    };

    // Not a cached prepared statement unless its plan cannot depend on the
    // values (`push_owners`, and the walk above): PostgreSQL then plans each
    // listing with its values. A cached generic plan of `owner = $1 AND … LIKE lower($2)`
    // guessed the trigram index selective and read 100,000 index entries
    // (10 ms) where the owner's 100 rows take 0.7 ms.
    let rows: Vec<TaskRow> = sql
        .build_query_as()
        .persistent(prepared)
        .fetch_all(pool)
        .await
        .context("cannot list tasks")?;
    let tasks = rows
        .into_iter()
        .map(Task::try_from)
        .collect::<anyhow::Result<_>>()?;
    Ok(Listed {
        tasks,
        read_to: None,
    })
}

/// The test that puts a task in `tasks_owner_cover` (its text fits a B-tree
/// entry) or else in `tasks_owner_create_long`, spelled as both indexes'
/// predicates are, so that PostgreSQL can use them.
const FITS: &str = "tasks_cover_fits(owner, title, description, tags_folded)";

/// The columns of `tasks_owner_cover` after its owner: what an owner's
/// filtered listing reads of every task it tests.
const COVERED: &str = "create_time, id, state, priority, tags_folded, due_time, title, description";

/// `owner`'s page (the filter's scope); whether the statement may be
/// prepared once and kept.
///
/// Without a filter the rows come straight from the index the order follows
/// (`tasks_owner_create_time`, `tasks_owner_due_time`, …), whatever the
/// values: the statement is prepared once and its plan kept (measured at
/// 1,000,000 tasks, pgbench with the newest-first listing's statement: 4,761
/// · 5,356 · 4,911 tps prepared against 2,657 · 3,269 · 3,516 planned each
/// time).
///
/// A filter that thins them out is answered by ids first, then the page's
/// rows: the ids from `tasks_owner_cover`, tested on its entries alone (an
/// index-only scan, see its migration), and from the few tasks whose text is
/// too long for that index (`tasks_owner_create_long`, read from the table),
/// merged. Each branch reads the owner's entries behind an `OFFSET 0` fence
/// and tests the filter above it, so PostgreSQL cannot choose another index
/// for a filter (the trigram or tags index, whose lists hold a common word's
/// or tag's 100,000 tasks): the plan is the same whatever the values, and the
/// statement is prepared once per connection and its generic plan kept.
/// Measured at 1,000,000 tasks (an owner's search for a word and a tag, 60
/// combinations, `EXPLAIN ANALYZE`): planning 0.02 ms and execution 0.26 ms,
/// against 0.62 and 0.24 ms planned each time, and 0.39 and 0.22 ms for the
/// single-index statement before the branches. Only the ids and the order's
/// columns pass the merge: with every column in both branches planning took
/// twice as long.
fn push_owners(
    sql: &mut QueryBuilder<'_, Postgres>,
    owner: &str,
    filter: &ListFilter,
    order: &OrderBy,
    cursor: Option<&Cursor>,
    limit: u32,
) -> bool {
    if !filter.thins() {
        push_straight(sql, filter, order, cursor, limit);
        return true;
    }
    let limit = i64::from(limit);
    let mut ordered = String::from("id");
    let mut read = String::from(COVERED);
    for (key, _) in order.keys() {
        ordered.push_str(", ");
        ordered.push_str(column(*key));
        if *key == SortKey::UpdateTime {
            // Not in the cover: such a listing reads the table.
            read.push_str(", update_time");
        }
    }
    // One branch: the owner's tasks of one index after the cursor, in
    // order, behind the fence (the cursor inside, so that a later page
    // starts in the index where the last ended); then the filter, the order
    // and the page's size.
    let branch = |sql: &mut QueryBuilder<'_, Postgres>, fits: &str| {
        sql.push(format!(
            "(SELECT {ordered} FROM (SELECT {read} FROM tasks WHERE {fits} AND owner = "
        ));
        sql.push_bind(owner.to_owned());
        if let Some(cursor) = cursor {
            push_after(sql, order, cursor);
        }
        push_order(sql, order);
        sql.push(" OFFSET 0) AS tasks WHERE TRUE");
        push_tests(sql, filter, Lower::WhenRun);
        push_order(sql, order);
        sql.push(" LIMIT ").push_bind(limit).push(")");
    };
    sql.push(format!(
        "SELECT {COLUMNS} FROM tasks WHERE id = ANY(ARRAY(SELECT id FROM ("
    ));
    branch(sql, FITS);
    sql.push(" UNION ALL ");
    branch(sql, &format!("NOT {FITS}"));
    sql.push(") AS tasks");
    push_order(sql, order);
    sql.push(" LIMIT ").push_bind(limit).push("))");
    push_order(sql, order);
    true
}

/// The rows straight from the index the order follows: the filter, the
/// cursor, the order and the page's size.
fn push_straight(
    sql: &mut QueryBuilder<'_, Postgres>,
    filter: &ListFilter,
    order: &OrderBy,
    cursor: Option<&Cursor>,
    limit: u32,
) {
    sql.push(format!("SELECT {COLUMNS} FROM tasks WHERE TRUE"));
    push_filter(sql, filter, Lower::WhenPlanned);
    if let Some(cursor) = cursor {
        push_after(sql, order, cursor);
    }
    push_order(sql, order);
    sql.push(" LIMIT ").push_bind(i64::from(limit));
}

/// Whether a listing finds its rows by walking every owner's tasks in
/// `tasks_create_time`'s order and testing each: a filter over all owners
/// that no index answers (one state alone has `tasks_state_create_time`).
/// Such a walk reads until the page is full, so when the newest tasks match
/// nothing it reads the table: measured at 10,000,000 tasks, an admin's
/// search for a word and a tag took 244 ms at p95 when the newest 90,000
/// tasks matched neither. Other orders over all owners sort the whole table
/// whatever the bound, so a bound would only split that sort over pages.
fn walks(filter: &ListFilter, order: &OrderBy) -> bool {
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
async fn list_bounded(
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

/// When a search word is lowered.
#[derive(Clone, Copy, PartialEq)]
enum Lower {
    /// By the planner, once, as a constant: the statement is planned for
    /// its values.
    WhenPlanned,
    /// Once per execution (an init plan), for a statement whose plan is
    /// kept: `lower($1)` in a kept plan is evaluated for every row tested
    /// (measured: 2.57 against 0.23 ms for an owner's search).
    WhenRun,
}

/// The filter: its owner, then its tests ([`push_tests`]).
fn push_filter(sql: &mut QueryBuilder<'_, Postgres>, filter: &ListFilter, lower: Lower) {
    if let OwnerScope::One(owner) = &filter.scope {
        sql.push(" AND owner = ")
            .push_bind(owner.as_str().to_owned());
    }
    push_tests(sql, filter, lower);
}

/// What the filter tests beyond the owner: words, states, priorities, tags
/// and the due range.
fn push_tests(sql: &mut QueryBuilder<'_, Postgres>, filter: &ListFilter, lower: Lower) {
    for word in &filter.words {
        // What ILIKE does, with the task's side spelled as the
        // tasks_search_folded trigram index spells it. ILIKE lowers both
        // sides for every row it tests, the pattern included; here
        // PostgreSQL lowers the pattern once, when it plans (measured at
        // 1,000,000 tasks with pgbench, an owner's search for a word and a
        // tag over the bench's mix: 0.53-0.60 ms against 0.69-0.82 ms).
        sql.push(match lower {
            Lower::WhenPlanned => " AND lower(title || ' ' || description) LIKE lower(",
            Lower::WhenRun => " AND lower(title || ' ' || description) LIKE (SELECT lower(",
        })
        .push_bind(format!("%{}%", escape_like(word)))
        .push(if lower == Lower::WhenRun { "))" } else { ")" });
    }
    match filter.states.as_slice() {
        [] => {}
        // One state by `=`, not `= ANY`: with an array PostgreSQL 15 cannot
        // read (state, create_time) in order, so an admin's listing of one
        // state walked every newer task of other states (measured at
        // 10,000,000 tasks with 170,000 new pending ones: 260 ms, against
        // 1.3 ms by `=`).
        [state] => {
            sql.push(" AND state = ").push_bind(state.as_db());
        }
        states => {
            let states: Vec<&str> = states.iter().map(|s| s.as_db()).collect();
            sql.push(" AND state = ANY(").push_bind(states).push(")");
        }
    }
    if !filter.priorities.is_empty() {
        let priorities: Vec<i16> = filter.priorities.iter().map(|p| p.as_db()).collect();
        sql.push(" AND priority = ANY(")
            .push_bind(priorities)
            .push(")");
    }
    if !filter.tags.is_empty() {
        sql.push(" AND tags_folded @> ")
            .push_bind(filter.tags.clone())
            .push("::text[]");
    }
    if let Some(after) = filter.due_after {
        sql.push(" AND due_time >= ").push_bind(after);
    }
    if let Some(before) = filter.due_before {
        sql.push(" AND due_time < ").push_bind(before);
    }
}

/// `%`, `_` and `\` in a search word are literal characters, not patterns.
fn escape_like(word: &str) -> String {
    let mut escaped = String::with_capacity(word.len());
    for c in word.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::escape_like;

    #[test]
    fn like_patterns_in_search_words_are_literal() {
        assert_eq!(escape_like(r"50%_off\"), r"50\%\_off\\");
    }
}

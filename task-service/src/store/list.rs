//! ListTasks as SQL: the filter, and the statement a listing takes (an
//! owner's, straight from the index its order follows; one state across
//! owners from its index; or a bounded walk across owners, in `walk`); the
//! order and the cursor's condition are in `keyset`.

use anyhow::Context;
use sqlx::{PgPool, Postgres, QueryBuilder};

use super::tasks::{TaskRow, COLUMNS};
use crate::domain::{Cursor, ListFilter, OrderBy, OwnerScope, SortKey, Task};

mod keyset;
mod walk;
use keyset::{column, push_after, push_order};
use walk::{list_bounded, walks};

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
        OwnerScope::Everyone if one_state_by_creation(filter, order) => {
            push_one_state(&mut sql, filter, order, cursor, limit);
            true
        }
        OwnerScope::Everyone => {
            push_straight(&mut sql, filter, order, cursor, limit);
            false
        }
    };

    // Not a cached prepared statement unless its plan cannot depend on the
    // values (`push_owners`, `push_one_state` and the walk above): PostgreSQL then plans each
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

/// Whether a listing is every owner's tasks of one state in creation order,
/// and nothing else: `tasks_state_create_time` answers it.
fn one_state_by_creation(filter: &ListFilter, order: &OrderBy) -> bool {
    matches!(filter.scope, OwnerScope::Everyone)
        && matches!(order.keys(), [(SortKey::CreateTime, _)])
        && filter.states.len() == 1
        && !filter.thins_beyond_states()
}

/// Every owner's tasks of one state in creation order: the page's ids from
/// `tasks_state_create_time` alone (an index-only scan), then their rows.
///
/// Asked for the rows in one statement, PostgreSQL chose to walk
/// `tasks_create_time` and test each task's state (both indexes give the
/// order, and the table follows creation order, which made the walk look
/// cheap), so listing one state read every newer task of the others: at
/// 10,000,000 tasks, after 60,000 new pending tasks, an admin's listing of
/// the tasks in progress took 200 ms (`EXPLAIN ANALYZE`, 59,830 buffers) and
/// the bench's form 147-160 ms at p95. Asked for the ids alone, the state's
/// index is the only one that holds everything read, and both the generic
/// and the custom plans take it (0.9 ms), so the statement is prepared once.
fn push_one_state(
    sql: &mut QueryBuilder<'_, Postgres>,
    filter: &ListFilter,
    order: &OrderBy,
    cursor: Option<&Cursor>,
    limit: u32,
) {
    sql.push(format!(
        "SELECT {COLUMNS} FROM tasks WHERE id = ANY(ARRAY(SELECT id FROM tasks WHERE TRUE"
    ));
    push_tests(sql, filter, Lower::WhenRun);
    if let Some(cursor) = cursor {
        push_after(sql, order, cursor);
    }
    push_order(sql, order);
    sql.push(" LIMIT ").push_bind(i64::from(limit)).push("))");
    push_order(sql, order);
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

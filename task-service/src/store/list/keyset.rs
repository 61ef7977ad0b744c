//! Keyset pagination as SQL: a listing's `ORDER BY` (tasks without a due
//! time last in either direction, the id breaking ties) and the condition
//! for the rows strictly after a [`Cursor`].

use sqlx::{Postgres, QueryBuilder};

use crate::domain::{Cursor, CursorValue, Direction, OrderBy, SortKey};

/// The column a sort key orders by.
pub(super) fn column(key: SortKey) -> &'static str {
    match key {
        SortKey::Priority => "priority",
        SortKey::DueTime => "due_time",
        SortKey::Title => "title",
        SortKey::CreateTime => "create_time",
        SortKey::UpdateTime => "update_time",
    }
}

/// ` ORDER BY` the listing's keys, then the id in the tie-break's direction.
pub(super) fn push_order(sql: &mut QueryBuilder<'_, Postgres>, order: &OrderBy) {
    sql.push(" ORDER BY ");
    for (key, direction) in order.keys() {
        sql.push(column(*key)).push(match direction {
            Direction::Asc => " ASC",
            Direction::Desc => " DESC",
        });
        if *key == SortKey::DueTime {
            // Tasks without a due time come last whichever way we sort.
            sql.push(" NULLS LAST");
        }
        sql.push(", ");
    }
    sql.push(match order.tie_break() {
        Direction::Asc => "id ASC",
        Direction::Desc => "id DESC",
    });
}

fn push_value(sql: &mut QueryBuilder<'_, Postgres>, value: &CursorValue) {
    match value {
        CursorValue::Priority(p) => sql.push_bind(*p),
        CursorValue::DueTime(t) => sql.push_bind(*t),
        CursorValue::Title(t) => sql.push_bind(t.clone()),
        CursorValue::Time(t) => sql.push_bind(*t),
    };
}

/// Rows strictly after the cursor in `order`.
pub(super) fn push_after(sql: &mut QueryBuilder<'_, Postgres>, order: &OrderBy, cursor: &Cursor) {
    let keys = order.keys();
    let tie = order.tie_break();
    let uniform = keys
        .iter()
        .all(|(k, d)| *k != SortKey::DueTime && *d == tie);
    if uniform {
        // `(a, b, id) > ($1, $2, $3)` lets PostgreSQL start an index scan at
        // the cursor instead of filtering from the first row.
        sql.push(" AND (");
        for (key, _) in keys {
            sql.push(column(*key)).push(", ");
        }
        sql.push("id) ")
            .push(if tie == Direction::Asc { ">" } else { "<" })
            .push(" (");
        for value in &cursor.keys {
            push_value(sql, value);
            sql.push(", ");
        }
        sql.push_bind(cursor.id).push(")");
        return;
    }

    // Mixed directions or a nullable key: (k1 after) OR (k1 = AND k2 after) OR …
    sql.push(" AND (FALSE");
    for i in 0..=keys.len() {
        let strict = if i == keys.len() {
            None
        } else {
            Some((keys[i], &cursor.keys[i]))
        };
        // A NULL due time has nothing after it within the key: no disjunct.
        if let Some(((SortKey::DueTime, _), CursorValue::DueTime(None))) = strict {
            continue;
        }
        sql.push(" OR (TRUE");
        for ((key, _), value) in keys.iter().zip(&cursor.keys).take(i) {
            push_equal(sql, *key, value);
        }
        match strict {
            Some(((key, direction), value)) => push_strictly_after(sql, key, direction, value),
            None => {
                sql.push(" AND id ")
                    .push(if tie == Direction::Asc { ">" } else { "<" })
                    .push(" ")
                    .push_bind(cursor.id);
            }
        }
        sql.push(")");
    }
    sql.push(")");
}

fn push_equal(sql: &mut QueryBuilder<'_, Postgres>, key: SortKey, value: &CursorValue) {
    if let CursorValue::DueTime(None) = value {
        sql.push(" AND due_time IS NULL");
        return;
    }
    sql.push(" AND ").push(column(key)).push(" = ");
    push_value(sql, value);
}

fn push_strictly_after(
    sql: &mut QueryBuilder<'_, Postgres>,
    key: SortKey,
    direction: Direction,
    value: &CursorValue,
) {
    let op = if direction == Direction::Asc {
        " > "
    } else {
        " < "
    };
    sql.push(" AND (").push(column(key)).push(op);
    push_value(sql, value);
    if key == SortKey::DueTime {
        // NULLs sort last: they come after every dated task.
        sql.push(" OR due_time IS NULL");
    }
    sql.push(")");
}

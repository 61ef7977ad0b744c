//! ListTasks at the edge: its filters, order and page size parsed with
//! every bad field named (a list over its limit is one violation), and its
//! page cut to what a gRPC client can receive.

use prost::Message as _;
use todogenie_proto::v1 as pb;

use super::convert::{priority_in, state_in, task_out, timestamp_in};
use crate::domain::{
    tag_fold, Cursor, FieldViolations, ListFilter, OrderBy, OwnerScope, PageSize, Tags, Task,
    UserId,
};

/// Longest `query` accepted, in characters.
const MAX_QUERY_CHARS: usize = 500;

/// Most bytes of tasks one ListTasks page holds (1,000 of the largest tasks,
/// ~45 KB each, would be ~46 MB), less room for the page token, so that the
/// whole answer fits a gRPC client's default 4 MiB receive limit.
pub(crate) const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024 - 4 * 1024;

/// The page's tasks as protobuf, cut where they would pass
/// [`MAX_PAGE_BYTES`] as encoded in the answer (at least one task, whatever
/// its size: one is at most ~45 KB); the next page then starts after the
/// last one kept.
pub(super) fn within_page_bytes(
    tasks: &[Task],
    order: &OrderBy,
    next: Option<Cursor>,
) -> (Vec<pb::Task>, Option<Cursor>) {
    let mut out = Vec::with_capacity(tasks.len());
    let mut bytes = 0;
    for task in tasks {
        let encoded = task_out(task);
        let len = encoded.encoded_len();
        // Field tag, length prefix, message.
        bytes += 1 + prost::length_delimiter_len(len) + len;
        if bytes > MAX_PAGE_BYTES && !out.is_empty() {
            let last = &tasks[out.len() - 1];
            return (out, Some(Cursor::after(last, order)));
        }
        out.push(encoded);
    }
    (out, next)
}

/// Filter lists: each value at most once is enough (five states, three
/// priorities); more is one violation.
const MAX_STATES: usize = 5;
const MAX_PRIORITIES: usize = 3;

/// `true` when `len` is within `max`; otherwise records one violation for
/// the whole list, so a long list cannot make a long error.
fn within_limit(v: &mut FieldViolations, field: &str, len: usize, max: usize) -> bool {
    if len > max {
        v.add(field, format!("at most {max} values, got {len}"));
        return false;
    }
    true
}

/// ListTasks' filters, order and page size, every bad field named.
pub(super) fn list_request_in(
    request: &pb::ListTasksRequest,
) -> Result<(ListFilter, OrderBy, PageSize), FieldViolations> {
    let mut v = FieldViolations::new();
    let page_size = v.check("page_size", PageSize::parse(request.page_size));
    let order = v.check("order_by", OrderBy::parse(&request.order_by));

    let query_chars = request.query.chars().count();
    if query_chars > MAX_QUERY_CHARS || request.query.contains('\0') {
        v.add(
            "query",
            format!("must be at most {MAX_QUERY_CHARS} characters without NUL"),
        );
    }
    let words: Vec<String> = request
        .query
        .split_whitespace()
        .map(str::to_lowercase)
        .collect();

    let mut states = Vec::new();
    if within_limit(&mut v, "states", request.states.len(), MAX_STATES) {
        for (i, raw) in request.states.iter().enumerate() {
            match state_in(*raw) {
                Ok(Some(state)) => states.push(state),
                Ok(None) => v.add(format!("states[{i}]"), "must not be TASK_STATE_UNSPECIFIED"),
                Err(e) => v.add(format!("states[{i}]"), e),
            }
        }
    }
    let mut priorities = Vec::new();
    if within_limit(
        &mut v,
        "priorities",
        request.priorities.len(),
        MAX_PRIORITIES,
    ) {
        for (i, raw) in request.priorities.iter().enumerate() {
            match priority_in(*raw) {
                Ok(Some(priority)) => priorities.push(priority),
                Ok(None) => v.add(
                    format!("priorities[{i}]"),
                    "must not be PRIORITY_UNSPECIFIED",
                ),
                Err(e) => v.add(format!("priorities[{i}]"), e),
            }
        }
    }
    let mut tags = Vec::new();
    if within_limit(&mut v, "tags", request.tags.len(), Tags::MAX_COUNT) {
        for (i, raw) in request.tags.iter().enumerate() {
            let folded = tag_fold(raw);
            if folded.is_empty()
                || folded.chars().count() > Tags::MAX_CHARS
                || folded.contains('\0')
            {
                v.add(
                    format!("tags[{i}]"),
                    format!("must be 1 to {} characters after trimming", Tags::MAX_CHARS),
                );
            } else {
                tags.push(folded);
            }
        }
    }
    let due_after = request
        .due_after
        .as_ref()
        .and_then(|ts| v.check("due_after", timestamp_in(ts)));
    let due_before = request
        .due_before
        .as_ref()
        .and_then(|ts| v.check("due_before", timestamp_in(ts)));
    let scope = if request.owner.is_empty() {
        Some(OwnerScope::Everyone)
    } else {
        v.check("owner", UserId::parse(&request.owner))
            .map(OwnerScope::One)
    };

    match (page_size, order, scope) {
        (Some(page_size), Some(order), Some(scope)) if v.is_empty() => Ok((
            ListFilter {
                scope,
                words,
                states,
                priorities,
                tags,
                due_after,
                due_before,
            },
            order,
            page_size,
        )),
        _ => Err(v),
    }
}

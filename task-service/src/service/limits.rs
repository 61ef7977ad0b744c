//! Per-caller limits (CONTRACT §3, "Limits per caller"): the rate of
//! changing RPCs per `sub`, the task quota per owner, and WatchTasks streams
//! per caller and in all. A refusal is RESOURCE_EXHAUSTED naming the limit,
//! with RetryInfo where waiting helps. `admin` and `service` callers are
//! exempt from the rate and the quota. State is per process (README).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use sqlx::PgPool;

use crate::auth::Caller;
use crate::config::LimitSettings;
use crate::domain::UserId;
use crate::error::{Error, Result};
use crate::store;

/// How long a replica trusts its count of an owner's tasks: other replicas'
/// creates within this window can pass the quota (README). Reading the
/// count is one index lookup (`store::tasks::count_open`), so a second is
/// cheap: at most one read per creating owner per second.
const COUNT_TTL: Duration = Duration::from_secs(1);
/// Every this many rate checks, idle callers' buckets are dropped.
const PRUNE_EVERY: u64 = 4096;
/// Owners whose task count is kept; past this, stale counts are dropped.
const MAX_COUNTED_OWNERS: usize = 10_000;

#[derive(Clone)]
pub(crate) struct Limits {
    inner: Arc<Inner>,
}

struct Inner {
    settings: LimitSettings,
    rate: DefaultKeyedRateLimiter<String>,
    checks: AtomicU64,
    counts: Mutex<HashMap<String, Count>>,
    watchers: Mutex<Watchers>,
}

struct Count {
    open: u64,
    read_at: Instant,
}

#[derive(Default)]
struct Watchers {
    total: usize,
    by_caller: HashMap<String, usize>,
}

impl Limits {
    pub(crate) fn new(settings: LimitSettings) -> Self {
        let quota = Quota::per_second(settings.user_rate).allow_burst(settings.user_burst);
        Self {
            inner: Arc::new(Inner {
                settings,
                rate: DefaultKeyedRateLimiter::keyed(quota),
                checks: AtomicU64::new(0),
                counts: Mutex::new(HashMap::new()),
                watchers: Mutex::new(Watchers::default()),
            }),
        }
    }

    /// Tasks one ListTasks page across every owner may read.
    pub(crate) fn list_scan_rows(&self) -> u32 {
        self.inner.settings.list_scan_rows.get()
    }

    /// One changing RPC by `caller`: a token from its bucket.
    pub(crate) fn take_change(&self, caller: &Caller) -> Result<()> {
        if caller.is_privileged() {
            return Ok(());
        }
        let inner = &self.inner;
        if inner.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            inner.rate.retain_recent();
            inner.rate.shrink_to_fit();
        }
        inner
            .rate
            .check_key(&caller.user.as_str().to_owned())
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                Error::ResourceExhausted {
                    message: format!(
                        "TASK_USER_RATE: at most {} changes per second (bursts of {}) per caller; retry in {} ms",
                        inner.settings.user_rate,
                        inner.settings.user_burst,
                        wait.as_millis().max(1)
                    ),
                    retry_after: Some(wait),
                }
            })
    }

    /// Room for one more task of `owner`, created by `caller`: held until
    /// the returned slot is kept (the task was made) or dropped (it was not).
    pub(crate) async fn reserve_task(
        &self,
        pool: &PgPool,
        caller: &Caller,
        owner: &UserId,
    ) -> Result<Option<TaskSlot>> {
        if caller.is_privileged() {
            return Ok(None);
        }
        let max = self.inner.settings.max_tasks_per_owner;
        let fresh = {
            let counts = self.inner.counts.lock().expect("not poisoned");
            counts
                .get(owner.as_str())
                .is_some_and(|c| c.read_at.elapsed() < COUNT_TTL)
        };
        if !fresh {
            let open = store::tasks::count_open(pool, owner.as_str()).await?;
            let mut counts = self.inner.counts.lock().expect("not poisoned");
            if counts.len() >= MAX_COUNTED_OWNERS {
                counts.retain(|_, c| c.read_at.elapsed() < COUNT_TTL);
            }
            counts.insert(
                owner.as_str().to_owned(),
                Count {
                    open,
                    read_at: Instant::now(),
                },
            );
        }
        let mut counts = self.inner.counts.lock().expect("not poisoned");
        let count = counts
            .get_mut(owner.as_str())
            .expect("counted just above, under the same owner key");
        if count.open >= max {
            return Err(Error::ResourceExhausted {
                message: format!(
                    "TASK_MAX_TASKS_PER_OWNER: an owner has at most {max} tasks that are not archived; archive or delete some"
                ),
                retry_after: None,
            });
        }
        count.open += 1;
        Ok(Some(TaskSlot {
            limits: self.clone(),
            owner: owner.as_str().to_owned(),
            kept: false,
        }))
    }

    /// An owner's task left the count (deleted or archived): read it again.
    pub(crate) fn forget_count(&self, owner: &UserId) {
        let mut counts = self.inner.counts.lock().expect("not poisoned");
        counts.remove(owner.as_str());
    }

    /// A WatchTasks stream for `caller`, held for as long as the stream is.
    pub(crate) fn open_watch(&self, caller: &Caller) -> Result<WatchSlot> {
        let settings = self.inner.settings;
        let mut watchers = self.inner.watchers.lock().expect("not poisoned");
        let retry_after = Some(Duration::from_secs(1));
        if watchers.total >= settings.max_watchers {
            return Err(Error::ResourceExhausted {
                message: format!(
                    "TASK_MAX_WATCHERS: at most {} WatchTasks streams are open at once",
                    settings.max_watchers
                ),
                retry_after,
            });
        }
        let mine = watchers
            .by_caller
            .entry(caller.user.as_str().to_owned())
            .or_default();
        if *mine >= settings.max_watchers_per_caller {
            return Err(Error::ResourceExhausted {
                message: format!(
                    "TASK_MAX_WATCHERS_PER_CALLER: at most {} open WatchTasks streams per caller; close one first",
                    settings.max_watchers_per_caller
                ),
                retry_after,
            });
        }
        *mine += 1;
        watchers.total += 1;
        Ok(WatchSlot {
            limits: self.clone(),
            caller: caller.user.as_str().to_owned(),
        })
    }
}

/// A reserved place in an owner's quota; given back on drop unless kept.
pub(crate) struct TaskSlot {
    limits: Limits,
    owner: String,
    kept: bool,
}

impl TaskSlot {
    /// The task was created: it counts.
    pub(crate) fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for TaskSlot {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        let mut counts = self.limits.inner.counts.lock().expect("not poisoned");
        if let Some(count) = counts.get_mut(&self.owner) {
            count.open = count.open.saturating_sub(1);
        }
    }
}

/// One open WatchTasks stream; closing the stream drops it.
pub(crate) struct WatchSlot {
    limits: Limits,
    caller: String,
}

impl Drop for WatchSlot {
    fn drop(&mut self) {
        let mut watchers = self.limits.inner.watchers.lock().expect("not poisoned");
        watchers.total = watchers.total.saturating_sub(1);
        if let Some(mine) = watchers.by_caller.get_mut(&self.caller) {
            *mine -= 1;
            if *mine == 0 {
                watchers.by_caller.remove(&self.caller);
            }
        }
    }
}

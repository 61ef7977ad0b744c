//! The notifier's operations and who may do them (README, "Access"): a user
//! reads only its own contact and notifications (another's is NOT_FOUND)
//! and writes only its own contact (PERMISSION_DENIED); admin and service
//! callers act for anyone. Paging of ListNotifications lives here too.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use todogenie_common::auth::Caller;
use todogenie_common::page_token::PageTokens;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::domain::{Contact, ContactSpec, FieldViolations, Notification, Status, UserId};
use crate::error::{Error, Result};
use crate::store;
use crate::store::numbers::{Asking, MAX_REQUESTS_PER_USER};

/// One page of notifications; `next_page_token` is empty on the last.
#[derive(Debug)]
pub(crate) struct Page {
    pub notifications: Vec<Notification>,
    pub next_page_token: String,
}

/// What a ListNotifications asks for, parsed.
#[derive(Debug)]
pub(crate) struct ListQuery {
    pub user: UserId,
    /// Sorted and without repeats (the page token binds them).
    pub statuses: Vec<Status>,
    pub page_size: u16,
    pub page_token: String,
}

#[derive(Clone)]
pub(crate) struct Notifier {
    pool: PgPool,
    page_tokens: PageTokens,
    /// Wakes the confirmer when a request was queued.
    confirm: Arc<Notify>,
}

impl Notifier {
    pub(crate) fn new(pool: PgPool, page_tokens: PageTokens, confirm: Arc<Notify>) -> Self {
        Self {
            pool,
            page_tokens,
            confirm,
        }
    }

    /// A user may change only its own contact; admin and service callers
    /// anyone's. The API asks before it parses the contact, so a user learns
    /// nothing about a contact it may not change.
    pub(crate) fn may_change_contact(&self, caller: &Caller, user: &UserId) -> Result<()> {
        if caller.may_act_for(user) {
            Ok(())
        } else {
            Err(Error::PermissionDenied(
                "a user may change only its own contact".into(),
            ))
        }
    }

    /// `confirmed`: the caller's own system verified the number, so it
    /// need not be asked; only admin and service callers may say so.
    pub(crate) async fn upsert_contact(
        &self,
        caller: &Caller,
        spec: ContactSpec,
        confirmed: bool,
    ) -> Result<Contact> {
        self.may_change_contact(caller, &spec.user)?;
        if confirmed && !caller.is_privileged() {
            return Err(Error::PermissionDenied(
                "only admin and service callers may set confirmed; the number confirms itself"
                    .into(),
            ));
        }
        let (stored, asking) = store::contacts::upsert(&self.pool, &spec, confirmed).await?;
        match asking {
            Asking::Queued => self.confirm.notify_one(),
            Asking::No => {}
            Asking::OverUserLimit => {
                return Err(Error::ResourceExhausted {
                    message: format!(
                    "a user may ask at most {MAX_REQUESTS_PER_USER} numbers to confirm in 24 hours"
                ),
                    retry_after: None,
                })
            }
        }
        tracing::info!(
            user = spec.user.as_str(),
            phone = %spec.phone_number.masked(),
            status = stored.whatsapp_status().name(),
            ?asking,
            "contact saved"
        );
        Ok(stored)
    }

    pub(crate) async fn get_contact(&self, caller: &Caller, user: &UserId) -> Result<Contact> {
        if !caller.may_act_for(user) {
            return Err(Error::NotFound("contact"));
        }
        store::contacts::get(&self.pool, user)
            .await?
            .ok_or(Error::NotFound("contact"))
    }

    pub(crate) async fn delete_contact(&self, caller: &Caller, user: &UserId) -> Result<()> {
        if !caller.may_act_for(user) {
            return Err(Error::PermissionDenied(
                "a user may delete only its own contact".into(),
            ));
        }
        if store::contacts::delete(&self.pool, user).await? {
            Ok(())
        } else {
            Err(Error::NotFound("contact"))
        }
    }

    /// Newest first, `page_size` at a time, from where `page_token` left off.
    pub(crate) async fn list_notifications(
        &self,
        caller: &Caller,
        query: ListQuery,
    ) -> Result<Page> {
        if !caller.may_act_for(&query.user) {
            return Err(Error::PermissionDenied(
                "a user may list only its own notifications".into(),
            ));
        }
        let names: Vec<&str> = query.statuses.iter().map(|s| s.as_db()).collect();
        let fingerprint =
            PageTokens::fingerprint(&[query.user.as_str().as_bytes(), names.join(",").as_bytes()]);
        let after = if query.page_token.is_empty() {
            None
        } else {
            let cursor: (DateTime<Utc>, Uuid) = self
                .page_tokens
                .decode(&query.page_token, caller, &fingerprint)
                .map_err(|e| FieldViolations::single("page_token", e))?;
            Some(cursor)
        };
        let size = usize::from(query.page_size);
        let mut notifications = store::notifications::list(
            &self.pool,
            query.user.as_str(),
            &query.statuses,
            after,
            i64::from(query.page_size) + 1,
        )
        .await?;
        let next_page_token = if notifications.len() > size {
            notifications.truncate(size);
            let last = notifications.last().expect("a full page has a last row");
            self.page_tokens
                .encode(caller, &fingerprint, &(last.create_time, last.id))
        } else {
            String::new()
        };
        Ok(Page {
            notifications,
            next_page_token,
        })
    }

    pub(crate) async fn get_notification(&self, caller: &Caller, id: Uuid) -> Result<Notification> {
        match store::notifications::get(&self.pool, id).await? {
            Some(n) if caller.may_act_for(&n.user_id) => Ok(n),
            _ => Err(Error::NotFound("notification")),
        }
    }
}

//! `todogenie.v1.NotifierService`: each handler reads the caller, parses the
//! request, applies the access rule (§2: another's contact is NOT_FOUND to
//! read and PERMISSION_DENIED to write) and calls the store.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use todogenie_common::auth::{caller, Caller};
use todogenie_common::metrics::observe;
use todogenie_common::page_token::PageTokens;
use todogenie_proto::v1 as pb;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::convert::{contact_in, contact_out, notification_out};
use crate::domain::{FieldViolations, Status as NotificationStatus, UserId};
use crate::error::Error;
use crate::store;

const DEFAULT_PAGE_SIZE: i32 = 50;
const MAX_PAGE_SIZE: i32 = 1000;

#[derive(Clone)]
pub struct NotifierApi {
    pool: PgPool,
    page_tokens: PageTokens,
}

impl NotifierApi {
    pub fn new(pool: PgPool, page_tokens: PageTokens) -> Self {
        Self { pool, page_tokens }
    }
}

/// The user a request names (`field`), or the caller when it names none.
fn subject(caller: &Caller, field: &str, raw: &str) -> Result<UserId, Error> {
    if raw.is_empty() {
        return Ok(caller.user.clone());
    }
    UserId::parse(raw).map_err(|e| FieldViolations::single(field, e).into())
}

#[tonic::async_trait]
impl pb::notifier_service_server::NotifierService for NotifierApi {
    async fn upsert_contact(
        &self,
        request: Request<pb::UpsertContactRequest>,
    ) -> Result<Response<pb::Contact>, Status> {
        observe("UpsertContact", async {
            let caller = caller(&request)?;
            let Some(contact) = request.into_inner().contact else {
                return Err(FieldViolations::single("contact", "is required").into());
            };
            let user = subject(&caller, "contact.user_id", &contact.user_id)?;
            if !caller.may_act_for(&user) {
                return Err(Error::PermissionDenied("a user may change only its own contact").into());
            }
            let spec = contact_in(user, &contact).map_err(Error::from)?;
            let stored = store::contacts::upsert(&self.pool, &spec)
                .await
                .map_err(Error::from)?;
            tracing::info!(user = spec.user.as_str(), phone = %spec.phone_number.masked(), "contact saved");
            Ok(Response::new(contact_out(&stored)))
        })
        .await
    }

    async fn get_contact(
        &self,
        request: Request<pb::GetContactRequest>,
    ) -> Result<Response<pb::Contact>, Status> {
        observe("GetContact", async {
            let caller = caller(&request)?;
            let user = subject(&caller, "user_id", &request.get_ref().user_id)?;
            if !caller.may_act_for(&user) {
                return Err(Error::NotFound("contact").into());
            }
            match store::contacts::get(&self.pool, &user)
                .await
                .map_err(Error::from)?
            {
                Some(contact) => Ok(Response::new(contact_out(&contact))),
                None => Err(Error::NotFound("contact").into()),
            }
        })
        .await
    }

    async fn delete_contact(
        &self,
        request: Request<pb::DeleteContactRequest>,
    ) -> Result<Response<()>, Status> {
        observe("DeleteContact", async {
            let caller = caller(&request)?;
            let user = subject(&caller, "user_id", &request.get_ref().user_id)?;
            if !caller.may_act_for(&user) {
                return Err(
                    Error::PermissionDenied("a user may delete only its own contact").into(),
                );
            }
            if store::contacts::delete(&self.pool, &user)
                .await
                .map_err(Error::from)?
            {
                Ok(Response::new(()))
            } else {
                Err(Error::NotFound("contact").into())
            }
        })
        .await
    }

    async fn list_notifications(
        &self,
        request: Request<pb::ListNotificationsRequest>,
    ) -> Result<Response<pb::ListNotificationsResponse>, Status> {
        observe("ListNotifications", async {
            let caller = caller(&request)?;
            let request = request.into_inner();
            let mut violations = FieldViolations::new();
            let user = match subject(&caller, "user_id", &request.user_id) {
                Ok(user) => Some(user),
                Err(Error::Invalid(v)) => {
                    for (field, why) in v.iter() {
                        violations.add(field, why);
                    }
                    None
                }
                Err(e) => return Err(e.into()),
            };
            let page_size = match request.page_size {
                0 => DEFAULT_PAGE_SIZE,
                n if (1..=MAX_PAGE_SIZE).contains(&n) => n,
                n => {
                    violations.add(
                        "page_size",
                        format!("must be 0 to {MAX_PAGE_SIZE}, got {n}"),
                    );
                    DEFAULT_PAGE_SIZE
                }
            };
            let mut statuses = Vec::new();
            for (i, raw) in request.statuses.iter().enumerate() {
                match pb::NotificationStatus::try_from(*raw)
                    .ok()
                    .and_then(NotificationStatus::from_pb)
                {
                    Some(status) => statuses.push(status),
                    None => {
                        violations.add(format!("statuses[{i}]"), format!("{raw} is not a status"))
                    }
                }
            }
            statuses.sort_by_key(|s| s.as_db());
            statuses.dedup();
            violations.clone().into_result().map_err(Error::from)?;
            let user = user.expect("a user when there are no violations");
            if !caller.may_act_for(&user) {
                return Err(
                    Error::PermissionDenied("a user may list only its own notifications").into(),
                );
            }
            let names: Vec<&str> = statuses.iter().map(|s| s.as_db()).collect();
            let fingerprint =
                PageTokens::fingerprint(&[user.as_str().as_bytes(), names.join(",").as_bytes()]);
            let after = if request.page_token.is_empty() {
                None
            } else {
                let cursor: (DateTime<Utc>, Uuid) = self
                    .page_tokens
                    .decode(&request.page_token, &caller, &fingerprint)
                    .map_err(|e| Error::from(FieldViolations::single("page_token", e)))?;
                Some(cursor)
            };
            let limit = i64::from(page_size);
            let mut rows =
                store::notifications::list(&self.pool, user.as_str(), &statuses, after, limit + 1)
                    .await
                    .map_err(Error::from)?;
            let next_page_token = if rows.len() > usize::try_from(page_size).unwrap_or(usize::MAX) {
                rows.truncate(usize::try_from(page_size).unwrap_or(usize::MAX));
                let last = rows.last().expect("a full page has a last row");
                self.page_tokens
                    .encode(&caller, &fingerprint, &(last.create_time, last.id))
            } else {
                String::new()
            };
            Ok(Response::new(pb::ListNotificationsResponse {
                notifications: rows.iter().map(notification_out).collect(),
                next_page_token,
            }))
        })
        .await
    }

    async fn get_notification(
        &self,
        request: Request<pb::GetNotificationRequest>,
    ) -> Result<Response<pb::Notification>, Status> {
        observe("GetNotification", async {
            let caller = caller(&request)?;
            let id = Uuid::parse_str(&request.get_ref().id)
                .map_err(|_| Error::from(FieldViolations::single("id", "must be a UUID")))?;
            let row = store::notifications::get(&self.pool, id)
                .await
                .map_err(Error::from)?;
            match row {
                Some(row) if caller.may_act_for(&UserId::from_stored(row.user_id.clone())) => {
                    Ok(Response::new(notification_out(&row)))
                }
                _ => Err(Error::NotFound("notification").into()),
            }
        })
        .await
    }
}

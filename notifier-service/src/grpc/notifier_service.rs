//! `todogenie.v1.NotifierService`: each handler reads the caller, parses the
//! request into domain types (every bad field in one `BadRequest`) and calls
//! the service layer, which decides who may do what.

use todogenie_common::auth::{caller, Caller};
use todogenie_common::metrics::observe;
use todogenie_proto::v1 as pb;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::convert::{contact_in, contact_out, notification_out};
use crate::domain::{FieldViolations, Status as NotificationStatus, UserId};
use crate::error::Error;
use crate::service::{ListQuery, Notifier};

const DEFAULT_PAGE_SIZE: u16 = 50;
const MAX_PAGE_SIZE: u16 = 1000;

#[derive(Clone)]
pub(crate) struct NotifierApi {
    notifier: Notifier,
}

impl NotifierApi {
    pub(crate) fn new(notifier: Notifier) -> Self {
        Self { notifier }
    }
}

/// The user a request names (`field`), or the caller when it names none.
fn subject(caller: &Caller, field: &str, raw: &str) -> Result<UserId, FieldViolations> {
    if raw.is_empty() {
        return Ok(caller.user.clone());
    }
    UserId::parse(raw).map_err(|e| FieldViolations::single(field, e))
}

/// A ListNotifications request, every bad field named.
fn list_query(caller: &Caller, request: pb::ListNotificationsRequest) -> Result<ListQuery, Error> {
    let mut violations = FieldViolations::new();
    let user = match subject(caller, "user_id", &request.user_id) {
        Ok(user) => Some(user),
        Err(v) => {
            for (field, why) in v.iter() {
                violations.add(field, why);
            }
            None
        }
    };
    let page_size = match u16::try_from(request.page_size) {
        Ok(0) => DEFAULT_PAGE_SIZE,
        Ok(n) if n <= MAX_PAGE_SIZE => n,
        _ => {
            violations.add(
                "page_size",
                format!("must be 0 to {MAX_PAGE_SIZE}, got {}", request.page_size),
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
            None => violations.add(format!("statuses[{i}]"), format!("{raw} is not a status")),
        }
    }
    statuses.sort_by_key(|s| s.as_db());
    statuses.dedup();
    violations.into_result()?;
    Ok(ListQuery {
        user: user.expect("a user when there are no violations"),
        statuses,
        page_size,
        page_token: request.page_token,
    })
}

#[tonic::async_trait]
impl pb::notifier_service_server::NotifierService for NotifierApi {
    async fn upsert_contact(
        &self,
        request: Request<pb::UpsertContactRequest>,
    ) -> Result<Response<pb::Contact>, Status> {
        observe("UpsertContact", async {
            let caller = caller(&request)?;
            let request = request.into_inner();
            let Some(contact) = request.contact else {
                return Err(FieldViolations::single("contact", "is required").into());
            };
            let user =
                subject(&caller, "contact.user_id", &contact.user_id).map_err(Error::from)?;
            self.notifier.may_change_contact(&caller, &user)?;
            let spec = contact_in(user, &contact).map_err(Error::from)?;
            let stored = self
                .notifier
                .upsert_contact(&caller, spec, request.confirmed)
                .await?;
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
            let user =
                subject(&caller, "user_id", &request.get_ref().user_id).map_err(Error::from)?;
            let contact = self.notifier.get_contact(&caller, &user).await?;
            Ok(Response::new(contact_out(&contact)))
        })
        .await
    }

    async fn delete_contact(
        &self,
        request: Request<pb::DeleteContactRequest>,
    ) -> Result<Response<()>, Status> {
        observe("DeleteContact", async {
            let caller = caller(&request)?;
            let user =
                subject(&caller, "user_id", &request.get_ref().user_id).map_err(Error::from)?;
            self.notifier.delete_contact(&caller, &user).await?;
            Ok(Response::new(()))
        })
        .await
    }

    async fn list_notifications(
        &self,
        request: Request<pb::ListNotificationsRequest>,
    ) -> Result<Response<pb::ListNotificationsResponse>, Status> {
        observe("ListNotifications", async {
            let caller = caller(&request)?;
            let query = list_query(&caller, request.into_inner())?;
            let page = self.notifier.list_notifications(&caller, query).await?;
            Ok(Response::new(pb::ListNotificationsResponse {
                notifications: page.notifications.iter().map(notification_out).collect(),
                next_page_token: page.next_page_token,
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
            let notification = self.notifier.get_notification(&caller, id).await?;
            Ok(Response::new(notification_out(&notification)))
        })
        .await
    }
}

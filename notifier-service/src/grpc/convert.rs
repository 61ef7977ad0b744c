//! Between protobuf and the notifier's domain types: requests are parsed once
//! here, every bad field named.

use chrono::{DateTime, Utc};
use todogenie_proto::v1 as pb;

use crate::domain::{
    parse_contact_parts, Contact, ContactSpec, FieldViolations, Notification, UserId,
    WhatsAppStatus,
};

pub(crate) fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// An UpsertContact's contact for `user` (already resolved and authorised).
pub(crate) fn contact_in(
    user: UserId,
    contact: &pb::Contact,
) -> Result<ContactSpec, FieldViolations> {
    let mut violations = FieldViolations::new();
    let quiet = contact
        .quiet_hours
        .as_ref()
        .filter(|q| !(q.start.is_empty() && q.end.is_empty()))
        .map(|q| (q.start.as_str(), q.end.as_str()));
    let parts = parse_contact_parts(
        &mut violations,
        &contact.phone_number,
        &contact.time_zone,
        &contact.locale,
        quiet,
    );
    match parts {
        Some((phone_number, zone, locale, quiet_hours)) if violations.is_empty() => {
            Ok(ContactSpec {
                user,
                phone_number,
                zone,
                locale,
                whatsapp_opt_in: contact.whatsapp_opt_in,
                quiet_hours,
            })
        }
        _ => Err(violations),
    }
}

pub(crate) fn contact_out(contact: &Contact) -> pb::Contact {
    let spec = &contact.spec;
    pb::Contact {
        user_id: spec.user.as_str().to_owned(),
        phone_number: spec.phone_number.as_str().to_owned(),
        time_zone: spec.zone.name().to_owned(),
        locale: spec.locale.as_str().to_owned(),
        whatsapp_opt_in: spec.whatsapp_opt_in,
        quiet_hours: spec.quiet_hours.map(|q| pb::QuietHours {
            start: q.start.format("%H:%M").to_string(),
            end: q.end.format("%H:%M").to_string(),
        }),
        window_expire_time: contact.window_expire_time.map(timestamp),
        create_time: Some(timestamp(contact.create_time)),
        update_time: Some(timestamp(contact.update_time)),
        whatsapp_status: whatsapp_status_out(contact.whatsapp_status()).into(),
    }
}

fn whatsapp_status_out(status: WhatsAppStatus) -> pb::WhatsAppStatus {
    match status {
        WhatsAppStatus::Off => pb::WhatsAppStatus::WhatsappStatusOff,
        WhatsAppStatus::Pending => pb::WhatsAppStatus::WhatsappStatusPending,
        WhatsAppStatus::Confirmed => pb::WhatsAppStatus::WhatsappStatusConfirmed,
        WhatsAppStatus::Stopped => pb::WhatsAppStatus::WhatsappStatusStopped,
    }
}

pub(crate) fn notification_out(row: &Notification) -> pb::Notification {
    pb::Notification {
        id: row.id.to_string(),
        user_id: row.user_id.as_str().to_owned(),
        task_id: row.task_id.to_string(),
        event_id: row.event_id.to_string(),
        channel: row.channel.as_db().to_owned(),
        status: row.status.to_pb().into(),
        provider_message_id: row.provider_message_id.clone().unwrap_or_default(),
        attempts: row.attempts,
        last_error: row.last_error.clone().unwrap_or_default(),
        scheduled_time: Some(timestamp(row.scheduled_time)),
        create_time: Some(timestamp(row.create_time)),
        update_time: Some(timestamp(row.update_time)),
    }
}

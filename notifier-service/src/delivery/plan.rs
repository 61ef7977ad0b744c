//! The pure part of a delivery round: from the claimed notifications, the
//! recipients' contacts and the clock, what to skip (and why), what to defer
//! to the end of quiet hours, what waits for the recipient's next slot, and
//! which batches (one recipient, one channel: a digest when several) go out
//! now. No database, no provider: unit-tested on its own.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::{Channel, Contact, Notification, Status, WhatsAppStatus};
use crate::store::notifications::{Claimed, Outcome};

/// No recipient gets more than one message per this (README, "Digest and
/// timing").
pub(crate) const RECIPIENT_GAP: Duration = Duration::from_secs(6);
/// Task states that get no reminder.
const CLOSED: [&str; 4] = [
    "TASK_STATE_COMPLETED",
    "TASK_STATE_CANCELLED",
    "TASK_STATE_ARCHIVED",
    "DELETED",
];
/// How long a paced recipient's reminders wait at least before they are
/// looked at again.
const PACED_RETRY: chrono::Duration = chrono::Duration::milliseconds(500);

/// One recipient's notifications on one channel, sent as one message.
#[derive(Debug, Clone)]
pub(super) struct Batch {
    pub contact: Contact,
    pub notifications: Vec<Notification>,
    pub channel: Channel,
}

impl Batch {
    pub(super) fn user(&self) -> &str {
        self.contact.spec.user.as_str()
    }

    /// Consecutive 131056 answers for this recipient so far.
    pub(super) fn pair_streak(&self) -> u32 {
        self.contact.pacing.pair_limited
    }
}

/// What a round decided before any slot was reserved.
#[derive(Debug, Default)]
pub(super) struct Plan {
    /// Settled without a send: skipped or deferred.
    pub outcomes: Vec<Outcome>,
    /// Ready to go once the recipient's slot is reserved.
    pub ready: Vec<Batch>,
}

impl Plan {
    /// The users whose send slot the ready batches need.
    pub(super) fn recipients(&self) -> Vec<String> {
        self.ready
            .iter()
            .map(|b| b.user().to_owned())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect()
    }
}

/// An outcome with no request made: the notification keeps its channel and
/// failures.
pub(super) fn settle(
    notification: &Notification,
    status: Status,
    last_error: Option<String>,
    scheduled_time: DateTime<Utc>,
) -> Outcome {
    Outcome {
        id: notification.id,
        status,
        channel: notification.channel,
        requests: 0,
        failures: notification.failures,
        provider_message_id: None,
        batch_id: None,
        last_error,
        scheduled_time,
    }
}

fn settle_all<'a>(
    notifications: &'a [Notification],
    status: Status,
    why: Option<&str>,
    at: DateTime<Utc>,
) -> impl Iterator<Item = Outcome> + 'a {
    let why = why.map(str::to_owned);
    notifications
        .iter()
        .map(move |n| settle(n, status, why.clone(), at))
}

/// Sorts claimed notifications into skips, deferrals and per-recipient
/// batches. `contacts` holds the contacts of the claimed users, by user id.
pub(super) fn plan(
    claimed: Vec<Claimed>,
    contacts: &HashMap<String, Contact>,
    now: DateTime<Utc>,
) -> Plan {
    let mut plan = Plan::default();
    // BTreeMap: recipients in a stable order, oldest reminders first.
    let mut groups: BTreeMap<(String, &'static str), (Channel, Vec<Notification>)> =
        BTreeMap::new();
    for Claimed {
        notification,
        task_state,
    } in claimed
    {
        if let Some(state) = task_state.as_deref().filter(|s| CLOSED.contains(s)) {
            let why = if state == "DELETED" {
                "task was deleted".to_owned()
            } else {
                format!("task is {state}")
            };
            plan.outcomes
                .push(settle(&notification, Status::Skipped, Some(why), now));
            continue;
        }
        let channel = notification.channel;
        groups
            .entry((notification.user_id.as_str().to_owned(), channel.as_db()))
            .or_insert_with(|| (channel, Vec::new()))
            .1
            .push(notification);
    }
    for ((user, _), (channel, notifications)) in groups {
        let Some(contact) = contacts.get(&user) else {
            let why = Some("no contact for this user");
            plan.outcomes
                .extend(settle_all(&notifications, Status::Skipped, why, now));
            continue;
        };
        let status = contact.whatsapp_status();
        if status != WhatsAppStatus::Confirmed {
            let why = match status {
                WhatsAppStatus::Off => "contact has not opted in (WHATSAPP_STATUS_OFF)".to_owned(),
                WhatsAppStatus::Stopped => {
                    "the number sent STOP (WHATSAPP_STATUS_STOPPED)".to_owned()
                }
                _ => format!("the number has not confirmed ({})", status.name()),
            };
            plan.outcomes
                .extend(settle_all(&notifications, Status::Skipped, Some(&why), now));
            continue;
        }
        if let Some(release) = contact
            .spec
            .quiet_hours
            .and_then(|quiet| quiet.release_time(contact.spec.zone.0, now))
        {
            plan.outcomes
                .extend(settle_all(&notifications, Status::Deferred, None, release));
            continue;
        }
        plan.ready.push(Batch {
            contact: contact.clone(),
            notifications,
            channel,
        });
    }
    plan
}

/// Given the recipients whose slot was reserved, the batches that go now:
/// one per recipient (a WhatsApp batch and an SMS fallback batch of one
/// person share the slot). The rest wait for the recipient's next slot.
pub(super) fn pace(
    ready: Vec<Batch>,
    reserved: &HashSet<String>,
    now: DateTime<Utc>,
) -> (Vec<Batch>, Vec<Outcome>) {
    let mut outcomes = Vec::new();
    let mut go = Vec::new();
    let mut sending = HashSet::new();
    let gap = chrono::Duration::from_std(RECIPIENT_GAP).unwrap_or_default();
    for batch in ready {
        let user = batch.user().to_owned();
        let next = if !reserved.contains(&user) {
            // Paced: this recipient had a message less than 6 s ago.
            batch.contact.pacing.next_send_time.max(now + PACED_RETRY)
        } else if sending.insert(user) {
            go.push(batch);
            continue;
        } else {
            now + gap
        };
        outcomes.extend(settle_all(&batch.notifications, Status::Queued, None, next));
    }
    (go, outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        ContactSpec, Locale, NumberState, Pacing, PhoneNumber, QuietHours, UserId, Zone,
    };
    use chrono::{NaiveTime, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
    }

    fn contact(user: &str, opt_in: bool, quiet: Option<(u32, u32)>) -> Contact {
        Contact {
            spec: ContactSpec {
                user: UserId::parse(user).unwrap(),
                phone_number: PhoneNumber::parse("+14155550123").unwrap(),
                zone: Zone::parse("UTC").unwrap(),
                locale: Locale::parse("en").unwrap(),
                whatsapp_opt_in: opt_in,
                quiet_hours: quiet.map(|(start, end)| QuietHours {
                    start: NaiveTime::from_hms_opt(start, 0, 0).unwrap(),
                    end: NaiveTime::from_hms_opt(end, 0, 0).unwrap(),
                }),
            },
            number: NumberState {
                confirmed: true,
                stopped: false,
            },
            window_expire_time: None,
            pacing: Pacing {
                next_send_time: now() - chrono::Duration::hours(1),
                pair_limited: 0,
            },
            create_time: now(),
            update_time: now(),
        }
    }

    fn claimed(user: &str, channel: Channel, state: Option<&str>) -> Claimed {
        Claimed {
            notification: Notification {
                id: uuid::Uuid::now_v7(),
                user_id: UserId::parse(user).unwrap(),
                task_id: uuid::Uuid::now_v7(),
                event_id: uuid::Uuid::now_v7(),
                reminder_time: now(),
                task_title: format!("task of {user}"),
                due_time: None,
                channel,
                status: Status::Queued,
                batch_id: None,
                provider_message_id: None,
                attempts: 1,
                failures: 0,
                last_error: None,
                scheduled_time: now(),
                create_time: now(),
                update_time: now(),
                traceparent: None,
            },
            task_state: state.map(str::to_owned),
        }
    }

    fn contacts(list: Vec<Contact>) -> HashMap<String, Contact> {
        list.into_iter()
            .map(|c| (c.spec.user.as_str().to_owned(), c))
            .collect()
    }

    #[test]
    fn closed_tasks_strangers_and_the_unwilling_are_skipped_with_the_reason() {
        let claimed = vec![
            claimed("ann", Channel::WhatsApp, Some("TASK_STATE_COMPLETED")),
            claimed("ann", Channel::WhatsApp, Some("DELETED")),
            claimed("bob", Channel::WhatsApp, None),
            claimed("cy", Channel::WhatsApp, Some("TASK_STATE_PENDING")),
        ];
        let plan = plan(
            claimed,
            &contacts(vec![contact("ann", true, None), contact("cy", false, None)]),
            now(),
        );
        assert!(plan.ready.is_empty());
        let reasons: Vec<_> = plan
            .outcomes
            .iter()
            .map(|o| (o.status, o.last_error.clone().unwrap()))
            .collect();
        assert_eq!(
            reasons,
            [
                (Status::Skipped, "task is TASK_STATE_COMPLETED".to_owned()),
                (Status::Skipped, "task was deleted".to_owned()),
                (Status::Skipped, "no contact for this user".to_owned()),
                (
                    Status::Skipped,
                    "contact has not opted in (WHATSAPP_STATUS_OFF)".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn quiet_hours_defer_to_their_end_and_several_reminders_make_one_digest() {
        let claimed = vec![
            claimed("night", Channel::WhatsApp, None),
            claimed("day", Channel::WhatsApp, None),
            claimed("day", Channel::WhatsApp, None),
            claimed("day", Channel::Sms, None),
        ];
        let plan = plan(
            claimed,
            &contacts(vec![
                contact("night", true, Some((11, 13))),
                contact("day", true, None),
            ]),
            now(),
        );
        assert_eq!(plan.outcomes.len(), 1);
        assert_eq!(plan.outcomes[0].status, Status::Deferred);
        assert_eq!(
            plan.outcomes[0].scheduled_time,
            Utc.with_ymd_and_hms(2026, 11, 21, 13, 0, 0).unwrap()
        );
        let sizes: Vec<_> = plan
            .ready
            .iter()
            .map(|b| (b.user().to_owned(), b.channel, b.notifications.len()))
            .collect();
        assert_eq!(
            sizes,
            [
                ("day".to_owned(), Channel::Sms, 1),
                ("day".to_owned(), Channel::WhatsApp, 2)
            ]
        );
        assert_eq!(plan.recipients(), ["day"]);
    }

    #[test]
    fn a_recipient_without_a_slot_waits_and_gets_one_message_per_slot() {
        let mut paced = contact("paced", true, None);
        paced.pacing.next_send_time = now() + chrono::Duration::seconds(4);
        let ready = plan(
            vec![
                claimed("paced", Channel::WhatsApp, None),
                claimed("free", Channel::WhatsApp, None),
                claimed("free", Channel::Sms, None),
            ],
            &contacts(vec![paced, contact("free", true, None)]),
            now(),
        )
        .ready;
        let reserved = HashSet::from(["free".to_owned()]);
        let (go, waiting) = pace(ready, &reserved, now());
        assert_eq!(go.len(), 1);
        assert_eq!(go[0].user(), "free");
        let waits: Vec<_> = waiting
            .iter()
            .map(|o| (o.status, o.scheduled_time))
            .collect();
        assert_eq!(
            waits,
            [
                (Status::Queued, now() + chrono::Duration::seconds(6)),
                (Status::Queued, now() + chrono::Duration::seconds(4)),
            ]
        );
    }
}

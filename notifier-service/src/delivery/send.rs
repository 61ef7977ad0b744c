//! One batch's send: the provider request under the global rate and the
//! lease, the template after a closed window, and what a failure changes
//! beyond its notifications.

use chrono::Utc;
use tracing::Instrument as _;

use super::failure::{self, SideEffect};
use super::plan::{settle, Batch};
use super::{compose, Engine, Held};
use crate::domain::{Channel, Status};
use crate::providers::{ErrorClass, Message};
use crate::store::contacts;
use crate::store::notifications::Outcome;

/// The Cloud API's "message throughput has been reached".
const THROUGHPUT_REACHED: i64 = 130_429;

impl Engine {
    /// Sends one batch as one message and says what became of each row.
    /// A batch the lease would not outlast goes back to the queue unsent.
    pub(super) async fn deliver(&self, held: &Held, batch: Batch) -> Vec<Outcome> {
        let rows = &batch.notifications;
        let (provider, mut message) = match batch.channel {
            Channel::WhatsApp => {
                let interactive = batch.contact.window_open(Utc::now());
                (
                    self.whatsapp.clone(),
                    compose::whatsapp(rows, &batch.contact, interactive),
                )
            }
            Channel::Sms => match &self.sms {
                Some(sms) => (sms.clone(), compose::sms(rows, &batch.contact)),
                None => {
                    let why = "no SMS fallback is configured".to_owned();
                    return rows
                        .iter()
                        .map(|n| settle(n, Status::Failed, Some(why.clone()), Utc::now()))
                        .collect();
                }
            },
        };
        let phone = batch.contact.spec.phone_number.clone();
        let send = send_span(rows);
        let mut requests = 0;
        loop {
            let latest = held.latest_start(self.config.provider_timeout);
            let permit = self.limiter.acquire_by(latest).await;
            if permit.is_none() || !held.may_send(self.config.provider_timeout) {
                // Not ours for long enough: the next round takes it, at once.
                return rows
                    .iter()
                    .map(|row| Outcome {
                        requests,
                        ..settle(row, row.status, None, Utc::now())
                    })
                    .collect();
            }
            requests += 1;
            let started = Utc::now();
            for row in rows {
                let lag = (started - row.reminder_time).to_std().unwrap_or_default();
                metrics::histogram!("notification_send_lag_seconds").record(lag.as_secs_f64());
            }
            // One span per request, in the send's own trace.
            let request = tracing::info_span!(
                parent: &send,
                "provider request",
                otel.kind = "client",
                provider = provider.name(),
                kind = message.kind(),
                notifications = rows.len(),
            );
            let answer = provider.send(&phone, &message).instrument(request).await;
            drop(permit);
            let error = match answer {
                Ok(message_id) => {
                    self.credentials.set(false);
                    metrics::counter!("messages_sent_total", "provider" => provider.name(), "kind" => message.kind())
                        .increment(1);
                    if batch.pair_streak() > 0 {
                        let users = [batch.user().to_owned()];
                        if let Err(e) = contacts::clear_pair_limits(&self.pool, &users).await {
                            tracing::warn!(
                                error = format!("{e:#}"),
                                "cannot clear a pair-rate streak"
                            );
                        }
                    }
                    let lead = rows[0].id;
                    return rows
                        .iter()
                        .map(|row| Outcome {
                            provider_message_id: Some(message_id.clone()),
                            batch_id: Some(lead),
                            requests,
                            last_error: None,
                            ..settle(row, Status::Sent, None, Utc::now())
                        })
                        .collect();
                }
                Err(error) => error,
            };
            if error.code == Some(THROUGHPUT_REACHED) && batch.channel == Channel::WhatsApp {
                self.limiter.hold_back();
            }
            let code = error
                .code
                .map_or_else(|| "none".to_owned(), |c| c.to_string());
            metrics::counter!("provider_errors_total", "provider" => provider.name(), "code" => code)
                .increment(1);
            tracing::warn!(
                provider = provider.name(),
                to = %phone.masked(),
                error = %error,
                "send failed"
            );
            if error.class == ErrorClass::OutsideWindow
                && !matches!(message, Message::Template { .. })
                && batch.channel == Channel::WhatsApp
            {
                // 131047: the window closed; the template goes at once.
                message = compose::whatsapp(rows, &batch.contact, false);
                continue;
            }
            let (outcomes, effect) =
                failure::after_failure(&self.policy(), &batch, &error, requests, Utc::now());
            self.apply(&batch, effect).await;
            return outcomes;
        }
    }

    /// Carries out what a failure changes beyond its notifications.
    async fn apply(&self, batch: &Batch, effect: SideEffect) {
        let user = batch.user();
        let result = match effect {
            SideEffect::None => Ok(()),
            SideEffect::PairLimited(until) => contacts::pair_limited(&self.pool, user, until).await,
            SideEffect::OptOut => contacts::set_opt_in_by_user(&self.pool, user, false).await,
            SideEffect::CredentialsRefused => {
                self.credentials.set(true);
                Ok(())
            }
        };
        if let Err(e) = result {
            tracing::warn!(
                error = format!("{e:#}"),
                ?effect,
                "cannot record a send failure's effect"
            );
        }
    }
}

/// A reminder's send: a trace of its own (a digest gathers several
/// events), linked to the trace of each event that queued one of its rows.
fn send_span(rows: &[crate::domain::Notification]) -> tracing::Span {
    if !todogenie_common::telemetry::exporting() {
        return tracing::Span::none();
    }
    let span = tracing::info_span!(parent: None, "reminder send", notifications = rows.len());
    for row in rows {
        todogenie_common::telemetry::link_to(&span, row.traceparent.as_deref());
    }
    span
}

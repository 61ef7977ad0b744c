//! API tests: the real notifier-service (and task-service, end to end) over
//! real sockets against the real PostgreSQL and RabbitMQ, with a local
//! WhatsApp Cloud API stand-in; one fresh database, exchange and queue each.

mod confirm;
mod contacts;
mod delivery;
mod deploy;
mod digests;
mod end_to_end;
mod faults;
mod fencing;
mod helpers;
mod retention;
mod secrets;
mod senders;
mod talk;
mod today;
mod webhook_bounds;
mod webhooks;

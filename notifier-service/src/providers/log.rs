//! The `log` provider: prints each message (the number masked) and records
//! it as sent. The default when no credentials are set.

use async_trait::async_trait;

use super::{Message, Provider, SendError};
use crate::domain::PhoneNumber;

pub(crate) struct LogProvider;

#[async_trait]
impl Provider for LogProvider {
    fn name(&self) -> &'static str {
        "log"
    }

    async fn send(&self, to: &PhoneNumber, message: &Message) -> Result<String, SendError> {
        let id = format!("log.{}", uuid::Uuid::now_v7().simple());
        tracing::info!(to = %to.masked(), kind = message.kind(), ?message, id, "message (log provider)");
        Ok(id)
    }
}

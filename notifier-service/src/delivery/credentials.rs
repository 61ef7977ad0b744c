//! The credential breaker: once the provider refuses our credentials (190
//! and its kin), nothing more is sent and `/readyz` fails, until a probe or
//! a restart with a new token finds them accepted again.

use std::sync::atomic::{AtomicBool, Ordering};

/// Whether the provider refused our credentials; `/readyz` fails while so,
/// and `/metrics` shows it as `provider_credentials_refused`.
#[derive(Debug, Default)]
pub(crate) struct CredentialState {
    refused: AtomicBool,
}

impl CredentialState {
    pub(crate) fn refused(&self) -> bool {
        self.refused.load(Ordering::SeqCst)
    }

    pub(crate) fn set(&self, refused: bool) {
        let was = self.refused.swap(refused, Ordering::SeqCst);
        if was != refused {
            if refused {
                tracing::error!(
                    "the provider refuses our credentials: sending stopped until they work"
                );
            } else {
                tracing::info!("the provider accepts our credentials again: sending resumed");
            }
        }
    }
}

//! Structured logs with `tracing`: text for people, JSON with LOG_FORMAT=json.

use tracing_subscriber::{fmt, EnvFilter};

/// Installs the global subscriber; a second call (tests) does nothing.
pub fn init(filter: &str, format: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_target(true);
    let _ = if format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

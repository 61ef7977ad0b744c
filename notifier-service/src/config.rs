//! Settings: every one an environment variable and a flag of the same meaning
//! (README, "Configuration"). A malformed value stops the process with one line naming both.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, ValueEnum};
use todogenie_common::cli::parse_duration;
use todogenie_common::settings::SharedSettings;

/// The command line: the settings below, or `token`.
pub type Cli = todogenie_common::cli::Cli<Settings>;

/// Parses the command line and environment, or exits with one line.
pub fn load() -> Cli {
    Cli::load(
        "notifier-service",
        env!("CARGO_PKG_VERSION"),
        "TodoGenie notifier-service: WhatsApp reminders for task events",
    )
}

pub use todogenie_common::cli::{Command, TokenArgs};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProviderKind {
    /// The WhatsApp Cloud API.
    Meta,
    /// Twilio's Messages API, WhatsApp sender.
    Twilio,
    /// Print each message and record it as sent.
    Log,
}

/// The value names are the variables, so clap's errors name flag and
/// variable together.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// gRPC listen address.
    #[arg(
        long,
        env = "NOTIFIER_GRPC_ADDR",
        value_name = "NOTIFIER_GRPC_ADDR",
        default_value = "127.0.0.1:50052"
    )]
    pub grpc_addr: SocketAddr,

    /// HTTP listen address for /metrics, /healthz, /readyz and the webhooks.
    #[arg(
        long,
        env = "NOTIFIER_HTTP_ADDR",
        value_name = "NOTIFIER_HTTP_ADDR",
        default_value = "127.0.0.1:8080"
    )]
    pub http_addr: SocketAddr,

    /// PostgreSQL URL; the database is created if missing.
    #[arg(
        long,
        env = "NOTIFIER_DATABASE_URL",
        value_name = "NOTIFIER_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/todogenie_notifier",
        hide_env_values = true
    )]
    pub database_url: String,

    /// Largest number of PostgreSQL connections in the pool.
    #[arg(
        long,
        env = "NOTIFIER_DATABASE_MAX_CONNECTIONS",
        value_name = "NOTIFIER_DATABASE_MAX_CONNECTIONS",
        default_value_t = 16
    )]
    pub database_max_connections: u32,

    /// task-service's gRPC endpoint, for Done and Snooze replies.
    #[arg(
        long,
        env = "TASK_SERVICE_URL",
        value_name = "TASK_SERVICE_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub task_service_url: String,

    /// meta, twilio or log; log when unset and no credentials are given.
    #[arg(
        long,
        env = "WHATSAPP_PROVIDER",
        value_name = "WHATSAPP_PROVIDER",
        value_enum
    )]
    pub whatsapp_provider: Option<ProviderKind>,

    #[arg(
        long,
        env = "WHATSAPP_API_BASE",
        value_name = "WHATSAPP_API_BASE",
        default_value = "https://graph.facebook.com"
    )]
    pub whatsapp_api_base: String,

    /// Graph API version; versions expire, so it is a setting.
    #[arg(
        long,
        env = "WHATSAPP_API_VERSION",
        value_name = "WHATSAPP_API_VERSION",
        default_value = "v26.0"
    )]
    pub whatsapp_api_version: String,

    #[arg(
        long,
        env = "WHATSAPP_PHONE_NUMBER_ID",
        value_name = "WHATSAPP_PHONE_NUMBER_ID"
    )]
    pub whatsapp_phone_number_id: Option<String>,

    #[arg(
        long,
        env = "WHATSAPP_ACCESS_TOKEN",
        value_name = "WHATSAPP_ACCESS_TOKEN",
        hide_env_values = true
    )]
    pub whatsapp_access_token: Option<Secret>,

    /// Signs Meta's webhooks; without it every webhook POST is refused.
    #[arg(
        long,
        env = "WHATSAPP_APP_SECRET",
        value_name = "WHATSAPP_APP_SECRET",
        hide_env_values = true,
        value_parser = parse_webhook_secret
    )]
    pub whatsapp_app_secret: Option<Secret>,

    /// Answers Meta's subscription handshake; without it the handshake is refused.
    #[arg(
        long,
        env = "WHATSAPP_VERIFY_TOKEN",
        value_name = "WHATSAPP_VERIFY_TOKEN",
        hide_env_values = true,
        value_parser = parse_webhook_secret
    )]
    pub whatsapp_verify_token: Option<Secret>,

    #[arg(
        long,
        env = "WHATSAPP_REMINDER_TEMPLATE",
        value_name = "WHATSAPP_REMINDER_TEMPLATE",
        default_value = "task_reminder"
    )]
    pub whatsapp_reminder_template: String,

    /// The approved template asking a number to confirm: {{1}} the user id,
    /// quick replies Yes and No.
    #[arg(
        long,
        env = "WHATSAPP_CONFIRM_TEMPLATE",
        value_name = "WHATSAPP_CONFIRM_TEMPLATE",
        default_value = "reminders_opt_in"
    )]
    pub whatsapp_confirm_template: String,

    #[arg(
        long,
        env = "WHATSAPP_TEMPLATE_LANGUAGE",
        value_name = "WHATSAPP_TEMPLATE_LANGUAGE",
        default_value = "en_US"
    )]
    pub whatsapp_template_language: String,

    /// Messages per second for the whole WhatsApp account (all recipients),
    /// shared by the live replicas (`delivery::share`).
    #[arg(long, env = "WHATSAPP_MAX_MPS", value_name = "WHATSAPP_MAX_MPS", default_value_t = 80,
        value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub whatsapp_max_mps: u32,

    #[arg(
        long,
        env = "TWILIO_API_BASE",
        value_name = "TWILIO_API_BASE",
        default_value = "https://api.twilio.com"
    )]
    pub twilio_api_base: String,

    #[arg(long, env = "TWILIO_ACCOUNT_SID", value_name = "TWILIO_ACCOUNT_SID")]
    pub twilio_account_sid: Option<String>,

    #[arg(
        long,
        env = "TWILIO_AUTH_TOKEN",
        value_name = "TWILIO_AUTH_TOKEN",
        hide_env_values = true,
        value_parser = parse_webhook_secret
    )]
    pub twilio_auth_token: Option<Secret>,

    /// Twilio's WhatsApp sender, e.g. whatsapp:+14155238886.
    #[arg(
        long,
        env = "TWILIO_WHATSAPP_FROM",
        value_name = "TWILIO_WHATSAPP_FROM"
    )]
    pub twilio_whatsapp_from: Option<String>,

    /// The approved Content template for reminders (HX…).
    #[arg(
        long,
        env = "TWILIO_REMINDER_CONTENT_SID",
        value_name = "TWILIO_REMINDER_CONTENT_SID"
    )]
    pub twilio_reminder_content_sid: Option<String>,

    /// The SMS sender for the fallback channel; no fallback without it.
    #[arg(long, env = "TWILIO_SMS_FROM", value_name = "TWILIO_SMS_FROM")]
    pub twilio_sms_from: Option<String>,

    /// Our public base URL, as Twilio calls it (signatures are over it).
    #[arg(long, env = "NOTIFIER_PUBLIC_URL", value_name = "NOTIFIER_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// How long a sender holds a claimed notification before another may
    /// take it (a crashed sender's work comes back after this).
    #[arg(long, env = "NOTIFIER_SEND_LEASE", value_name = "NOTIFIER_SEND_LEASE", default_value = "30s", value_parser = parse_duration)]
    pub send_lease: Duration,

    /// Longest wait for one provider request.
    #[arg(long, env = "NOTIFIER_PROVIDER_TIMEOUT", value_name = "NOTIFIER_PROVIDER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub provider_timeout: Duration,

    /// First retry delay; each retry doubles it (with ±20 % jitter).
    #[arg(long, env = "NOTIFIER_RETRY_BASE", value_name = "NOTIFIER_RETRY_BASE", default_value = "2s", value_parser = parse_duration)]
    pub retry_base: Duration,

    /// Failed attempts before a notification is FAILED (or goes to SMS).
    #[arg(long, env = "NOTIFIER_MAX_ATTEMPTS", value_name = "NOTIFIER_MAX_ATTEMPTS", default_value_t = 6,
        value_parser = clap::value_parser!(u32).range(1..=50))]
    pub max_attempts: u32,

    /// Longest time one RPC may take before it is DEADLINE_EXCEEDED.
    #[arg(long, env = "NOTIFIER_RPC_TIMEOUT", value_name = "NOTIFIER_RPC_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub rpc_timeout: Duration,

    /// How long finished notifications, processed webhook records and closed
    /// tasks' states are kept.
    #[arg(
        long,
        env = "NOTIFIER_RETENTION",
        value_name = "NOTIFIER_RETENTION",
        default_value = "90d",
        value_parser = parse_duration
    )]
    pub retention: Duration,

    /// What both services read: broker, topology, JWT secret, logs.
    #[command(flatten)]
    pub shared: SharedSettings,
}

/// A credential from the environment: never printed, not even by `{:?}`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Ok(Self(raw.to_owned()))
    }
}

/// Webhook secrets sign or answer what anyone on the internet can send:
/// empty or short would let them forge it. Unset (not empty) to refuse
/// every webhook instead.
pub const MIN_WEBHOOK_SECRET_CHARS: usize = 16;

fn parse_webhook_secret(raw: &str) -> Result<Secret, String> {
    if raw.chars().count() < MIN_WEBHOOK_SECRET_CHARS {
        return Err(format!(
            "must be at least {MIN_WEBHOOK_SECRET_CHARS} characters (unset it to refuse webhooks)"
        ));
    }
    Ok(Secret(raw.to_owned()))
}

impl Settings {
    /// The provider to use: the one named, or Meta when its credentials are
    /// all there, or `log`.
    pub fn provider(&self) -> ProviderKind {
        match self.whatsapp_provider {
            Some(kind) => kind,
            None if self.whatsapp_access_token.is_some()
                && self.whatsapp_phone_number_id.is_some() =>
            {
                ProviderKind::Meta
            }
            None => ProviderKind::Log,
        }
    }

    /// Checks that the chosen provider has what it needs; one line naming
    /// the missing variables otherwise.
    pub fn check(&self) -> Result<(), String> {
        // A send starts only while the lease outlasts it and its record
        // (a second): leave a round two seconds to send in.
        let shortest = self.provider_timeout + Duration::from_secs(3);
        if self.send_lease < shortest {
            return Err(format!(
                "NOTIFIER_SEND_LEASE (--send-lease) must be at least NOTIFIER_PROVIDER_TIMEOUT + 3s ({shortest:?})"
            ));
        }
        let missing: Vec<&str> = match self.provider() {
            ProviderKind::Meta => [
                (
                    "WHATSAPP_PHONE_NUMBER_ID",
                    self.whatsapp_phone_number_id.is_none(),
                ),
                (
                    "WHATSAPP_ACCESS_TOKEN",
                    self.whatsapp_access_token.is_none(),
                ),
            ]
            .into_iter()
            .filter_map(|(name, absent)| absent.then_some(name))
            .collect(),
            ProviderKind::Twilio => [
                ("TWILIO_ACCOUNT_SID", self.twilio_account_sid.is_none()),
                ("TWILIO_AUTH_TOKEN", self.twilio_auth_token.is_none()),
                ("TWILIO_WHATSAPP_FROM", self.twilio_whatsapp_from.is_none()),
                (
                    "TWILIO_REMINDER_CONTENT_SID",
                    self.twilio_reminder_content_sid.is_none(),
                ),
            ]
            .into_iter()
            .filter_map(|(name, absent)| absent.then_some(name))
            .collect(),
            ProviderKind::Log => vec![],
        };
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "WHATSAPP_PROVIDER (--whatsapp-provider) {:?} needs {}",
                self.provider(),
                missing.join(", ")
            ))
        }
    }
}

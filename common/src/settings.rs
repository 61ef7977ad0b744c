//! The settings both services read, flattened into each one's clap
//! `Settings`: the broker, the event topology, the JWT secret and logging.
//! The value names are the variables, so clap's errors name flag and
//! variable together: `invalid value 'x' for '--amqp-url <AMQP_URL>'`.

use clap::Args;

use crate::amqp::Topology;
use crate::auth::JwtSecret;
use crate::browser::CorsOrigins;
use crate::cli::parse_secret;

#[derive(Debug, Clone, Args)]
pub struct SharedSettings {
    /// RabbitMQ URL.
    #[arg(
        long,
        env = "AMQP_URL",
        value_name = "AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f",
        hide_env_values = true
    )]
    pub amqp_url: String,

    /// Topic exchange for task events.
    #[arg(
        long,
        env = "AMQP_EXCHANGE",
        value_name = "AMQP_EXCHANGE",
        default_value = "todogenie.events"
    )]
    pub amqp_exchange: String,

    /// The notifier's durable quorum queue, bound to `task.#`; both services
    /// declare it, so no event waits for the notifier's first start.
    #[arg(
        long,
        env = "AMQP_QUEUE",
        value_name = "AMQP_QUEUE",
        default_value = "notifier.task-events"
    )]
    pub amqp_queue: String,

    /// HS256 secret for JWTs, at least 32 bytes. Required.
    #[arg(long, env = "JWT_SECRET", value_name = "JWT_SECRET", hide_env_values = true, value_parser = parse_secret)]
    pub jwt_secret: JwtSecret,

    /// Log filter, e.g. info or task_service=debug.
    #[arg(
        long,
        env = "RUST_LOG",
        value_name = "RUST_LOG",
        default_value = "info"
    )]
    pub log_filter: String,

    /// Origins whose web pages may call the gRPC port (gRPC-Web), comma-
    /// separated, e.g. http://localhost:5173. Empty: none.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_name = "CORS_ALLOWED_ORIGINS", default_value = "", value_parser = CorsOrigins::parse)]
    pub cors_allowed_origins: CorsOrigins,

    /// Log format: text or json.
    #[arg(long, env = "LOG_FORMAT", value_name = "LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
}

impl SharedSettings {
    pub fn topology(&self) -> Topology {
        Topology::new(&self.amqp_exchange, &self.amqp_queue)
    }
}

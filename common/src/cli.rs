//! Reading settings with clap: every setting is a flag and an environment
//! variable (README, "Configuration"), and a bad value stops the process with one line that names
//! both and never echoes a secret.

use std::time::Duration;

use clap::{Args, FromArgMatches, Subcommand};

use crate::auth::{JwtKeys, JwtSecret, Role, UserId};

/// A service's command line: its settings, and a subcommand.
#[derive(Debug)]
pub struct Cli<S> {
    pub settings: S,
    pub command: Option<Command>,
}

impl<S: Args + FromArgMatches> Cli<S> {
    /// Parses the command line and environment. On a bad value it prints one
    /// line naming the flag and variable and exits 2; `--help` and
    /// `--version` print as usual.
    pub fn load(program: &'static str, version: &'static str, about: &'static str) -> Self {
        let command = Command::augment_subcommands(S::augment_args(clap::Command::new(program)));
        // After the derives, whose doc comments would otherwise be the about.
        let mut command = command.version(version).about(about);
        let parsed = command
            .try_get_matches_from_mut(std::env::args_os())
            .and_then(|m| {
                let settings = S::from_arg_matches(&m)?;
                let subcommand = match m.subcommand_name() {
                    Some(_) => Some(Command::from_arg_matches(&m)?),
                    None => None,
                };
                Ok(Self {
                    settings,
                    command: subcommand,
                })
            });
        match parsed.map_err(|e| e.format(&mut command)) {
            Ok(cli) => cli,
            Err(e) if !e.use_stderr() => e.exit(),
            Err(e) => {
                eprintln!("{program}: {}", one_line(&e));
                std::process::exit(2);
            }
        }
    }
}

/// clap's message up to its first blank line, folded onto one line; for a
/// secret, the message without the value, even a wrong one.
fn one_line(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    use std::error::Error as _;
    if e.kind() == ErrorKind::ValueValidation {
        if let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) {
            if is_secret(arg) {
                let why = e.source().map(ToString::to_string).unwrap_or_default();
                return format!("error: invalid value for '{arg}': {why}");
            }
        }
    }
    let rendered = e.to_string();
    let lines: Vec<&str> = rendered
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    lines.join(" ")
}

fn is_secret(arg: &str) -> bool {
    ["SECRET", "TOKEN", "PASSWORD"]
        .iter()
        .any(|word| arg.contains(word))
}

pub fn parse_secret(raw: &str) -> Result<JwtSecret, String> {
    JwtSecret::new(raw.to_owned())
}

pub fn parse_role(raw: &str) -> Result<Role, String> {
    Role::parse(raw).ok_or_else(|| "must be user, admin or service".to_owned())
}

pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    humantime::parse_duration(raw).map_err(|e| e.to_string())
}

/// The subcommands both services have.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve (the default).
    Serve,
    /// Print a signed JWT for local use.
    Token(TokenArgs),
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The user id (`sub` claim).
    #[arg(long)]
    pub sub: String,
    /// user, admin or service.
    #[arg(long, default_value = "user", value_parser = parse_role)]
    pub role: Role,
    /// How long the token is valid, e.g. 30m, 24h, 7d.
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    pub ttl: Duration,
}

/// `<program> token …`: prints the token; exit code 0, or 2 for a bad `--sub`.
pub fn print_token(program: &str, secret: &JwtSecret, args: &TokenArgs) -> u8 {
    match UserId::parse(&args.sub) {
        Ok(sub) => {
            println!("{}", JwtKeys::new(secret).issue(&sub, args.role, args.ttl));
            0
        }
        Err(e) => {
            eprintln!("{program}: --sub {e}");
            2
        }
    }
}

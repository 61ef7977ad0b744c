//! Who is calling: HS256 JWTs (README, "Behaviour where the contract is silent": Auth), the roles they carry, and
//! the gRPC interceptor both services put in front of their APIs that turns `authorization: Bearer …` into a [`Caller`].

mod interceptor;
mod jwt;
mod user_id;

pub use interceptor::AuthInterceptor;
pub use jwt::{JwtKeys, JwtSecret, TokenError};
pub use user_id::UserId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Admin,
    Service,
}

impl Role {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "user" => Some(Role::User),
            "admin" => Some(Role::Admin),
            "service" => Some(Role::Service),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
            Role::Service => "service",
        }
    }
}

/// The authenticated caller of one RPC, put in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user: UserId,
    pub role: Role,
}

impl Caller {
    /// Admins and services act on any user's tasks and contacts; users on
    /// their own.
    pub fn may_act_for(&self, owner: &UserId) -> bool {
        self.role != Role::User || self.user == *owner
    }

    pub fn is_privileged(&self) -> bool {
        self.role != Role::User
    }
}

/// The caller the interceptor put in a request; its absence is a wiring
/// bug, answered safely as UNAUTHENTICATED.
pub fn caller<T>(request: &tonic::Request<T>) -> Result<Caller, tonic::Status> {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| tonic::Status::unauthenticated("missing credentials"))
}

//! The tonic interceptor in front of TaskService and NotifierService: every RPC needs a valid
//! bearer token; health and reflection are served without it.

use std::sync::Arc;

use tonic::{service::Interceptor, Request, Status};

use super::JwtKeys;

#[derive(Clone)]
pub struct AuthInterceptor {
    keys: Arc<JwtKeys>,
}

impl AuthInterceptor {
    pub fn new(keys: Arc<JwtKeys>) -> Self {
        Self { keys }
    }
}

impl Interceptor for AuthInterceptor {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .ok_or_else(|| unauthenticated("missing authorization metadata"))?;
        let value = header
            .to_str()
            .map_err(|_| unauthenticated("authorization metadata is not text"))?;
        let token = value
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(|| unauthenticated("authorization must be `Bearer <JWT>`"))?;
        let caller = self.keys.verify(token).map_err(|e| {
            tracing::debug!(error = %e, "refused a token");
            unauthenticated(&e.to_string())
        })?;
        request.extensions_mut().insert(caller);
        Ok(request)
    }
}

fn unauthenticated(message: &str) -> Status {
    crate::metrics::count_unauthenticated();
    Status::unauthenticated(message)
}

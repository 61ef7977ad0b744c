//! Browsers on the gRPC ports: gRPC-Web (tonic-web: binary and text,
//! HTTP/1.1 and HTTP/2, server streaming included) and CORS (tower-http)
//! for exactly the origins in `CORS_ALLOWED_ORIGINS`.

use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// How long a browser may cache a preflight's answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);
/// The most origins one list may name (a bound on the check per request).
const MAX_ORIGINS: usize = 64;

/// `scheme://host[:port]` origins, as a browser sends them in `Origin`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsOrigins(Vec<String>);

impl CorsOrigins {
    /// A comma-separated list; empty allows none. Each must be an `http` or
    /// `https` origin with no path (`*` is refused: tokens travel in
    /// headers, and any page could use them).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut origins = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let origin = part.trim_end_matches('/');
            let uri: http::Uri = origin
                .parse()
                .map_err(|_| format!("{part:?} is not an origin (scheme://host[:port])"))?;
            let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
            let bare = uri.path_and_query().is_none_or(|p| p.as_str() == "/");
            if !scheme_ok || uri.authority().is_none() || !bare || origin.contains('@') {
                return Err(format!(
                    "{part:?} is not an http(s) origin without a path (scheme://host[:port])"
                ));
            }
            origins.push(origin.to_ascii_lowercase());
        }
        if origins.len() > MAX_ORIGINS {
            return Err(format!(
                "at most {MAX_ORIGINS} origins, got {}",
                origins.len()
            ));
        }
        Ok(Self(origins))
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

/// CORS for the gRPC ports: preflights and answers for the listed origins
/// only, with the headers a gRPC-Web client sends and the trailers-as-
/// headers it must read.
pub fn cors(origins: &CorsOrigins) -> CorsLayer {
    let allowed: Vec<HeaderValue> = origins
        .0
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    let header = HeaderName::from_static;
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([Method::POST, Method::OPTIONS])
        .allow_headers([
            header("authorization"),
            header("content-type"),
            header("x-grpc-web"),
            header("x-user-agent"),
            header("grpc-timeout"),
        ])
        .expose_headers([
            header("grpc-status"),
            header("grpc-message"),
            header("grpc-status-details-bin"),
        ])
        .max_age(PREFLIGHT_MAX_AGE)
}

#[cfg(test)]
mod tests {
    use super::CorsOrigins;

    #[test]
    fn origins_parse_strictly() {
        let ok = CorsOrigins::parse(" http://localhost:5173, https://App.example.com/ ,").unwrap();
        assert_eq!(
            ok.as_slice(),
            ["http://localhost:5173", "https://app.example.com"]
        );
        assert!(CorsOrigins::parse("").unwrap().as_slice().is_empty());
        for bad in [
            "*",
            "localhost:5173",
            "ftp://x.example",
            "https://x.example/app",
            "https://u@x.example",
            "http://",
        ] {
            assert!(CorsOrigins::parse(bad).is_err(), "{bad}");
        }
        let many: Vec<String> = (0..65).map(|i| format!("http://h{i}.example")).collect();
        assert!(CorsOrigins::parse(&many.join(",")).is_err());
    }
}

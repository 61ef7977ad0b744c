//! Authentication: every TaskService RPC needs a valid HS256 bearer token.

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use todogenie_proto::v1 as pb;
use tonic::Code;

use crate::helpers::{spawn_app, JWT_SECRET};

fn signed(claims: serde_json::Value, algorithm: Algorithm, secret: &str) -> String {
    encode(
        &Header::new(algorithm),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn in_an_hour() -> i64 {
    chrono::Utc::now().timestamp() + 3600
}

#[tokio::test]
async fn missing_malformed_forged_expired_or_non_hs256_tokens_are_unauthenticated() {
    let app = spawn_app().await;
    let alg_none = {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let body = b64.encode(format!(
            r#"{{"sub":"alice","role":"admin","exp":{}}}"#,
            in_an_hour()
        ));
        format!("Bearer {header}.{body}.")
    };
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no metadata", None),
        ("empty", Some(String::new())),
        (
            "no scheme",
            Some(signed(
                serde_json::json!({"sub": "alice", "exp": in_an_hour()}),
                Algorithm::HS256,
                JWT_SECRET,
            )),
        ),
        ("basic scheme", Some("Basic YWxpY2U6cGFzcw==".into())),
        ("not a jwt", Some("Bearer not-a-jwt".into())),
        (
            "wrong secret",
            Some(format!(
                "Bearer {}",
                signed(
                    serde_json::json!({"sub": "alice", "exp": in_an_hour()}),
                    Algorithm::HS256,
                    "another-secret-entirely"
                )
            )),
        ),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                signed(
                    serde_json::json!({"sub": "alice", "exp": 1_000_000}),
                    Algorithm::HS256,
                    JWT_SECRET
                )
            )),
        ),
        (
            "no exp",
            Some(format!(
                "Bearer {}",
                signed(
                    serde_json::json!({"sub": "alice"}),
                    Algorithm::HS256,
                    JWT_SECRET
                )
            )),
        ),
        (
            "no sub",
            Some(format!(
                "Bearer {}",
                signed(
                    serde_json::json!({"exp": in_an_hour()}),
                    Algorithm::HS256,
                    JWT_SECRET
                )
            )),
        ),
        (
            "empty sub",
            Some(format!(
                "Bearer {}",
                signed(
                    serde_json::json!({"sub": "", "exp": in_an_hour()}),
                    Algorithm::HS256,
                    JWT_SECRET
                )
            )),
        ),
        (
            "long sub",
            Some(format!(
                "Bearer {}",
                signed(
                    serde_json::json!({"sub": "a".repeat(129), "exp": in_an_hour()}),
                    Algorithm::HS256,
                    JWT_SECRET
                )
            )),
        ),
        (
            "unknown role",
            Some(format!(
                "Bearer {}",
                signed(
                    serde_json::json!({"sub": "alice", "role": "root", "exp": in_an_hour()}),
                    Algorithm::HS256,
                    JWT_SECRET
                )
            )),
        ),
        (
            "HS512",
            Some(format!(
                "Bearer {}",
                signed(
                    serde_json::json!({"sub": "alice", "exp": in_an_hour()}),
                    Algorithm::HS512,
                    JWT_SECRET
                )
            )),
        ),
        ("alg none", Some(alg_none)),
    ];
    for (case, authorization) in cases {
        let mut client = app
            .client_with_authorization(authorization.as_deref())
            .await;
        let status = client
            .list_tasks(pb::ListTasksRequest::default())
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{case}: {status:?}");
        assert!(
            !status.message().contains(JWT_SECRET),
            "{case}: the secret leaked"
        );
    }

    let good = signed(
        serde_json::json!({"sub": "alice", "exp": in_an_hour()}),
        Algorithm::HS256,
        JWT_SECRET,
    );
    let mut client = app
        .client_with_authorization(Some(&format!("bearer {good}")))
        .await;
    assert!(
        client
            .list_tasks(pb::ListTasksRequest::default())
            .await
            .is_ok(),
        "scheme is case-insensitive; no role means user"
    );
}

#[test]
fn a_jwt_secret_under_32_bytes_stops_the_service_at_start() {
    let run = |secret: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_task-service"))
            .args(["token", "--sub", "alice"])
            .env("JWT_SECRET", secret)
            .output()
            .expect("the binary runs")
    };
    let short = "thirty-one-bytes-of-jwt-secret!";
    assert_eq!(short.len(), 31);
    let out = run(short);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("JWT_SECRET") && !stderr.contains(short),
        "{stderr}"
    );
    assert_eq!(run(&format!("{short}!")).status.code(), Some(0));
}

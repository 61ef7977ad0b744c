//! Secrets too weak to protect anything stop the process at start, with one
//! line naming the variable and never the value.

use std::process::Command;

const GOOD_JWT: &str = "a-jwt-secret-of-thirty-two-bytes!";

/// Runs `<bin> token --sub alice` (which parses every setting, then exits)
/// with `vars` set; its exit code and stderr.
fn start(bin: &str, vars: &[(&str, &str)]) -> (i32, String) {
    let mut command = Command::new(bin);
    command.args(["token", "--sub", "alice"]);
    for name in [
        "JWT_SECRET",
        "WHATSAPP_APP_SECRET",
        "WHATSAPP_VERIFY_TOKEN",
        "TWILIO_AUTH_TOKEN",
    ] {
        command.env_remove(name);
    }
    command.envs(vars.iter().copied());
    let out = command.output().expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn empty_or_short_webhook_secrets_stop_the_notifier_at_start() {
    let bin = env!("CARGO_BIN_EXE_notifier-service");
    assert_eq!(start(bin, &[("JWT_SECRET", GOOD_JWT)]).0, 0);
    for variable in [
        "WHATSAPP_APP_SECRET",
        "WHATSAPP_VERIFY_TOKEN",
        "TWILIO_AUTH_TOKEN",
    ] {
        for value in ["", "fifteen-chars!!"] {
            let (code, stderr) = start(bin, &[("JWT_SECRET", GOOD_JWT), (variable, value)]);
            assert_eq!(code, 2, "{variable}={value:?}: {stderr}");
            assert!(stderr.contains(variable), "{stderr}");
            assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
            if !value.is_empty() {
                assert!(
                    !stderr.contains(value),
                    "the value is never echoed: {stderr}"
                );
            }
        }
        let (code, stderr) = start(
            bin,
            &[("JWT_SECRET", GOOD_JWT), (variable, "sixteen-chars!!!")],
        );
        assert_eq!(code, 0, "{variable} of 16 characters: {stderr}");
    }
}

#[test]
fn a_jwt_secret_under_32_bytes_stops_the_notifier() {
    let bin = env!("CARGO_BIN_EXE_notifier-service");
    let short = &GOOD_JWT[..31];
    let (code, stderr) = start(bin, &[("JWT_SECRET", short)]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("JWT_SECRET") && !stderr.contains(short),
        "{stderr}"
    );
}

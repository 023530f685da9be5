//! Outside `echoflow up`, a service refuses to start on a secret anyone could know.

use super::*;

/// Starts `echoflow serve <service>` with `env` (on a SQLite file, so no
/// database is needed) and returns what it wrote to stderr once it exited;
/// fails if the service became ready instead.
async fn serve_exit(service: &str, env: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    use std::process::{Command, Stdio};
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("echoflow-weak-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let stderr = dir.join("stderr.log");
    let mut command = Command::new(echoflow_test_support::echoflow_binary());
    command
        .args(["serve", service])
        .env("ECHOFLOW_SERVER__HOST", "127.0.0.1")
        .env("ECHOFLOW_SERVER__PORT", port.to_string())
        .env(
            "ECHOFLOW_DATABASE__URL",
            format!("sqlite://{}/db.sqlite?mode=rwc", dir.display()),
        )
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap());
    for key in [
        "ECHOFLOW_AUTH__JWT_SECRET",
        "ECHOFLOW_AUTH__INTERNAL_TOKEN",
        "ECHOFLOW_INTEGRATIONS__ENCRYPTION_KEYS",
        "ECHOFLOW_INTEGRATIONS__ACTIVE_KEY_ID",
        "ECHOFLOW_REGISTRY__ENCRYPTION_KEYS",
        "ECHOFLOW_REGISTRY__ACTIVE_KEY_ID",
    ] {
        command.env_remove(key);
    }
    command.envs(env.iter().copied());
    let mut child = command.spawn().unwrap();
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        let ready = client
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready || Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`echoflow serve {service}` started (ready: {ready}) with {env:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let said = std::fs::read_to_string(&stderr).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    (status, said)
}

/// Outside `echoflow up`, a service does not start on a secret anyone could
/// know, and says which setting to set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_default_placeholder_empty_and_short_secrets() {
    const STRONG: &str = "a-strong-secret-of-more-than-32-bytes-for-tests";
    // (service, environment, the setting its refusal names)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        // Nothing set: the built-in development values.
        ("gateway", vec![], "ECHOFLOW_AUTH__JWT_SECRET"),
        (
            "executor",
            vec![
                ("ECHOFLOW_AUTH__JWT_SECRET", STRONG),
                ("ECHOFLOW_AUTH__INTERNAL_TOKEN", "replace-me"),
            ],
            "ECHOFLOW_AUTH__INTERNAL_TOKEN",
        ),
        (
            "chat",
            vec![
                (
                    "ECHOFLOW_AUTH__JWT_SECRET",
                    "thirty-one-bytes-is-too-short!!",
                ),
                ("ECHOFLOW_AUTH__INTERNAL_TOKEN", STRONG),
            ],
            "ECHOFLOW_AUTH__JWT_SECRET",
        ),
        (
            "gateway",
            vec![
                ("ECHOFLOW_AUTH__JWT_SECRET", STRONG),
                ("ECHOFLOW_AUTH__INTERNAL_TOKEN", ""),
            ],
            "ECHOFLOW_AUTH__INTERNAL_TOKEN",
        ),
        (
            "integrations",
            vec![
                ("ECHOFLOW_AUTH__JWT_SECRET", STRONG),
                ("ECHOFLOW_AUTH__INTERNAL_TOKEN", STRONG),
            ],
            "ECHOFLOW_INTEGRATIONS__ENCRYPTION_KEYS",
        ),
        (
            "workflow-registry",
            vec![
                ("ECHOFLOW_AUTH__JWT_SECRET", STRONG),
                ("ECHOFLOW_AUTH__INTERNAL_TOKEN", STRONG),
            ],
            "ECHOFLOW_REGISTRY__ENCRYPTION_KEYS",
        ),
    ];
    for (service, env, setting) in cases {
        let (status, said) = serve_exit(service, &env).await;
        assert!(!status.success(), "{service} {env:?}: {status}");
        assert!(
            said.contains(setting) && said.contains("at least 32 bytes"),
            "{service} {env:?} should name {setting}:\n{said}"
        );
    }
}

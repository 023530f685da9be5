//! Run with: cargo test -p echoflow-e2e --test embedded
//!
//! The same journey against `echoflow up`: one process, SQLite files, the
//! in-process bus.
#![allow(clippy::unwrap_used)]

use echoflow_e2e::{conversation, scenarios};
use echoflow_test_support::api::Api;
use echoflow_test_support::{Service, free_port};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_workflow_runs_end_to_end_in_one_process() {
    let dir = std::env::temp_dir().join(format!("echoflow-e2e-{}", uuid::Uuid::new_v4().simple()));
    let port = free_port();
    let env = vec![
        (
            "ECHOFLOW_EXECUTOR__ALLOW_NETWORKS".to_string(),
            "127.0.0.0/8".to_string(),
        ),
        (
            "ECHOFLOW_TELEMETRY__LOG_LEVEL".to_string(),
            "info,sqlx=warn".to_string(),
        ),
    ];
    let dir_arg = dir.display().to_string();
    let port_arg = port.to_string();
    let mut up = Service::start(
        "up",
        port,
        &["up", "--port", &port_arg, "--data-dir", &dir_arg],
        &env,
    )
    .await;
    let mut api = Api::new(up.base_url());
    let (workflow_id, hook, _customers) =
        scenarios::webhook_journey(&mut api, "lin@example.com").await;
    scenarios::invalid_graphs_are_refused(&api).await;
    scenarios::other_users_see_nothing(&api.base, &workflow_id, None).await;
    scenarios::health_endpoints(&api.base).await;
    scenarios::docs_are_served(&api.base).await;
    scenarios::events_over_http(&api).await;
    let bot = conversation::conversation_journey(&api).await;
    conversation::chatbots_are_private(&api.base, &bot).await;
    conversation::a_template_runs(&api).await;
    echoflow_e2e::analytics::overview_of_known_data(&api.base).await;
    for slice in ["identity", "registry", "chat", "integrations", "executions"] {
        assert!(
            dir.join(format!("{slice}.db")).exists(),
            "one SQLite file per slice: {slice}"
        );
    }

    // Data and secrets survive a restart: the same token still works.
    up.restart().await;
    let (status, _) = api.get(&format!("/api/v1/workflows/{workflow_id}")).await;
    assert_eq!(status, 200);
    let execution_id = scenarios::call_webhook(&api, &hook).await;
    let execution = api.wait_finished(&execution_id).await;
    assert_eq!(execution["status"], "completed", "{execution}");
    up.kill();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_gracefully_and_flushes_traces_to_the_otlp_endpoint() {
    use std::time::Duration;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let collector = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/traces"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&collector)
        .await;
    let dir = std::env::temp_dir().join(format!("echoflow-e2e-{}", uuid::Uuid::new_v4().simple()));
    let port = free_port();
    let env = vec![
        (
            "ECHOFLOW_EXECUTOR__ALLOW_NETWORKS".to_string(),
            "127.0.0.0/8".to_string(),
        ),
        (
            "ECHOFLOW_TELEMETRY__OTLP_ENDPOINT".to_string(),
            format!("{}/v1/traces", collector.uri()),
        ),
    ];
    let (dir_arg, port_arg) = (dir.display().to_string(), port.to_string());
    let mut up = Service::start(
        "up-otlp",
        port,
        &["up", "--port", &port_arg, "--data-dir", &dir_arg],
        &env,
    )
    .await;
    let mut api = Api::new(up.base_url());
    scenarios::webhook_journey(&mut api, "otel@example.com").await;

    let status = up.terminate(Duration::from_secs(20)).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "echoflow up did not exit cleanly on SIGTERM: {status:?}"
    );
    let exports = collector.received_requests().await.unwrap();
    assert!(!exports.is_empty(), "no spans reached the OTLP endpoint");
    assert!(
        exports.iter().all(|r| r
            .headers
            .get("content-type")
            .is_some_and(|v| v.as_bytes() == b"application/x-protobuf")),
        "OTLP/HTTP exports are protobuf"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integrations_connect_and_act_in_one_process() {
    use echoflow_e2e::integrations;

    let fakes = integrations::FakeProviders::start().await;
    let dir = std::env::temp_dir().join(format!("echoflow-e2e-{}", uuid::Uuid::new_v4().simple()));
    let port = free_port();
    let mut env = fakes.env();
    env.push((
        "ECHOFLOW_TELEMETRY__LOG_LEVEL".to_string(),
        "info,sqlx=warn".to_string(),
    ));
    let (dir_arg, port_arg) = (dir.display().to_string(), port.to_string());
    let mut up = Service::start(
        "up-integrations",
        port,
        &["up", "--port", &port_arg, "--data-dir", &dir_arg],
        &env,
    )
    .await;
    let mut api = Api::new(up.base_url());
    api.sign_up("ines@example.com").await;
    let mut other = Api::new(up.base_url());
    other.sign_up("otto@example.com").await;
    let lead = integrations::journey::integrations_journey(&api, &other, &fakes).await;
    // `echoflow up` generated its own token key, and the SQLite file holds
    // no token in clear text.
    let keys = std::fs::read_to_string(dir.join("integrations.keys")).unwrap();
    assert!(keys.lines().count() == 1 && keys.contains(':'), "{keys}");
    up.kill();
    let mut stored = Vec::new();
    for suffix in ["", "-wal"] {
        if let Ok(bytes) = std::fs::read(dir.join(format!("integrations.db{suffix}"))) {
            stored.extend(bytes);
        }
    }
    assert!(!stored.is_empty(), "integrations.db exists");
    for secret in [
        integrations::SLACK_ACCESS,
        integrations::SLACK_REFRESH,
        integrations::SHEETS_ACCESS,
        integrations::HUBSPOT_ACCESS,
    ] {
        assert!(
            !stored.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} is stored in clear text"
        );
    }

    // Key rotation: a new key, every token re-encrypted under it; with the
    // old key gone the connections still work after a restart.
    let out = std::process::Command::new(echoflow_test_support::echoflow_binary())
        .args(["integrations", "rotate-key", "--data-dir", &dir_arg])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("re-encrypted"), "{said}");
    let keys = std::fs::read_to_string(dir.join("integrations.keys")).unwrap();
    let lines: Vec<&str> = keys.lines().collect();
    assert_eq!(lines.len(), 2, "{keys}");
    std::fs::write(dir.join("integrations.keys"), format!("{}\n", lines[1])).unwrap();
    up.restart().await;
    let run = integrations::hook(
        &api,
        &lead,
        &serde_json::json!({"email": "kai@example.com", "name": "Kai"}),
    )
    .await;
    let execution = api.wait_finished(&run).await;
    assert_eq!(execution["status"], "completed", "{execution}");
    let posts = integrations::received(&fakes.slack, "/api/chat.postMessage").await;
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[1]["text"], "New lead kai@example.com");
    up.kill();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_folder_and_every_file_in_it_are_private_to_the_owner() {
    use std::os::unix::fs::PermissionsExt;

    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let dir = std::env::temp_dir().join(format!("echoflow-e2e-{}", uuid::Uuid::new_v4().simple()));
    // A folder and a secret left readable by others, as earlier versions wrote them.
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let secret = "an-existing-jwt-secret-of-more-than-32-bytes-kept-across-starts";
    std::fs::write(dir.join("jwt.secret"), secret).unwrap();
    std::fs::set_permissions(
        dir.join("jwt.secret"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let port = free_port();
    let (dir_arg, port_arg) = (dir.display().to_string(), port.to_string());
    let mut up = Service::start(
        "up-private",
        port,
        &["up", "--port", &port_arg, "--data-dir", &dir_arg],
        &[],
    )
    .await;
    let mut api = Api::new(up.base_url());
    api.sign_up("mode@example.com").await;

    assert_eq!(mode(&dir), 0o700, "the data folder");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for expected in [
        "jwt.secret",
        "internal.token",
        "integrations.keys",
        "identity.db",
        "identity.db-wal",
        "identity.db-shm",
        "executions.db",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    for name in &names {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("jwt.secret")).unwrap(),
        secret
    );
    let log = up.log_text();
    assert!(
        log.contains("jwt.secret") && log.contains("made private"),
        "a warning names the file that was too open:\n{log}"
    );
    up.kill();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The end user's session stream in one process (in-process bus, SQLite).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_message_reaches_the_session_stream_within_a_second_in_one_process() {
    let dir = std::env::temp_dir().join(format!("echoflow-e2e-{}", uuid::Uuid::new_v4().simple()));
    let port = free_port();
    let env = vec![(
        "ECHOFLOW_TELEMETRY__LOG_LEVEL".to_string(),
        "info,sqlx=warn".to_string(),
    )];
    let (dir_arg, port_arg) = (dir.display().to_string(), port.to_string());
    let mut up = Service::start(
        "up",
        port,
        &["up", "--port", &port_arg, "--data-dir", &dir_arg],
        &env,
    )
    .await;
    let mut api = Api::new(up.base_url());
    api.sign_up("widget@example.com").await;
    let latency =
        echoflow_e2e::session_stream::workflow_message_reaches_the_session_stream(&api).await;
    println!(
        "embedded: {} ms from the step's commit to the session stream",
        latency.num_milliseconds()
    );
    up.kill();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Synchronous webhooks in one process: the registry waits for the
/// executor's answer on the in-process bus.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_waits_answers_with_the_workflows_response_in_one_process() {
    let dir = std::env::temp_dir().join(format!("echoflow-e2e-{}", uuid::Uuid::new_v4().simple()));
    let port = free_port();
    let env = vec![(
        "ECHOFLOW_EXECUTOR__ALLOW_NETWORKS".to_string(),
        "127.0.0.0/8".to_string(),
    )];
    let dir_arg = dir.display().to_string();
    let port_arg = port.to_string();
    let mut up = Service::start(
        "up",
        port,
        &["up", "--port", &port_arg, "--data-dir", &dir_arg],
        &env,
    )
    .await;
    let mut api = Api::new(up.base_url());
    api.sign_up("sync-hooks@example.com").await;
    echoflow_e2e::sync_webhooks::journey(&api).await;
    up.kill();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A chatbot's end in one process: deleting it retires its workflows and
/// cancels its waiting run; erasing an end user erases their data only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_chatbot_and_erasing_an_end_user_in_one_process() {
    let dir = std::env::temp_dir().join(format!("echoflow-e2e-{}", uuid::Uuid::new_v4().simple()));
    let port = free_port();
    let env = vec![(
        "ECHOFLOW_TELEMETRY__LOG_LEVEL".to_string(),
        "info,sqlx=warn".to_string(),
    )];
    let (dir_arg, port_arg) = (dir.display().to_string(), port.to_string());
    let mut up = Service::start(
        "up",
        port,
        &["up", "--port", &port_arg, "--data-dir", &dir_arg],
        &env,
    )
    .await;
    let mut api = Api::new(up.base_url());
    api.sign_up("lifecycle@example.com").await;
    let mut stranger = Api::new(up.base_url());
    stranger.sign_up("stranger@example.com").await;
    echoflow_e2e::chatbot_lifecycle::deleting_a_chatbot_retires_its_workflows(&api).await;
    echoflow_e2e::chatbot_lifecycle::erasing_an_end_user(&api, &stranger).await;
    up.kill();
    let _ = std::fs::remove_dir_all(&dir);
}

//! Service processes: the real `echoflow` binary, started and killed by tests.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The `echoflow` binary of this workspace (`make test` builds it first).
/// It is rebuilt here only when missing or older than the sources, because a
/// nested `cargo build` with the test profile's feature set costs half a minute.
pub fn echoflow_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join("target"));
            let binary = target.join("debug").join("echoflow");
            let built_at = std::fs::metadata(&binary).and_then(|m| m.modified()).ok();
            let stale = match built_at {
                None => true,
                Some(built) => [
                    "app",
                    "crates",
                    "services",
                    "migrations",
                    "proto",
                    "Cargo.lock",
                ]
                .iter()
                .any(|dir| newer_than(&root.join(dir), built)),
            };
            if stale {
                let status = Command::new(env!("CARGO"))
                    .args(["build", "--quiet", "-p", "echoflow", "--bin", "echoflow"])
                    .current_dir(&root)
                    .status()
                    .expect("cargo build echoflow");
                assert!(status.success(), "building echoflow failed");
            }
            binary
        })
        .clone()
}

/// Whether any file under `path` was modified after `time`.
fn newer_than(path: &std::path::Path, time: std::time::SystemTime) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    if meta.is_file() {
        return meta.modified().is_ok_and(|m| m > time);
    }
    std::fs::read_dir(path).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name() != "target" && newer_than(&e.path(), time))
    })
}

/// A free loopback port for a service a test starts.
///
/// Ports come from 20000–32767, below Linux's ephemeral range (32768–60999),
/// so an outgoing connection of this or another test cannot take a port
/// between this call and the service binding it; and no port is handed out
/// twice in one test binary, whose tests run in parallel.
pub fn free_port() -> u16 {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static GIVEN: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let given = GIVEN.get_or_init(Default::default);
    // A different start per process, so parallel test binaries rarely probe the same ports.
    let seed = std::process::id() as usize
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() as usize)
            .unwrap_or(0);
    const LOW: usize = 20_000;
    const SPAN: usize = 12_768;
    for i in 0..SPAN {
        let port = (LOW + (seed.wrapping_add(i.wrapping_mul(7919))) % SPAN) as u16;
        let mut taken = given.lock().unwrap();
        if taken.contains(&port) {
            continue;
        }
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            taken.insert(port);
            return port;
        }
    }
    panic!("no free loopback port in 20000–32767");
}

/// A running `echoflow` process, killed when dropped.
pub struct Service {
    pub name: String,
    pub port: u16,
    binary: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
}

impl Service {
    /// Starts `echoflow <args>` with `env` and waits until `/readyz` answers 200.
    pub async fn start(name: &str, port: u16, args: &[&str], env: &[(String, String)]) -> Self {
        Self::start_binary(echoflow_binary(), name, port, args, env).await
    }

    /// Like [`Service::start`], with another build of `echoflow` (the benchmarks use the release one).
    pub async fn start_binary(
        binary: PathBuf,
        name: &str,
        port: u16,
        args: &[&str],
        env: &[(String, String)],
    ) -> Self {
        let log_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/e2e-logs");
        std::fs::create_dir_all(&log_dir).unwrap();
        let mut service = Self {
            name: name.to_string(),
            port,
            binary,
            args: args.iter().map(|s| s.to_string()).collect(),
            env: env.to_vec(),
            log: log_dir.join(format!("{name}-{port}.log")),
            child: None,
        };
        service.spawn().await;
        service
    }

    async fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(&self.binary)
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        self.child = Some(child);
        self.wait_ready().await;
    }

    async fn wait_ready(&mut self) {
        let client = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{}/readyz", self.port);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "{} exited with {status}; log: {}\n{}",
                    self.name,
                    self.log.display(),
                    self.log_tail()
                );
            }
            if let Ok(r) = client
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                && r.status().is_success()
            {
                // Another process may own the port if ours failed to bind it:
                // ready only counts while our child is still running.
                tokio::time::sleep(Duration::from_millis(50)).await;
                if let Some(child) = self.child.as_mut()
                    && let Ok(Some(status)) = child.try_wait()
                {
                    panic!(
                        "{} exited with {status} (port {} answered for another process); log: {}\n{}",
                        self.name,
                        self.port,
                        self.log.display(),
                        self.log_tail()
                    );
                }
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} not ready in 60 s:\n{}",
                self.name,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL: no graceful shutdown, in-flight work is lost to the process.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits (at most `limit`) for the process to exit; its exit status.
    pub async fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }

    /// The OS process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Everything the process wrote to stdout and stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

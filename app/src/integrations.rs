//! `echoflow integrations`: maintenance of the integrations service's
//! stored tokens (re-encryption under a new key), with progress.

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args)]
pub struct IntegrationsArgs {
    #[command(subcommand)]
    command: IntegrationsCommand,
}

#[derive(Subcommand)]
enum IntegrationsCommand {
    /// Re-encrypts every stored token under the active key
    /// (`integrations.active_key_id`); the other keys in
    /// `integrations.encryption_keys` must still hold the old ones.
    /// Resumable: rows already under the active key are skipped.
    Reencrypt {
        /// The embedded mode's data folder: its `integrations.db` and `integrations.keys`.
        #[arg(long, env = "ECHOFLOW_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Embedded mode: adds a new key to `<data-dir>/integrations.keys`, makes
    /// it the active one and re-encrypts every token under it. Stop
    /// `echoflow up` first, or restart it afterwards.
    RotateKey {
        #[arg(long, default_value = "./data", env = "ECHOFLOW_DATA_DIR")]
        data_dir: PathBuf,
    },
}

pub async fn run(args: IntegrationsArgs) -> anyhow::Result<()> {
    match args.command {
        IntegrationsCommand::Reencrypt { data_dir } => reencrypt(data_dir).await,
        IntegrationsCommand::RotateKey { data_dir } => {
            let (dir, _) = crate::data_dir::prepare(&data_dir)?;
            // Creates the file with a first key when there is none yet.
            crate::up::integration_keys(&dir)?;
            let path = dir.join("integrations.keys");
            let mut keys = std::fs::read_to_string(&path)?;
            if !keys.ends_with('\n') {
                keys.push('\n');
            }
            let line = crate::up::new_key_line();
            let id = line.split(':').next().unwrap_or_default().to_string();
            keys.push_str(&line);
            keys.push('\n');
            crate::data_dir::write_private(&path, &keys)?;
            eprintln!("new active key {id} added to {}", path.display());
            reencrypt(Some(dir)).await
        }
    }
}

async fn reencrypt(data_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let mut overrides: Vec<(&str, String)> = Vec::new();
    if let Some(dir) = data_dir {
        let dir = std::fs::canonicalize(&dir)?;
        let (keys, active) = crate::up::integration_keys(&dir)?;
        overrides.push((
            "database.url",
            format!("sqlite://{}/integrations.db?mode=rwc", dir.display()),
        ));
        overrides.push(("integrations.encryption_keys", keys));
        overrides.push(("integrations.active_key_id", active));
    }
    let settings = echoflow_integrations::Settings::load(&overrides)?;
    let bar = ProgressBar::new(0);
    bar.set_style(ProgressStyle::with_template(
        "{spinner} re-encrypting tokens [{bar:30}] {pos}/{len}",
    )?);
    bar.enable_steady_tick(Duration::from_millis(100));
    let progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let changed = echoflow_integrations::reencrypt_from_settings(&settings, progress).await?;
    bar.finish_and_clear();
    eprintln!(
        "{changed} record(s) re-encrypted under key {}",
        settings.integrations.active_key_id
    );
    Ok(())
}

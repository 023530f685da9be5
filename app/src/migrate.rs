//! `echoflow migrate`: applies every slice's migrations, with progress.

use clap::Args;
use echoflow_migrations::Slice;
use indicatif::{ProgressBar, ProgressStyle};
use secrecy::SecretString;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args)]
pub struct MigrateArgs {
    /// PostgreSQL URL; default: `database.url` from the settings (ECHOFLOW_DATABASE__URL).
    #[arg(long)]
    database_url: Option<String>,
    /// Migrate the embedded mode's SQLite files in this folder instead.
    #[arg(long, conflicts_with = "database_url")]
    data_dir: Option<PathBuf>,
}

#[derive(Deserialize)]
struct DbOnly {
    database: echoflow_service_kit::settings::DatabaseSettings,
}

pub async fn run(args: MigrateArgs) -> anyhow::Result<()> {
    let configured: DbOnly = echoflow_service_kit::load_settings("migrate", &[])?;
    let bar = ProgressBar::new(Slice::ALL.len() as u64);
    bar.set_style(ProgressStyle::with_template(
        "{spinner} [{pos}/{len}] {msg}",
    )?);
    bar.enable_steady_tick(Duration::from_millis(100));
    for slice in Slice::ALL {
        bar.set_message(format!("{} (owned by {})", slice.name(), slice.owner()));
        let url = match (&args.data_dir, &args.database_url) {
            (Some(dir), _) => {
                std::fs::create_dir_all(dir)?;
                SecretString::from(format!(
                    "sqlite://{}/{}.db?mode=rwc",
                    dir.display(),
                    slice.name()
                ))
            }
            (None, Some(url)) => SecretString::from(url.clone()),
            (None, None) => configured.database.url.clone(),
        };
        let db = echoflow_service_kit::db::connect(&url, slice.name(), 2).await?;
        let applied = slice.migrate(&db).await?;
        db.close().await?;
        bar.println(format!(
            "  {}: {applied} migration(s) applied",
            slice.name()
        ));
        bar.inc(1);
    }
    bar.finish_and_clear();
    eprintln!("all schema slices are up to date");
    Ok(())
}

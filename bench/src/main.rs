//! `make bench`: measures echoflow against the machine's own floors and
//! writes `bench/results.json`. It reports; it never fails on a number.

mod analytics;
mod floors;
mod load;
mod progress;
mod report;
mod stats;
mod target;

use clap::Parser;
use indicatif::ProgressBar;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

use load::Phase;
use progress::bar;
pub(crate) use progress::say;
use stats::round;
use target::Target;

#[derive(Parser)]
#[command(
    about = "echoflow benchmarks: latency, throughput, per-step overhead and memory against the machine's floors"
)]
struct Args {
    /// Short run (under 2 minutes): fewer rates, shorter phases.
    #[arg(long)]
    quick: bool,
    /// Where to write the JSON results.
    #[arg(long, default_value = "bench/results.json")]
    out: PathBuf,
    /// Also write the table as Markdown here (e.g. bench/results.md).
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// The echoflow binary to measure (default: next to this one).
    #[arg(long)]
    echoflow: Option<PathBuf>,
    /// Measure only this mode (distributed or embedded).
    #[arg(long)]
    only: Option<String>,
    /// Measure only the analytics overview (no floors, no load): its seeding, roll-up and latency.
    #[arg(long)]
    analytics_only: bool,
    /// Skip the analytics overview (its seeding and roll-up take minutes): for an A/B of the
    /// engine against a commit that has no analytics.
    #[arg(long, conflicts_with = "analytics_only")]
    no_analytics: bool,
}

/// How much of each measurement to run.
struct Sizes {
    round_trips: usize,
    pipelined: usize,
    commits: usize,
    commits_each: usize,
    rates: Vec<u32>,
    phase_secs: f64,
    per_step_runs: usize,
    saturation_rates: Vec<u32>,
    saturation_secs: f64,
    /// Messages, and executions, seeded for the analytics overview.
    analytics_rows: usize,
    analytics_samples: usize,
}

impl Sizes {
    fn new(quick: bool) -> Self {
        if quick {
            Self {
                round_trips: 200,
                pipelined: 2_000,
                commits: 300,
                commits_each: 30,
                rates: vec![50, 200],
                phase_secs: 2.0,
                per_step_runs: 10,
                saturation_rates: vec![400],
                saturation_secs: 2.0,
                analytics_rows: 20_000,
                analytics_samples: 10,
            }
        } else {
            Self {
                round_trips: 2_000,
                pipelined: 20_000,
                commits: 2_000,
                commits_each: 250,
                rates: vec![50, 200, 500],
                phase_secs: 10.0,
                per_step_runs: 50,
                saturation_rates: vec![
                    100, 200, 300, 400, 500, 600, 800, 1000, 1250, 1500, 2000, 2500, 3000, 4000,
                ],
                saturation_secs: 5.0,
                analytics_rows: 1_000_000,
                analytics_samples: 50,
            }
        }
    }
}

#[derive(Serialize, Default)]
pub struct Floors {
    pub rabbitmq: floors::BrokerFloor,
    pub postgres: floors::CommitFloor,
    pub sqlite: floors::CommitFloor,
}

#[derive(Serialize, Default)]
pub struct PerStep {
    pub one_step: Phase,
    pub twenty_one_steps: Phase,
    /// (median t21 - median t1) / 20.
    pub overhead_ms: f64,
}

#[derive(Serialize, Default)]
pub struct ModeResults {
    pub mode: String,
    pub idle_rss_kb: Vec<(String, u64)>,
    pub latency: Vec<Phase>,
    pub per_step: PerStep,
    pub saturation: Vec<Phase>,
    /// The most completed executions per second of a phase whose p99 stayed within 1 s.
    pub saturation_per_sec: f64,
    pub end_rss_kb: Vec<(String, u64)>,
    /// The analytics overview over a seeded history.
    pub analytics: Option<analytics::AnalyticsPhase>,
}

#[derive(Serialize)]
pub struct Results {
    pub date: String,
    pub run: &'static str,
    pub machine: report::Machine,
    pub floors: Floors,
    pub modes: Vec<ModeResults>,
}

/// Names the phase now running: on the spinner, or as a line without a terminal.
pub fn phase(bar: &ProgressBar, message: String) {
    if bar.is_hidden() {
        eprintln!("- {message}");
    }
    bar.set_message(message);
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sizes = Sizes::new(args.quick);
    let binary = match args.echoflow {
        Some(b) => b,
        None => std::env::current_exe()?
            .parent()
            .map(|p| p.join("echoflow"))
            .ok_or_else(|| anyhow::anyhow!("cannot locate the echoflow binary"))?,
    };
    anyhow::ensure!(
        binary.exists(),
        "{} not found: build it first (make bench does)",
        binary.display()
    );
    let bar = bar();
    let floors = if args.analytics_only {
        Floors::default()
    } else {
        measure_floors(&sizes, &bar).await?
    };
    let mut modes = Vec::new();
    for mode in ["distributed", "embedded"] {
        if args.only.as_deref().is_some_and(|only| only != mode) {
            continue;
        }
        phase(&bar, format!("{mode}: starting"));
        let target = match mode {
            "distributed" => Target::distributed(binary.clone()).await?,
            _ => Target::embedded(binary.clone()).await?,
        };
        let result = if args.analytics_only {
            analytics::measure(&target, sizes.analytics_rows, sizes.analytics_samples, &bar)
                .await
                .map(|phase| ModeResults {
                    mode: mode.to_string(),
                    analytics: Some(phase),
                    ..ModeResults::default()
                })
        } else {
            measure_mode(&target, &sizes, !args.no_analytics, &bar).await
        };
        target.stop().await;
        modes.push(result?);
    }
    bar.finish_and_clear();
    let results = Results {
        date: chrono::Utc::now().to_rfc3339(),
        run: if args.quick { "quick" } else { "full" },
        machine: report::Machine::read(),
        floors,
        modes,
    };
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(
        &args.out,
        serde_json::to_string_pretty(&report::with_ratios(&results))?,
    )?;
    let table = report::table(&results);
    println!("{table}");
    if let Some(path) = &args.markdown {
        std::fs::write(path, report::markdown(&results, &table))?;
        println!("table written to {}", path.display());
    }
    println!("results written to {}", args.out.display());
    Ok(())
}

async fn measure_floors(sizes: &Sizes, bar: &ProgressBar) -> anyhow::Result<Floors> {
    phase(
        bar,
        "floor: RabbitMQ round trip (quorum queue, confirms, acks)".to_string(),
    );
    let vhost = echoflow_test_support::TestVhost::create();
    let rabbitmq = floors::rabbitmq(&vhost.url(), sizes.round_trips, sizes.pipelined).await;
    vhost.delete();
    phase(
        bar,
        "floor: PostgreSQL insert + commit at 1 and 16 connections".to_string(),
    );
    let db = echoflow_test_support::TestDb::create().await;
    let postgres = floors::postgres(&db.url(), sizes.commits, sizes.commits_each).await;
    db.drop_database().await;
    phase(
        bar,
        "floor: SQLite insert + commit (WAL, synchronous=NORMAL)".to_string(),
    );
    let dir =
        std::env::temp_dir().join(format!("echoflow-floor-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let sqlite = floors::sqlite(&dir.join("floor.db"), sizes.commits, sizes.commits_each).await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Floors {
        rabbitmq: rabbitmq?,
        postgres: postgres?,
        sqlite: sqlite?,
    })
}

async fn measure_mode(
    target: &Target,
    sizes: &Sizes,
    with_analytics: bool,
    bar: &ProgressBar,
) -> anyhow::Result<ModeResults> {
    let mode = target.mode;
    let idle_rss_kb = target.idle_rss_kb.clone();
    let hook = target.create_workflow(target::three_step()).await?;
    phase(bar, format!("{mode}: warm-up"));
    load::closed_loop(target, &hook, 20, bar).await?;

    let mut latency = Vec::new();
    for &rate in &sizes.rates {
        phase(bar, format!("{mode}: open loop at {rate}/s"));
        let phase = load::open_loop(
            target,
            &hook,
            rate,
            sizes.phase_secs,
            Duration::from_secs(60),
            bar,
        )
        .await?;
        say(
            bar,
            format!(
                "  {mode} {rate}/s: end-to-end p50 {} ms p99 {} ms, intake p50 {} ms",
                phase.end_to_end.p50_ms, phase.end_to_end.p99_ms, phase.intake.p50_ms
            ),
        );
        latency.push(phase);
    }

    phase(bar, format!("{mode}: per-step overhead (1 and 21 steps)"));
    let one_hook = target.create_workflow(target::chain(1)).await?;
    let many_hook = target.create_workflow(target::chain(21)).await?;
    load::closed_loop(target, &one_hook, 5, bar).await?;
    let one_step = load::closed_loop(target, &one_hook, sizes.per_step_runs, bar).await?;
    load::closed_loop(target, &many_hook, 5, bar).await?;
    let twenty_one_steps = load::closed_loop(target, &many_hook, sizes.per_step_runs, bar).await?;
    let overhead_ms =
        round((twenty_one_steps.end_to_end.p50_ms - one_step.end_to_end.p50_ms) / 20.0);
    say(bar, format!("  {mode} per-step overhead: {overhead_ms} ms"));

    let mut saturation = Vec::new();
    let mut best = 0.0f64;
    for &rate in &sizes.saturation_rates {
        phase(bar, format!("{mode}: saturation at {rate}/s"));
        let phase = load::open_loop(
            target,
            &hook,
            rate,
            sizes.saturation_secs,
            Duration::from_secs(120),
            bar,
        )
        .await?;
        say(
            bar,
            format!(
                "  {mode} saturation {rate}/s: {} completed/s, p99 {} ms",
                phase.completed_per_sec, phase.end_to_end.p99_ms
            ),
        );
        let within = phase.end_to_end.p99_ms <= 1000.0 && phase.completed == phase.sent;
        if within {
            best = best.max(phase.completed_per_sec);
        }
        saturation.push(phase);
        if !within {
            break;
        }
    }
    let end_rss_kb = target.rss_kb();
    // Last: the seeded history stays in the database afterwards.
    let analytics = if with_analytics {
        Some(analytics::measure(target, sizes.analytics_rows, sizes.analytics_samples, bar).await?)
    } else {
        None
    };
    Ok(ModeResults {
        mode: mode.to_string(),
        idle_rss_kb,
        latency,
        per_step: PerStep {
            one_step,
            twenty_one_steps,
            overhead_ms,
        },
        saturation,
        saturation_per_sec: best,
        end_rss_kb,
        analytics,
    })
}

/// The phase at `rate`, if measured.
pub fn at_rate(phases: &[Phase], rate: u32) -> Option<&Phase> {
    phases.iter().find(|p| p.rate_per_sec == rate)
}

/// The latency figure used for a mode's headline (200/s, else the last rate).
pub fn headline(phases: &[Phase]) -> Option<&Phase> {
    at_rate(phases, 200).or(phases.last())
}

//! The printed table and the JSON with every figure's ratio to its floor.

use serde::Serialize;
use serde_json::{Value, json};

use crate::stats::ratio;
use crate::{ModeResults, Results, headline};

#[derive(Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub memory_gb: f64,
    pub kernel: String,
}

impl Machine {
    pub fn read() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        let memory_kb: f64 = std::fs::read_to_string("/proc/meminfo")
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        Self {
            cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0),
            cpu_model,
            memory_gb: (memory_kb / 1024.0 / 1024.0 * 10.0).round() / 10.0,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_string(),
        }
    }
}

/// The floor commit of a mode: PostgreSQL for distributed, SQLite for embedded.
fn commit_floor<'a>(results: &'a Results, mode: &ModeResults) -> &'a crate::floors::CommitFloor {
    if mode.mode == "distributed" {
        &results.floors.postgres
    } else {
        &results.floors.sqlite
    }
}

fn mode_ratios(results: &Results, mode: &ModeResults) -> Value {
    let floor = commit_floor(results, mode);
    let commit_p50 = floor.one_connection.p50_ms;
    let head = headline(&mode.latency);
    let mut ratios = json!({
        "end_to_end_p50_over_commit_p50": head.and_then(|p| ratio(p.end_to_end.p50_ms, commit_p50)),
        "end_to_end_p99_over_commit_p99": head.and_then(|p| ratio(p.end_to_end.p99_ms, floor.one_connection.p99_ms)),
        "intake_p50_over_commit_p50": head.and_then(|p| ratio(p.intake.p50_ms, commit_p50)),
        "per_step_overhead_over_commit_p50": ratio(mode.per_step.overhead_ms, commit_p50),
        "saturation_over_commit_tps_16": ratio(mode.saturation_per_sec, floor.sixteen_connections_tps),
    });
    if mode.mode == "distributed" {
        let rt = &results.floors.rabbitmq;
        ratios["end_to_end_p50_over_broker_round_trip_p50"] =
            json!(head.and_then(|p| ratio(p.end_to_end.p50_ms, rt.round_trip.p50_ms)));
        ratios["saturation_over_broker_messages_per_sec"] =
            json!(ratio(mode.saturation_per_sec, rt.messages_per_sec));
    }
    ratios
}

/// The results as JSON, each mode with its floor ratios.
pub fn with_ratios(results: &Results) -> Value {
    let mut value = serde_json::to_value(results).unwrap_or(Value::Null);
    if let Some(modes) = value["modes"].as_array_mut() {
        for (json_mode, mode) in modes.iter_mut().zip(&results.modes) {
            json_mode["ratios"] = mode_ratios(results, mode);
        }
    }
    value
}

fn ms(x: f64) -> String {
    format!("{x:.2} ms")
}

fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map(|r| format!("x{r:.2}")).unwrap_or_else(|| "-".into())
}

/// The human table.
pub fn table(results: &Results) -> String {
    let f = &results.floors;
    let mut out = String::new();
    out.push_str(&format!(
        "\nechoflow benchmarks ({} run, {}, {} CPUs, {} GB)\n\n",
        results.run, results.date, results.machine.cpus, results.machine.memory_gb
    ));
    out.push_str("Floors\n");
    out.push_str(&format!(
        "  RabbitMQ round trip (quorum, confirms, acks)   p50 {}  p99 {}   {:.0} msg/s pipelined\n",
        ms(f.rabbitmq.round_trip.p50_ms),
        ms(f.rabbitmq.round_trip.p99_ms),
        f.rabbitmq.messages_per_sec
    ));
    for (name, c) in [("PostgreSQL", &f.postgres), ("SQLite", &f.sqlite)] {
        out.push_str(&format!(
            "  {name:<10} insert+commit, 1 conn              p50 {}  p99 {}   {:.0} tx/s\n",
            ms(c.one_connection.p50_ms),
            ms(c.one_connection.p99_ms),
            c.one_connection_tps
        ));
        out.push_str(&format!(
            "  {name:<10} insert+commit, 16 conns            p50 {}  p99 {}   {:.0} tx/s\n",
            ms(c.sixteen_connections.p50_ms),
            ms(c.sixteen_connections.p99_ms),
            c.sixteen_connections_tps
        ));
    }
    for mode in &results.modes {
        let floor = commit_floor(results, mode);
        let commit_p50 = floor.one_connection.p50_ms;
        out.push_str(&format!(
            "\n{} mode{:<40}{:>14}  {:>10}  {}\n",
            mode.mode, "", "figure", "/ floor", "target"
        ));
        for p in &mode.latency {
            out.push_str(&format!(
                "  3-step end-to-end at {:>4}/s  p50 / p95 / p99     {:>8} / {} / {}  {:>8}  {}\n",
                p.rate_per_sec,
                ms(p.end_to_end.p50_ms),
                ms(p.end_to_end.p95_ms),
                ms(p.end_to_end.p99_ms),
                fmt_ratio(ratio(p.end_to_end.p50_ms, commit_p50)),
                if p.rate_per_sec == 200 {
                    "p50 <= 10 ms, p99 <= 50 ms"
                } else {
                    ""
                },
            ));
        }
        if let Some(p) = headline(&mode.latency) {
            out.push_str(&format!(
                "  webhook intake (request -> 202) p50 / p99      {:>8} / {}  {:>8}\n",
                ms(p.intake.p50_ms),
                ms(p.intake.p99_ms),
                fmt_ratio(ratio(p.intake.p50_ms, commit_p50)),
            ));
        }
        out.push_str(&format!(
            "  per-step overhead ((t21 - t1) / 20)            {:>8}  {:>8}  <= 2 ms\n",
            ms(mode.per_step.overhead_ms),
            fmt_ratio(ratio(mode.per_step.overhead_ms, commit_p50)),
        ));
        out.push_str(&format!(
            "  saturation (completed/s, p99 <= 1 s)           {:>8.0}/s  {:>8}  {}\n",
            mode.saturation_per_sec,
            fmt_ratio(ratio(
                mode.saturation_per_sec,
                floor.sixteen_connections_tps
            )),
            if mode.mode == "distributed" {
                ">= 1,000/s"
            } else {
                ">= 3,000/s"
            },
        ));
        if let Some(a) = &mode.analytics {
            out.push_str(&format!(
                "  analytics overview, 30 days ({} msgs + {} execs over {} days) p50 / p95   {} / {}  p95 < 200 ms\n",
                a.messages, a.executions, a.days, ms(a.p50_ms), ms(a.p95_ms),
            ));
        }
        for ((name, idle), (_, end)) in mode.idle_rss_kb.iter().zip(&mode.end_rss_kb) {
            out.push_str(&format!(
                "  RSS {name:<20} idle / after saturation    {:>8} / {}  {}\n",
                mb(*idle),
                mb(*end),
                if mode.mode == "distributed" {
                    "idle <= 30 MB"
                } else {
                    "idle <= 60 MB"
                },
            ));
        }
    }
    out.push_str("\n(/ floor: the figure divided by one commit's p50 on the mode's database, or for saturation by its 16-connection commits/s)\n");
    out
}

/// The results page: date, machine, the table, and where the JSON is.
pub fn markdown(results: &Results, table: &str) -> String {
    let m = &results.machine;
    format!(
        "# echoflow benchmark results\n\n\
         - date: {}\n- run: `make bench` ({} run, release build)\n\
         - machine: {} CPUs ({}), {} GB RAM, Linux {}; PostgreSQL and RabbitMQ on the same machine\n\n\
         What each figure means and how to reproduce it: [README.md](README.md). \
         Every figure, with its ratios to the floors, is in `results.json`.\n\n\
         ```text{}```\n",
        results.date, results.run, m.cpus, m.cpu_model, m.memory_gb, m.kernel, table
    )
}

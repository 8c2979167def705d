//! `cloud-bench` (run as `cloud bench …`): measurements printed as ratios taken in one run, never
//! timed unit tests. A separate program so that the release `cloud` binary carries none of the
//! fakes and harnesses it needs; `cloud bench <name>` runs it from beside the `cloud` binary.
//!
//! * `waves` — the scheduler on the Pulumi stand-in against the critical path ([`waves`]);
//! * `stream` — the output batcher against a simulated Discord sink ([`stream`]);
//! * `discord` — the Discord bot against the in-process fake Discord ([`discord`]);
//! * `chat` — Discord and Slack first responses, many people at once on a store with a history
//!   ([`chat`]);
//! * [`parser`] — engine-event parser throughput and write→progress latency probes;
//! * `plan-show` — `cloud plan show` on a generated 1 GB event log, against Python ([`plan_show`]);
//! * `history` — status, list, stats, quota and deploy at 0 to 50k past sessions ([`history`]);
//! * `recovery` — the kill -9 matrix and a soak of random kills through `cloud` ([`recovery`]).

mod chat;
mod discord;
mod history;
mod parser;
mod plan_show;
mod recovery;
mod scratch;
mod seed;
mod stream;
mod waves;

use clap::{Args, Parser, Subcommand};
use cloud::cli::GlobalArgs;

/// Benchmarks of cloud-engine; each prints a one-line summary per figure, or JSON with --json.
#[derive(Debug, Parser)]
#[command(name = "cloud bench", version)]
struct BenchCli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: BenchCmd,
}

#[derive(Debug, Subcommand)]
enum BenchCmd {
    /// Plan, apply and destroy the sample deployment on the stand-in with fixed per-stack delays;
    /// compare the wall time with the true critical path and count engine processes
    Waves(waves::WavesArgs),
    /// Flood the output batcher against a simulated Discord sink: p95 latency with late lines,
    /// lost lines, budget violations
    Stream(stream::StreamArgs),
    /// Interaction → first response latency, 429s while streaming, bot memory (fake Discord)
    Discord(BenchDiscordArgs),
    /// Discord and Slack first-response p50/p99 with many people at once (deploy, status, list,
    /// quota, approve) on a store with 10k past sessions and quotas
    Chat(chat::ChatArgs),
    /// Engine-event parser throughput and write → progress latency of the event-log tailer
    Parser(ParserArgs),
    /// `cloud plan show` on a generated event log (1 GB): events/s and peak RSS, against a
    /// Python json.loads loop
    PlanShow(plan_show::PlanShowArgs),
    /// Status, list, stats, a quota check and a deploy at 0, 1k, 10k and 50k past sessions:
    /// time and peak RSS against the empty store
    History(history::HistoryArgs),
    /// Kill -9 `cloud` in every session state, then at random moments: kills after which the
    /// system was usable, stack locks leaked, stale lobbies (exit 1 unless all usable, none leaked)
    Recovery(recovery::RecoveryArgs),
}

#[derive(Debug, Args)]
struct ParserArgs {
    /// Events in the synthetic stream
    #[arg(long, default_value_t = 200_000)]
    events: usize,
    /// Events written one by one for the latency probe
    #[arg(long, default_value_t = 500)]
    samples: usize,
    /// Print the results as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct BenchDiscordArgs {
    /// Print the results as JSON
    #[arg(long)]
    json: bool,
    /// Interactions to time
    #[arg(long, default_value_t = 200)]
    interactions: u32,
    /// Lines streamed through one thread
    #[arg(long, default_value_t = 20_000)]
    lines: u32,
    /// Live sessions for the memory measurement
    #[arg(long, default_value_t = 50)]
    sessions: u32,
}

#[tokio::main]
async fn main() {
    let cli = BenchCli::parse();
    // The product's logs (CLOUD_LOG, --debug), on stderr: what the bot did when a figure looks
    // wrong.
    let filter = cli.global.log_filter(std::env::var("CLOUD_LOG").ok());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let code = match run(cli).await {
        Ok(()) => 0,
        Err(e) => cloud::cli::report_error(&e),
    };
    std::process::exit(code);
}

async fn run(cli: BenchCli) -> anyhow::Result<()> {
    let global = cli.global;
    match cli.command {
        BenchCmd::Waves(args) => {
            let report = waves::cmd_bench_waves(&global, &args).await?;
            waves::print_waves(&report, args.json, args.check)
        }
        BenchCmd::Stream(args) => stream::cmd_bench_stream(&args),
        BenchCmd::Discord(args) => {
            let (_scratch, config) = scratch::config(&global)?;
            let params = discord::BenchParams {
                interactions: args.interactions,
                lines: args.lines,
                sessions: args.sessions,
            };
            let result = discord::run(config, params).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&result)?);
            } else {
                print!("{}", result.render());
            }
            Ok(())
        }
        BenchCmd::Chat(args) => {
            let report = chat::cmd_bench_chat(&global, &args).await?;
            chat::print_chat(&report, args.json, args.check)
        }
        BenchCmd::History(args) => {
            let report = history::cmd_bench_history(&global, &args).await?;
            history::print_history(&report, args.json, args.check)
        }
        BenchCmd::Recovery(args) => {
            let report = recovery::cmd_bench_recovery(&global, &args).await?;
            recovery::print_recovery(&report, args.json)
        }
        BenchCmd::PlanShow(args) => {
            let report = plan_show::cmd_bench_plan_show(&args)?;
            plan_show::print_plan_show(&report, args.json, args.check)
        }
        BenchCmd::Parser(args) => {
            let parse = parser::bench_parse(args.events);
            let tail = parser::bench_tail_latency(args.samples).await;
            if args.json {
                let report = serde_json::json!({
                    "parse": {"events": parse.events, "bytes": parse.bytes, "events_per_sec": parse.events_per_sec, "mib_per_sec": parse.mib_per_sec},
                    "tail": {"samples": tail.samples, "p50_ms": tail.p50_ms, "p95_ms": tail.p95_ms, "max_ms": tail.max_ms},
                });
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "parse {} events ({:.1} MiB): {:.0} events/s, {:.1} MiB/s; tail latency p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
                    parse.events,
                    parse.bytes as f64 / (1024.0 * 1024.0),
                    parse.events_per_sec,
                    parse.mib_per_sec,
                    tail.p50_ms,
                    tail.p95_ms,
                    tail.max_ms
                );
            }
            Ok(())
        }
    }
}

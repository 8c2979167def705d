//! `cloud bench discord`: the Discord bot against the in-process fake Discord on loopback
//! (see [`crate::testing::fake_discord`]).

use clap::{Args, Subcommand};

use super::GlobalArgs;

#[derive(Debug, Subcommand)]
pub enum BenchCmd {
    /// Interaction → first response latency, 429s while streaming, bot memory
    Discord(BenchDiscordArgs),
}

#[derive(Debug, Args)]
pub struct BenchDiscordArgs {
    /// Print the results as JSON
    #[arg(long)]
    pub json: bool,
    /// Interactions to time
    #[arg(long, default_value_t = 200)]
    pub interactions: u32,
    /// Lines streamed through one thread
    #[arg(long, default_value_t = 20_000)]
    pub lines: u32,
    /// Live sessions for the memory measurement
    #[arg(long, default_value_t = 50)]
    pub sessions: u32,
}

pub async fn run(global: &GlobalArgs, cmd: BenchCmd) -> anyhow::Result<()> {
    match cmd {
        BenchCmd::Discord(args) => {
            let config = super::wiring::load_config(global)?;
            let params = crate::chat::discord::bench::BenchParams {
                interactions: args.interactions,
                lines: args.lines,
                sessions: args.sessions,
            };
            let result = crate::chat::discord::bench::run(config, params).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&result)?);
            } else {
                print!("{}", result.render());
            }
            Ok(())
        }
    }
}

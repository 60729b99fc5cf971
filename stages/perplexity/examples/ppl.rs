//! `sluice ppl` without the rest of the binary (quick to build for benches).
use clap::Parser;

#[derive(Parser)]
#[command(name = "ppl")]
struct Cli {
    #[command(flatten)]
    args: sluice_perplexity::cli::PplArgs,
}

fn main() -> anyhow::Result<()> {
    sluice_perplexity::cli::run(&Cli::parse().args)
}

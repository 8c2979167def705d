//! `cloud`: the command-line entry point.

use cloud::cli::LogFormat;
use tracing_subscriber::EnvFilter;

fn init_tracing(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("warn"));
    // Colour only on a terminal: logs redirected to a file or read by a test stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(true).init(),
    }
}

#[tokio::main]
async fn main() {
    let cli = cloud::cli::parse();
    let filter = cli.global.log_filter(std::env::var("CLOUD_LOG").ok());
    init_tracing(cli.global.log_format, &filter);
    let code = cloud::cli::run(cli).await;
    std::process::exit(code);
}

//! melotag's entry point: parse arguments, run, map errors to exit codes.

use clap::Parser;

fn main() {
    melotag::process_start();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("MELOTAG_LOG"))
        .with_writer(std::io::stderr)
        .init();
    // clap exits with code 2 on usage errors.
    let cli = melotag::cli::Cli::parse();
    match melotag::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}

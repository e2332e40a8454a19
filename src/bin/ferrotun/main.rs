//! `ferrotun`: the Linux command line. Runs the same core the mobile apps
//! embed; the end-to-end tests and benchmarks drive it.

mod demo;
mod up;

use std::io::Read;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ferrotun::config::PrivateKey;

#[derive(Parser)]
#[command(
    name = "ferrotun",
    version,
    about = "WireGuard tunnel core: batched TUN IO, GSO/GRO UDP, boringtun crypto"
)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Brings up a tunnel from a wg-quick config and runs until SIGINT/SIGTERM.
    Up(up::UpArgs),
    /// Prints a new private key (like `wg genkey`).
    Genkey,
    /// Reads a private key on stdin and prints its public key (like `wg pubkey`).
    Pubkey,
    /// Runs two tunnels in this process over loopback UDP and reports throughput
    /// and GSO batching. Needs no root.
    Demo(demo::DemoArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Commands::Up(args) => up::run(args),
        Commands::Genkey => {
            println!("{}", PrivateKey::generate().to_base64());
            Ok(())
        }
        Commands::Pubkey => pubkey(),
        Commands::Demo(args) => demo::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ferrotun: {message}");
            ExitCode::FAILURE
        }
    }
}

fn pubkey() -> Result<(), String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| format!("reading stdin: {e}"))?;
    let key =
        PrivateKey::from_base64(text.trim()).map_err(|e| format!("invalid private key: {e}"))?;
    println!("{}", key.public_key().to_base64());
    Ok(())
}

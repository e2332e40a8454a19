//! `ferrotun up`: a tunnel on a new Linux TUN device, or on an inherited fd.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use ferrotun::config::TunnelConfig;
use ferrotun::platform::linux_tun;
use ferrotun::runtime::{RuntimeError, Tunnel, TunnelEvent, TunnelOptions, TunnelStats};

#[derive(Args)]
pub struct UpArgs {
    /// wg-quick config file.
    config: PathBuf,
    /// Name of the TUN device to create (default: the config file's name, like wg-quick).
    #[arg(long, conflicts_with = "tun_fd")]
    tun: Option<String>,
    /// Use this already-open TUN fd (IFF_TUN|IFF_NO_PI) and configure nothing, as on Android.
    #[arg(long, value_name = "FD")]
    tun_fd: Option<i32>,
    /// Print counters every SECS seconds (and once more on exit).
    #[arg(long, value_name = "SECS")]
    stats: Option<u64>,
}

/// The interface name wg-quick would use: the file name without `.conf`.
fn default_interface_name(path: &Path) -> Option<String> {
    Some(path.file_stem()?.to_str()?.to_owned())
}

pub fn run(args: UpArgs) -> Result<(), String> {
    init_logging();
    let path = args.config.display().to_string();
    let text =
        std::fs::read_to_string(&args.config).map_err(|e| format!("cannot read {path}: {e}"))?;
    let config = TunnelConfig::parse_wg_quick(&text).map_err(|e| format!("{path}: {e}"))?;

    let listen_port = config.listen_port;
    // The device is created bare; addresses and routes come only after the
    // tunnel holds its UDP port, so an `up` that cannot bind (the port belongs
    // to a running tunnel) never touches the system's routes.
    let (tun, created) = match args.tun_fd {
        Some(fd) => (adopt_tun_fd(fd)?, None),
        None => {
            let name = match args.tun {
                Some(name) => name,
                None => default_interface_name(&args.config).ok_or_else(|| {
                    format!("cannot derive an interface name from {path}; pass --tun NAME")
                })?,
            };
            let (fd, name) = linux_tun::create(&name).map_err(|e| e.to_string())?;
            (fd, Some(name))
        }
    };

    let tunnel =
        Tunnel::start(config.clone(), tun, TunnelOptions::default()).map_err(|e| {
            match (&e, listen_port) {
                (RuntimeError::Io { source, .. }, Some(port))
                    if source.kind() == std::io::ErrorKind::AddrInUse =>
                {
                    format!("UDP port {port} is already in use (another tunnel?): {e}")
                }
                _ => e.to_string(),
            }
        })?;
    if let Some(name) = &created {
        if let Err(e) = linux_tun::configure(name, &config) {
            // Stopping closes the device, which takes the routes it got with it.
            tunnel.stop();
            return Err(e.to_string());
        }
        eprintln!("ferrotun: interface {name} is up");
    }
    eprintln!("ferrotun: listening on UDP port {}", tunnel.listen_port());

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the signal handler: {e}"))?;
    let failure = runtime.block_on(wait(&tunnel, args.stats));
    if args.stats.is_some()
        && let Ok(stats) = tunnel.stats()
    {
        print_stats(&stats);
    }
    tunnel.stop();
    match failure {
        Some(error) => Err(format!("tunnel stopped: {error}")),
        None => Ok(()),
    }
}

/// Takes over `--tun-fd`. Refuses stdin, stdout and stderr: the tunnel would
/// close them, and with stderr gone every later error would vanish unseen.
fn adopt_tun_fd(fd: i32) -> Result<std::os::fd::OwnedFd, String> {
    if (0..=2).contains(&fd) {
        return Err(format!(
            "--tun-fd {fd}: fds 0, 1 and 2 are stdin, stdout and stderr, not a TUN device"
        ));
    }
    linux_tun::adopt_fd(fd).map_err(|e| format!("--tun-fd {fd}: {e}"))
}

/// Runs until a signal (returns `None`) or the tunnel stops by itself (returns its error).
async fn wait(tunnel: &Tunnel, stats_every: Option<u64>) -> Option<String> {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return Some("cannot install signal handlers".into());
    };
    let period = Duration::from_secs(stats_every.unwrap_or(u64::MAX / 4).max(1));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        tokio::select! {
            _ = interrupt.recv() => return None,
            _ = terminate.recv() => return None,
            _ = ticker.tick(), if stats_every.is_some() => {
                if let Ok(stats) = tunnel.stats() {
                    print_stats(&stats);
                }
            }
            event = tunnel.next_event() => match event {
                Some(TunnelEvent::Stopped { error }) => return Some(error.unwrap_or_else(|| "stopped".into())),
                Some(event) => tracing::info!(?event, "tunnel event"),
                None => return Some("stopped".into()),
            },
        }
    }
}

fn print_stats(s: &TunnelStats) {
    println!(
        "stats ip_in={} ip_out={} udp_tx={} udp_send_syscalls={} udp_rx={} gro_batches={} tun_read_batches={} drops={}",
        s.ip_packets_in,
        s.ip_packets_out,
        s.udp_datagrams_sent,
        s.udp_send_syscalls,
        s.udp_datagrams_received,
        s.gro_batches,
        s.tun_read_batches,
        s.drops.total(),
    );
    for (i, p) in s.peers.iter().enumerate() {
        let handshake = p
            .last_handshake
            .and_then(|t| t.elapsed().ok())
            .map_or("never".to_owned(), |d| format!("{}s-ago", d.as_secs()));
        println!(
            "peer {i} endpoint={} tx_bytes={} rx_bytes={} tx_packets={} rx_packets={} handshake={handshake}",
            p.endpoint.map_or("none".to_owned(), |e| e.to_string()),
            p.tx_bytes,
            p.rx_bytes,
            p.tx_packets,
            p.rx_packets,
        );
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FERROTUN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

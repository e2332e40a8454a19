//! `ferrotun up`: a tunnel on a new Linux TUN device, or on an inherited fd.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use std::os::fd::AsFd as _;

use ferrotun::config::TunnelConfig;
use ferrotun::io::resolve;
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
    /// On SIGUSR1, open a new fd (queue) of the same TUN device and move the
    /// running tunnel onto it, closing the old one: what an Android app does
    /// after re-establishing its VPN interface. Needs a multi-queue device
    /// (created so here; with --tun-fd, open it with IFF_MULTI_QUEUE).
    #[arg(long)]
    swap_tun_on_sigusr1: bool,
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
    // Resolve host names first, as an app does before it establishes its VPN.
    let config = resolve::resolve_config(
        config,
        &resolve::SystemResolver,
        &resolve::DEFAULT_RETRY,
        &mut std::thread::sleep,
    )
    .map_err(|e| format!("{path}: {e}"))?;

    let listen_port = config.listen_port();
    // The device to open more queues of, for --swap-tun-on-sigusr1.
    let mut swap_device = None;
    // A device made here is created bare; addresses and routes come only after
    // the tunnel holds its UDP port, so an `up` that cannot bind (the port
    // belongs to a running tunnel) never touches the system's routes.
    let mut created = None;
    let tun = match args.tun_fd {
        Some(fd) => {
            let tun = adopt_tun_fd(fd)?;
            if args.swap_tun_on_sigusr1 {
                let (name, multi_queue) = linux_tun::device_of(tun.as_fd())
                    .map_err(|e| format!("--tun-fd {fd}: not a TUN device: {e}"))?;
                if !multi_queue {
                    return Err(format!(
                        "--swap-tun-on-sigusr1: TUN device {name} is not multi-queue (IFF_MULTI_QUEUE)"
                    ));
                }
                swap_device = Some(name);
            }
            tun
        }
        None => {
            let name = match args.tun {
                Some(name) => name,
                None => default_interface_name(&args.config).ok_or_else(|| {
                    format!("cannot derive an interface name from {path}; pass --tun NAME")
                })?,
            };
            let (fd, name) = if args.swap_tun_on_sigusr1 {
                linux_tun::open_queue(&name)
            } else {
                linux_tun::create(&name)
            }
            .map_err(|e| e.to_string())?;
            if args.swap_tun_on_sigusr1 {
                swap_device = Some(name.clone());
            }
            created = Some(name);
            fd
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
    let failure = runtime.block_on(wait(&tunnel, args.stats, swap_device.as_deref()));
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
#[allow(unsafe_code)] // adopting the inherited fd; see the SAFETY note
fn adopt_tun_fd(fd: i32) -> Result<std::os::fd::OwnedFd, String> {
    if (0..=2).contains(&fd) {
        return Err(format!(
            "--tun-fd {fd}: fds 0, 1 and 2 are stdin, stdout and stderr, not a TUN device"
        ));
    }
    // SAFETY: `--tun-fd` hands an inherited fd to the tunnel. Up to here the
    // process holds no fd of its own beyond 0-2 (refused above; the config
    // file and any resolver sockets are closed again), so an open `fd` was
    // inherited, and nothing else in the process uses or closes it by number.
    unsafe { ferrotun::io::tun::adopt_fd(fd) }.map_err(|e| format!("--tun-fd {fd}: {e}"))
}

/// Runs until a signal (returns `None`) or the tunnel stops by itself (returns its error).
/// With `swap_device`, SIGUSR1 moves the tunnel onto a new queue of that device.
async fn wait(
    tunnel: &Tunnel,
    stats_every: Option<u64>,
    swap_device: Option<&str>,
) -> Option<String> {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate), Ok(mut user1)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::user_defined1()),
    ) else {
        return Some("cannot install signal handlers".into());
    };
    let period = Duration::from_secs(stats_every.unwrap_or(u64::MAX / 4).max(1));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        tokio::select! {
            _ = interrupt.recv() => return None,
            _ = terminate.recv() => return None,
            _ = user1.recv(), if swap_device.is_some() => {
                let device = swap_device.unwrap_or_default();
                match linux_tun::open_queue(device) {
                    Ok((fd, _)) => match tunnel.swap_tun(fd) {
                        Ok(()) => eprintln!("ferrotun: TUN fd swapped"),
                        Err(e) => eprintln!("ferrotun: TUN swap failed: {e}"),
                    },
                    Err(e) => eprintln!("ferrotun: TUN swap failed: opening a new queue of {device}: {e}"),
                }
            }
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

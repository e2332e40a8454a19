//! CLI errors stay visible: `ferrotun up` reports them on a stderr that is
//! still open. No root needed: these fail before any device is touched.

mod ferrotun_cli;

use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn tun_fd_2_is_refused_with_a_message_on_stderr() {
    let dir = std::env::temp_dir().join(format!("ferrotun-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("t.conf");
    let key = ferrotun::config::PrivateKey::generate().to_base64();
    std::fs::write(&conf, format!("[Interface]\nPrivateKey = {key}\n")).unwrap();
    for fd in ["0", "1", "2"] {
        let mut child = ferrotun_cli::command()
            .args(["up", conf.to_str().unwrap(), "--tun-fd", fd])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("ferrotun up --tun-fd {fd} still running after 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "--tun-fd {fd} accepted");
        assert!(
            stderr.contains(&format!("--tun-fd {fd}")) && stderr.contains("not a TUN device"),
            "--tun-fd {fd}: stderr says {stderr:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

//! A wg-quick key the tunnel ignores (PostUp and the other wg-quick script
//! hooks) is logged as a warning that names the key but never its value,
//! which may hold a secret.
//!
//! Its own test binary with one test: tracing caches per callsite whether
//! anyone listens, across every thread of the process, so a test that
//! captures logs shares nothing with tests that run without a subscriber
//! (a scoped subscriber in the library's tests failed now and then so).

use std::io::Write;
use std::sync::{Arc, Mutex};

use ferrotun::config::TunnelConfig;

const OWN_PRIVATE: &str = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn ignored_key_warning_names_the_key_but_not_the_value() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish(),
    )
    .unwrap();

    let text = format!(
        "[Interface]\nPrivateKey = {OWN_PRIVATE}\npostup = wg set %i private-key <(echo {OWN_PRIVATE})\n"
    );
    TunnelConfig::parse_wg_quick(&text).unwrap();

    let log = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("WARN") && log.contains("PostUp"), "{log}");
    assert!(!log.contains(OWN_PRIVATE) && !log.contains("echo"), "{log}");
}

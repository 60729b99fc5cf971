//! Test support: a real S3-compatible server (moto) started by the tests.
//!
//! `SLUICE_MOTO_SERVER` names the `moto_server` executable (`.ci/run`
//! installs it in a virtualenv). Without it the S3 tests are skipped, unless
//! `SLUICE_REQUIRE_S3=1` (set in CI), which makes them fail instead.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto server; killed when dropped.
pub struct Moto {
    child: Child,
    pub port: u16,
}

impl Moto {
    /// Start the server, or `None` (with a note on stderr) when
    /// `SLUICE_MOTO_SERVER` is not set and S3 is not required.
    pub fn start() -> Option<Moto> {
        let required = std::env::var("SLUICE_REQUIRE_S3").is_ok_and(|v| v == "1");
        let Some(bin) = std::env::var_os("SLUICE_MOTO_SERVER").filter(|v| !v.is_empty()) else {
            assert!(!required, "SLUICE_REQUIRE_S3=1 but SLUICE_MOTO_SERVER (the moto_server executable) is not set");
            eprintln!("skipped: set SLUICE_MOTO_SERVER to a moto_server executable to run the S3 tests");
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.to_string_lossy()));
        let m = Moto { child, port };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(60), "moto_server did not listen on port {port} within 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(m)
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment a client needs for this server (set it in the test
    /// process or pass it to a child).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    /// Create a bucket (object_store cannot): a plain `PUT /bucket`.
    pub fn create_bucket(&self, bucket: &str) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("moto answers");
        write!(s, "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", self.port).unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        assert!(reply.starts_with("HTTP/1.1 200") || reply.starts_with("HTTP/1.0 200"), "create bucket {bucket}: {reply}");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

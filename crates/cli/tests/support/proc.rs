//! Child processes for the CLI's integration tests (`keyward serve`,
//! Prometheus, …): stderr collected line by line, killed when dropped.
//! Each test binary includes this file with `#[path]`; not every binary uses
//! every item.

#![allow(dead_code, reason = "each test binary uses a part")]

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (free when asked).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process that is killed when dropped, with its stderr collected.
pub struct Proc {
    pub child: Child,
    log: Arc<Mutex<Vec<String>>>,
    /// The stderr reader; it ends when the process's stderr closes.
    reader: Option<JoinHandle<()>>,
}

impl Proc {
    /// Spawns `cmd` with stdin and stdout null and stderr collected.
    pub fn spawn(mut cmd: Command) -> Proc {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let stderr = child.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        Proc {
            child,
            log,
            reader: Some(reader),
        }
    }

    /// Spawns a `keyward serve` command and waits up to `limit` for
    /// "keyward listening" (the port is bound before start-up finishes, so a
    /// connect proves nothing); panics with the log when it exits first or
    /// the time runs out.
    pub fn serve(cmd: Command, limit: Duration) -> Proc {
        Proc::try_serve(cmd, limit).unwrap_or_else(|(status, log)| {
            panic!("keyward serve exited ({status}) at start:\n{log}")
        })
    }

    /// As [`Proc::serve`], but a server that exits before it listens is
    /// `Err((exit status, log))`, for tests of start-up refusals.
    pub fn try_serve(cmd: Command, limit: Duration) -> Result<Proc, (ExitStatus, String)> {
        let mut p = Proc::spawn(cmd);
        let t0 = Instant::now();
        while !p.logged("keyward listening") {
            if let Some(status) = p.child.try_wait().unwrap() {
                // Every line, up to the close of stderr.
                if let Some(r) = p.reader.take() {
                    let _ = r.join();
                }
                return Err((status, p.log_text()));
            }
            assert!(
                t0.elapsed() < limit,
                "not listening after {limit:?}:\n{}",
                p.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(p)
    }

    /// The log so far, one line a line.
    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Whether a log line so far contains `needle`.
    pub fn logged(&self, needle: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(needle))
    }

    /// Sends SIGTERM; waits up to `limit` for the exit. Returns the exit code
    /// and how long it took.
    pub fn terminate(&mut self, limit: Duration) -> (Option<i32>, Duration) {
        let t0 = Instant::now();
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.code(), t0.elapsed());
            }
            if t0.elapsed() > limit {
                return (None, t0.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

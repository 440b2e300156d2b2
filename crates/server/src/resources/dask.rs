//! The DASk provider: Apple's D function (`DASk = D(R2, ASk)`), which Apple
//! ships only to FairPlay licensees, supplied by the tenant.
//!
//! * `command`: a long-lived co-process built from Apple's D function source.
//!   Line protocol, one request at a time per process:
//!   `<R2 as 42 hex digits> <ASk as 32 hex digits>\n` in, `<DASk as 32 hex
//!   digits>\n` out (an `ERR <text>` line is a refusal). keyward keeps a small
//!   pool of processes, starts them with the server, restarts one that dies or
//!   answers garbage, and bounds every answer by a timeout; a dead, slow or
//!   garbled provider is a coded refusal (7321), never a hang. A process that
//!   keeps dying is not respawned more than once a second.
//! * `sdk-test`: the fixed DASk of Apple's SDK test vectors — tests and demos
//!   only, never with production credentials; loudly logged at start-up.
//! * `none` (default): no D function; FairPlay licences from the site's own
//!   credentials are refused with 7321.
//!
//! Secrets (ASk, DASk) never reach a log or an error message.

use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::Mutex;
use zeroize::Zeroizing;

use crate::codes;
use crate::refusal::Refusal;

/// Where the DASk comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum DaskSource {
    /// No D function configured.
    #[default]
    None,
    /// The SDK test DASk (development only).
    SdkTest,
    /// A co-process: program and arguments.
    Command(Vec<String>),
}

/// How the provider is run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaskSettings {
    /// The source.
    pub source: DaskSource,
    /// Longest wait for one answer, milliseconds (default 2000).
    pub timeout_ms: u64,
    /// Co-processes kept (default 2).
    pub processes: usize,
}

impl Default for DaskSettings {
    fn default() -> Self {
        Self {
            source: DaskSource::None,
            timeout_ms: 2000,
            processes: 2,
        }
    }
}

/// Longest answer line read from a co-process.
const MAX_LINE: u64 = 256;

struct Proc {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

struct Slot {
    proc: Option<Proc>,
    /// When the last spawn failed or the process died: no respawn before a
    /// second has passed.
    failed_at: Option<Instant>,
}

/// The provider.
pub struct DaskProvider {
    settings: DaskSettings,
    slots: Vec<Mutex<Slot>>,
    next: AtomicUsize,
}

fn unavailable(message: &'static str) -> Refusal {
    Refusal::with(codes::FAIRPLAY_DASK_UNAVAILABLE, message)
}

impl DaskProvider {
    /// A provider (nothing started yet; see [`DaskProvider::start`]).
    pub fn new(settings: DaskSettings) -> Self {
        let n = match settings.source {
            DaskSource::Command(_) => settings.processes.max(1),
            _ => 0,
        };
        Self {
            slots: (0..n)
                .map(|_| {
                    Mutex::new(Slot {
                        proc: None,
                        failed_at: None,
                    })
                })
                .collect(),
            next: AtomicUsize::new(0),
            settings,
        }
    }

    /// Is any D function configured?
    pub fn configured(&self) -> bool {
        self.settings.source != DaskSource::None
    }

    /// Starts the co-processes (and logs the development provider loudly).
    ///
    /// # Errors
    /// The spawn error of the first process that does not start.
    pub async fn start(&self) -> Result<(), String> {
        match &self.settings.source {
            DaskSource::None => Ok(()),
            DaskSource::SdkTest => {
                tracing::warn!(
                    "FairPlay DASk provider is sdk-test: the fixed DASk of Apple's SDK test vectors. DEVELOPMENT ONLY — it cannot license a real device; configure fairplay.dask = \"command\" for production"
                );
                Ok(())
            }
            DaskSource::Command(argv) => {
                for slot in &self.slots {
                    let mut s = slot.lock().await;
                    if s.proc.is_none() {
                        s.proc = Some(spawn(argv).map_err(|e| {
                            format!("FairPlay DASk command {:?} cannot start: {e}", argv[0])
                        })?);
                    }
                }
                tracing::info!(processes = self.slots.len(), program = %argv[0], "FairPlay DASk co-processes started");
                Ok(())
            }
        }
    }

    /// `D(R2, ASk)`.
    ///
    /// # Errors
    /// 7321 when no provider is configured, or the co-process cannot start,
    /// dies, answers late, answers garbage or answers `ERR`.
    pub async fn dask(&self, r2: &[u8], ask: &[u8; 16]) -> Result<Zeroizing<[u8; 16]>, Refusal> {
        match &self.settings.source {
            DaskSource::None => Err(unavailable(
                "No FairPlay D function is configured (fairplay.dask): keyward cannot open SPCs with this site's credentials",
            )),
            DaskSource::SdkTest => Ok(Zeroizing::new(keyward_drm::fairplay::SDK_TEST_DASK)),
            DaskSource::Command(argv) => self.ask_coprocess(argv, r2, ask).await,
        }
    }

    async fn ask_coprocess(
        &self,
        argv: &[String],
        r2: &[u8],
        ask: &[u8; 16],
    ) -> Result<Zeroizing<[u8; 16]>, Refusal> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len().max(1);
        let slot = self
            .slots
            .get(i)
            .ok_or_else(|| unavailable("No FairPlay D function process"))?;
        let timeout = Duration::from_millis(self.settings.timeout_ms);
        // Waiting for a busy process counts against the timeout too.
        let mut s = tokio::time::timeout(timeout, slot.lock())
            .await
            .map_err(|_| unavailable("The FairPlay D function is busy past its timeout"))?;
        if s.proc.is_none() {
            if s.failed_at
                .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
            {
                return Err(unavailable(
                    "The FairPlay D function process keeps failing; retrying shortly",
                ));
            }
            match spawn(argv) {
                Ok(p) => s.proc = Some(p),
                Err(e) => {
                    s.failed_at = Some(Instant::now());
                    tracing::error!(error = %e, program = %argv[0], "FairPlay DASk command cannot start");
                    return Err(unavailable("The FairPlay D function cannot be started"));
                }
            }
        }
        let line = Zeroizing::new(format!("{} {}\n", hex::encode(r2), hex::encode(ask)));
        let result = match s.proc.as_mut() {
            Some(p) => tokio::time::timeout(timeout, exchange(p, line.as_bytes())).await,
            None => return Err(unavailable("No FairPlay D function process")),
        };
        let failure = match result {
            Ok(Ok(dask)) => return Ok(dask),
            Ok(Err(Answer::Refused)) => {
                return Err(unavailable("The FairPlay D function refused the request"))
            }
            Ok(Err(Answer::Died)) => "The FairPlay D function process died",
            Ok(Err(Answer::Garbage)) => "The FairPlay D function answered garbage",
            Err(_) => "The FairPlay D function did not answer within its timeout",
        };
        // The process is dead or out of step: replace it.
        if let Some(mut p) = s.proc.take() {
            let _ = p.child.start_kill();
            tokio::spawn(async move {
                let _ = p.child.wait().await;
            });
        }
        s.failed_at = Some(Instant::now());
        tracing::warn!(reason = failure, "FairPlay DASk co-process replaced");
        Err(unavailable(failure))
    }
}

enum Answer {
    Died,
    Garbage,
    Refused,
}

fn spawn(argv: &[String]) -> std::io::Result<Proc> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| std::io::Error::other("empty command"))?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;
    let stdin = child
        .stdin
        .take()
        .ok_or_else(|| std::io::Error::other("no stdin"))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("no stdout"))?;
    Ok(Proc {
        child,
        stdin,
        stdout: BufReader::new(stdout),
    })
}

async fn exchange(p: &mut Proc, line: &[u8]) -> Result<Zeroizing<[u8; 16]>, Answer> {
    p.stdin.write_all(line).await.map_err(|_| Answer::Died)?;
    p.stdin.flush().await.map_err(|_| Answer::Died)?;
    let mut answer = Zeroizing::new(Vec::with_capacity(40));
    let n = (&mut p.stdout)
        .take(MAX_LINE)
        .read_until(b'\n', &mut answer)
        .await
        .map_err(|_| Answer::Died)?;
    if n == 0 {
        return Err(Answer::Died);
    }
    if answer.last() != Some(&b'\n') {
        return Err(Answer::Garbage);
    }
    let text = answer.trim_ascii();
    if text.starts_with(b"ERR") {
        return Err(Answer::Refused);
    }
    let mut dask = Zeroizing::new([0u8; 16]);
    if text.len() != 32 || hex::decode_to_slice(text, dask.as_mut()).is_err() {
        return Err(Answer::Garbage);
    }
    Ok(dask)
}

//! VPN / Tor address lists: plain-text files of CIDR blocks (one per line,
//! `#` comments), configured by path. Each file is re-read when its
//! modification time changes, checked at most once a second.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use crate::net::Cidr;

struct ListFile {
    path: PathBuf,
    mtime: Option<SystemTime>,
    blocks: Vec<Cidr>,
}

struct Lists {
    files: Vec<ListFile>,
    checked: Option<Instant>,
}

/// The configured lists.
pub struct VpnLists {
    inner: Mutex<Lists>,
}

impl VpnLists {
    /// Lists at these paths (read on first use).
    pub fn new(paths: &[PathBuf]) -> Self {
        Self {
            inner: Mutex::new(Lists {
                files: paths
                    .iter()
                    .map(|p| ListFile {
                        path: p.clone(),
                        mtime: None,
                        blocks: Vec::new(),
                    })
                    .collect(),
                checked: None,
            }),
        }
    }

    /// Whether any list is configured.
    pub fn configured(&self) -> bool {
        !self
            .inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .files
            .is_empty()
    }

    /// Whether `ip` is listed. `Err` = a list cannot be read.
    pub fn contains(&self, ip: IpAddr) -> Result<bool, String> {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let due = g
            .checked
            .is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(1));
        if due {
            for f in &mut g.files {
                let mtime = std::fs::metadata(&f.path)
                    .and_then(|m| m.modified())
                    .map_err(|e| format!("{}: {e}", f.path.display()))?;
                if f.mtime != Some(mtime) {
                    let text = std::fs::read_to_string(&f.path)
                        .map_err(|e| format!("{}: {e}", f.path.display()))?;
                    f.blocks = text
                        .lines()
                        .map(|l| l.split('#').next().unwrap_or("").trim())
                        .filter(|l| !l.is_empty())
                        .filter_map(|l| l.parse::<Cidr>().ok())
                        .collect();
                    f.mtime = Some(mtime);
                }
            }
            g.checked = Some(Instant::now());
        }
        Ok(g.files
            .iter()
            .any(|f| f.blocks.iter().any(|c| c.contains(ip))))
    }

    /// Forces the next lookup to re-check the files (tests).
    pub fn recheck(&self) {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).checked = None;
    }
}

//! Country and metro code of an address from a MaxMind-format `.mmdb` file
//! (GeoIP2/GeoLite2 City or Country layout: `country.iso_code`,
//! `location.metro_code`). The file is re-read when its modification time
//! changes, so a weekly database update needs no restart.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use keyward_token::studio::country;
use serde::Deserialize;

/// What a lookup found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GeoAnswer {
    /// ISO 3166-1 alpha-3.
    pub country: Option<&'static str>,
    /// Metro (DMA) code.
    pub metro_code: Option<u32>,
}

#[derive(Deserialize, Default)]
struct Record {
    #[serde(default)]
    country: Option<CountryRec>,
    #[serde(default)]
    location: Option<LocationRec>,
}

#[derive(Deserialize, Default)]
struct CountryRec {
    #[serde(default)]
    iso_code: Option<String>,
}

#[derive(Deserialize, Default)]
struct LocationRec {
    /// GeoIP2 stores metro codes as uint16 (the decoder is strict about it).
    #[serde(default)]
    metro_code: Option<u16>,
}

type Loaded = (Option<SystemTime>, Arc<maxminddb::Reader<Vec<u8>>>);

/// The configured database, loaded on first use and reloaded on change.
pub struct GeoDb {
    path: PathBuf,
    loaded: Mutex<Option<Loaded>>,
}

impl GeoDb {
    /// A database at `path` (not read yet).
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            loaded: Mutex::new(None),
        }
    }

    fn reader(&self) -> Result<Arc<maxminddb::Reader<Vec<u8>>>, String> {
        let mtime = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        let mut g = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((t, r)) = g.as_ref() {
            if *t == mtime {
                return Ok(r.clone());
            }
        }
        let r = maxminddb::Reader::open_readfile(&self.path)
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        let r = Arc::new(r);
        *g = Some((mtime, r.clone()));
        Ok(r)
    }

    /// Looks an address up. `Err` = the database cannot be read.
    pub fn lookup(&self, ip: IpAddr) -> Result<GeoAnswer, String> {
        let reader = self.reader()?;
        let rec: Option<Record> = reader
            .lookup(ip)
            .and_then(|r| r.decode::<Record>())
            .map_err(|e| e.to_string())?;
        let rec = rec.unwrap_or_default();
        Ok(GeoAnswer {
            country: rec
                .country
                .and_then(|c| c.iso_code)
                .and_then(|c| country::alpha3_of(&c)),
            metro_code: rec.location.and_then(|l| l.metro_code).map(u32::from),
        })
    }
}

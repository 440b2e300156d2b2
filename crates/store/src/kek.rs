//! The key-encryption key (KEK) and the AES-256-GCM wrapping of values at rest.
//!
//! Every secret the store persists (content keys, site keys, access keys, client
//! token secrets, FairPlay private keys and ASks, licence upstream secrets) is wrapped as
//! `0x01 || nonce (12 bytes, random) || ciphertext || tag (16 bytes)` under the KEK, with
//! associated data naming the row the value belongs to (for a content key
//! `keyward/v1/key|{site_id}|{kid_hex}`). A wrapped value copied into another row
//! therefore fails authentication instead of silently handing out the wrong key. The
//! leading version byte leaves room for another scheme later.

use std::fmt;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use rand::rngs::SysRng;
use rand::TryRng as _;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Result, StoreError};

/// Name of the KEK file inside the data directory.
pub const KEK_FILE_NAME: &str = "kek";

const WRAP_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Fills a fixed-size array from the operating system's RNG.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut out = [0u8; N];
    SysRng
        .try_fill_bytes(&mut out)
        .map_err(|_| StoreError::Rng)?;
    Ok(out)
}

/// A 32-byte AES-256 key-encryption key. `Debug` prints `***`; zeroized on drop.
///
/// Losing it makes every stored content key and site secret unrecoverable; leaking it
/// (together with the database) exposes them all.
#[derive(Clone)]
pub struct Kek {
    key: Box<[u8; 32]>,
}

impl Kek {
    /// Length of a KEK in bytes.
    pub const LEN: usize = 32;

    /// A KEK from exactly 32 raw bytes (`invalid_kek` otherwise).
    pub fn from_bytes(bytes: &[u8]) -> Result<Kek> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| StoreError::InvalidKek("must be exactly 32 bytes"))?;
        let kek = Kek { key: Box::new(arr) };
        let mut arr = arr;
        arr.zeroize();
        Ok(kek)
    }

    /// A KEK from text as found in `KEYWARD_KEK` or a `KEYWARD_KEK_FILE`: 64 hex digits,
    /// or base64 (standard or URL-safe, padded or not) of 32 bytes. Surrounding
    /// whitespace is ignored.
    pub fn from_hex_or_base64(text: &str) -> Result<Kek> {
        let text = text.trim();
        if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            let bytes = Zeroizing::new(
                hex::decode(text).map_err(|_| StoreError::InvalidKek("bad hex encoding"))?,
            );
            return Kek::from_bytes(&bytes);
        }
        let engines = [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::STANDARD_NO_PAD,
            &base64::engine::general_purpose::URL_SAFE,
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        for engine in engines {
            if let Ok(bytes) = engine.decode(text) {
                let bytes = Zeroizing::new(bytes);
                if bytes.len() != Self::LEN {
                    break;
                }
                return Kek::from_bytes(&bytes);
            }
        }
        Err(StoreError::InvalidKek(
            "a KEK is 32 bytes, written as 64 hex digits or as base64 (make one with `openssl rand -hex 32`)",
        ))
    }

    /// A fresh random KEK from the operating system's RNG.
    pub fn generate() -> Result<Kek> {
        let mut bytes = random_bytes::<32>()?;
        let kek = Kek::from_bytes(&bytes);
        bytes.zeroize();
        kek
    }

    /// Reads `data_dir/kek`, or creates it with a fresh random KEK (hex, mode 0600 on
    /// unix, the directory 0700 if it is created) when it does not exist. Returns the
    /// KEK and whether it was generated now, so the caller can tell the operator to back
    /// it up.
    pub fn load_or_generate(data_dir: &Path) -> Result<(Kek, bool)> {
        create_private_dir(data_dir)?;
        let path = data_dir.join(KEK_FILE_NAME);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let text = Zeroizing::new(text);
                return Ok((Kek::from_hex_or_base64(&text)?, false));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io("reading the kek file", e)),
        }
        let kek = Kek::generate()?;
        let mut text = Zeroizing::new(hex::encode(&kek.key[..]));
        text.push('\n');
        match write_new_private_file(&path, text.as_bytes()) {
            Ok(()) => Ok((kek, true)),
            // Another process created it between our read and our write: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = Zeroizing::new(
                    std::fs::read_to_string(&path)
                        .map_err(|e| StoreError::io("reading the kek file", e))?,
                );
                Ok((Kek::from_hex_or_base64(&text)?, false))
            }
            Err(e) => Err(StoreError::io("writing the kek file", e)),
        }
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&self.key[..]))
    }

    /// Wraps `plaintext` for the row described by `context`.
    pub(crate) fn wrap(&self, context: &WrapContext<'_>, plaintext: &[u8]) -> Result<Vec<u8>> {
        let nonce = random_bytes::<NONCE_LEN>()?;
        let aad = context.aad();
        let sealed = self
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| StoreError::backend("aes-gcm encryption failed"))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(WRAP_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Unwraps a value produced by [`Kek::wrap`] for the same `context`. Fails with
    /// `unwrap_failed` if the value was altered, wrapped under another KEK, or belongs to
    /// another row.
    pub(crate) fn unwrap(
        &self,
        context: &WrapContext<'_>,
        wrapped: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        let failed = || StoreError::UnwrapFailed(context.what());
        if wrapped.len() < 1 + NONCE_LEN + TAG_LEN || wrapped[0] != WRAP_VERSION {
            return Err(failed());
        }
        let (nonce, sealed) = wrapped[1..].split_at(NONCE_LEN);
        let aad = context.aad();
        self.cipher()
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| failed())
    }
}

impl Drop for Kek {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl ZeroizeOnDrop for Kek {}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Kek(***)")
    }
}

/// Which row a wrapped value belongs to; becomes the AES-GCM associated data.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WrapContext<'a> {
    /// The constant stored to detect a wrong KEK at open time.
    KekCheck,
    /// A content key, bound to its site and kid.
    ContentKey {
        /// Site id.
        site_id: &'a str,
        /// The key's kid.
        kid: &'a [u8; 16],
    },
    /// A site's `site_key`.
    SiteKey {
        /// Site id.
        site_id: &'a str,
    },
    /// A site's `access_key`.
    AccessKey {
        /// Site id.
        site_id: &'a str,
    },
    /// A FairPlay credential's private key, bound to its site and cert hash.
    FpsKey {
        /// Site id.
        site_id: &'a str,
        /// SHA-1 of the credential's certificate.
        cert_hash: &'a [u8; 20],
    },
    /// A FairPlay credential's Application Secret key, bound to its site and
    /// cert hash.
    FpsAsk {
        /// Site id.
        site_id: &'a str,
        /// SHA-1 of the credential's certificate.
        cert_hash: &'a [u8; 20],
    },
    /// A licence upstream's secrets (the whole map, as JSON), bound to its
    /// site and its name (unique within the site).
    UpstreamSecrets {
        /// Site id.
        site_id: &'a str,
        /// The upstream's name.
        name: &'a str,
    },
    /// A packager credential's secret, bound to its name, site and kind.
    PackagerSecret {
        /// Credential name (unique across sites).
        name: &'a str,
        /// Owning site.
        site_id: &'a str,
        /// Kind wire name.
        kind: &'a str,
    },
    /// A site's PlayReady key seed.
    KeySeed {
        /// Site id.
        site_id: &'a str,
    },
    /// A Studio client's token secret.
    ClientSecret {
        /// Client name.
        client: &'a str,
        /// Sequence number of the secret.
        seq: i64,
    },
}

impl WrapContext<'_> {
    fn aad(&self) -> Vec<u8> {
        match self {
            WrapContext::KekCheck => b"keyward/v1/kek-check".to_vec(),
            WrapContext::ContentKey { site_id, kid } => {
                format!("keyward/v1/key|{site_id}|{}", hex::encode(kid)).into_bytes()
            }
            WrapContext::SiteKey { site_id } => {
                format!("keyward/v1/site_key|{site_id}").into_bytes()
            }
            WrapContext::AccessKey { site_id } => {
                format!("keyward/v1/access_key|{site_id}").into_bytes()
            }
            WrapContext::FpsKey { site_id, cert_hash } => {
                format!("keyward/v1/fps_key|{site_id}|{}", hex::encode(cert_hash)).into_bytes()
            }
            WrapContext::FpsAsk { site_id, cert_hash } => {
                format!("keyward/v1/fps_ask|{site_id}|{}", hex::encode(cert_hash)).into_bytes()
            }
            WrapContext::UpstreamSecrets { site_id, name } => {
                format!("keyward/v1/upstream_secrets|{site_id}|{name}").into_bytes()
            }
            WrapContext::PackagerSecret {
                name,
                site_id,
                kind,
            } => format!("keyward/v1/packager|{name}|{site_id}|{kind}").into_bytes(),
            WrapContext::KeySeed { site_id } => {
                format!("keyward/v1/key_seed|{site_id}").into_bytes()
            }
            WrapContext::ClientSecret { client, seq } => {
                format!("keyward/v1/client_secret|{client}|{seq}").into_bytes()
            }
        }
    }

    fn what(&self) -> &'static str {
        match self {
            WrapContext::KekCheck => "kek check value",
            WrapContext::ContentKey { .. } => "content key",
            WrapContext::SiteKey { .. } => "site key",
            WrapContext::AccessKey { .. } => "access key",
            WrapContext::FpsKey { .. } => "FairPlay private key",
            WrapContext::FpsAsk { .. } => "FairPlay ASk",
            WrapContext::UpstreamSecrets { .. } => "upstream secrets",
            WrapContext::PackagerSecret { .. } => "packager secret",
            WrapContext::KeySeed { .. } => "key seed",
            WrapContext::ClientSecret { .. } => "client token secret",
        }
    }
}

/// Creates `dir` (and parents); a directory created here is private (0700 on
/// unix). One that exists already is left as it is (the operator's choice).
pub fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| StoreError::io("creating the data directory", e))
}

/// Writes `contents` to a new file at `path` that only its owner can read
/// (0600 on unix), so that after a crash the file is either complete or
/// absent, never half written: the bytes go to a temporary file beside it,
/// which is flushed to disk, then linked to `path` (failing with
/// `AlreadyExists` if `path` exists, so that two processes racing to create
/// it both end up using the first one's), and the directory is flushed so
/// that the new name survives a crash too.
pub fn write_new_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path has no file name",
        )
    })?;
    let nonce = random_bytes::<8>().map_err(std::io::Error::other)?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", hex::encode(nonce)));
    let tmp = dir.join(tmp_name);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let placed = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        drop(file);
        match std::fs::hard_link(&tmp, path) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists && !path.exists() => {
                // A file system without hard links: a rename is as atomic,
                // only not exclusive (the check above narrows the race).
                std::fs::rename(&tmp, path)
            }
            linked => linked,
        }
    })();
    // Gone already after a rename; a leftover must not keep a secret around.
    let _ = std::fs::remove_file(&tmp);
    placed?;
    sync_dir(dir)
}

/// Flushes a directory's entries to disk (unix; elsewhere nothing to do).
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn parses_hex_and_base64() {
        let a = Kek::from_hex_or_base64(HEX).unwrap();
        let raw: Vec<u8> = (0u8..32).collect();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&raw);
        let b = Kek::from_hex_or_base64(&format!("  {b64}\n")).unwrap();
        let c =
            Kek::from_hex_or_base64(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw))
                .unwrap();
        assert_eq!(a.key, b.key);
        assert_eq!(a.key, c.key);
        assert_eq!(&a.key[..], &raw[..]);
    }

    #[test]
    fn refuses_wrong_lengths_and_garbage() {
        for bad in ["", "00", &HEX[..62], "not base64 at all!", &"a".repeat(66)] {
            let err = Kek::from_hex_or_base64(bad).unwrap_err();
            assert_eq!(err.code(), "invalid_kek", "{bad:?}");
        }
        assert_eq!(Kek::from_bytes(&[0; 31]).unwrap_err().code(), "invalid_kek");
        assert_eq!(Kek::from_bytes(&[0; 33]).unwrap_err().code(), "invalid_kek");
    }

    #[test]
    fn debug_is_masked() {
        let kek = Kek::from_hex_or_base64(HEX).unwrap();
        let shown = format!("{kek:?}");
        assert_eq!(shown, "Kek(***)");
    }

    #[test]
    fn wrap_roundtrip_and_binding() {
        let kek = Kek::generate().unwrap();
        let kid = [7u8; 16];
        let ctx = WrapContext::ContentKey {
            site_id: "TUTO",
            kid: &kid,
        };
        let wrapped = kek.wrap(&ctx, b"0123456789abcdef").unwrap();
        assert_eq!(wrapped.len(), 1 + 12 + 16 + 16);
        assert_eq!(
            &kek.unwrap(&ctx, &wrapped).unwrap()[..],
            b"0123456789abcdef"
        );
        // Two wraps of the same value differ (random nonce).
        assert_ne!(wrapped, kek.wrap(&ctx, b"0123456789abcdef").unwrap());

        let other_kid = [8u8; 16];
        let moved = WrapContext::ContentKey {
            site_id: "TUTO",
            kid: &other_kid,
        };
        assert_eq!(
            kek.unwrap(&moved, &wrapped).unwrap_err().code(),
            "unwrap_failed"
        );
        let other_site = WrapContext::ContentKey {
            site_id: "ABCD",
            kid: &kid,
        };
        assert!(kek.unwrap(&other_site, &wrapped).is_err());
        let other_kek = Kek::generate().unwrap();
        assert!(other_kek.unwrap(&ctx, &wrapped).is_err());
        let mut tampered = wrapped.clone();
        tampered[20] ^= 1;
        assert!(kek.unwrap(&ctx, &tampered).is_err());
        assert!(kek.unwrap(&ctx, &wrapped[..20]).is_err());
    }

    #[test]
    fn upstream_secrets_are_bound_to_site_and_name() {
        let ctx = WrapContext::UpstreamSecrets {
            site_id: "TUTO",
            name: "primary",
        };
        assert_eq!(ctx.aad(), b"keyward/v1/upstream_secrets|TUTO|primary");
        let kek = Kek::generate().unwrap();
        let wrapped = kek.wrap(&ctx, b"{}").unwrap();
        let moved = WrapContext::UpstreamSecrets {
            site_id: "TUTO",
            name: "backup",
        };
        let e = kek.unwrap(&moved, &wrapped).unwrap_err();
        assert_eq!(
            e.to_string(),
            "stored upstream secrets failed to unwrap (altered, or moved from another row)"
        );
    }

    #[test]
    fn load_or_generate_creates_then_reads() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("a/b");
        let (first, generated) = Kek::load_or_generate(&data).unwrap();
        assert!(generated);
        let (second, generated) = Kek::load_or_generate(&data).unwrap();
        assert!(!generated);
        assert_eq!(first.key, second.key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(data.join(KEK_FILE_NAME))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn new_private_files_are_whole_exclusive_and_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        write_new_private_file(&path, b"first").unwrap();
        let again = write_new_private_file(&path, b"second").unwrap_err();
        assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("secret")],
            "no temp file left"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn load_or_generate_refuses_a_corrupt_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(KEK_FILE_NAME), "short").unwrap();
        let err = Kek::load_or_generate(dir.path()).unwrap_err();
        assert_eq!(err.code(), "invalid_kek");
    }
}

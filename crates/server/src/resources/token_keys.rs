//! The ExpressPlay token sealing keys: the configured key (`token_key`,
//! `KEYWARD_TOKEN_KEY`), else `<data dir>/token.key` (generated on first use,
//! mode 0600); then the configured previous keys (`token_keys_previous`), so
//! tokens sealed before a rotation stay redeemable.

use std::path::Path;

use keyward_token::expressplay::TokenKey;
use rand::RngCore as _;

/// The token sealing keys: the current one first, then previous ones.
#[derive(Debug)]
pub struct TokenKeys {
    keys: Vec<TokenKey>,
}

impl TokenKeys {
    /// Keys from explicit values (tests, tools).
    pub fn new(current: TokenKey, previous: Vec<TokenKey>) -> Self {
        let mut keys = vec![current];
        keys.extend(previous);
        Self { keys }
    }

    /// The sealing key.
    pub fn current(&self) -> &TokenKey {
        &self.keys[0]
    }

    /// Every key that may open a token.
    pub fn all(&self) -> &[TokenKey] {
        &self.keys
    }
}

fn generate_key_file(path: &Path) -> Result<(TokenKey, bool), String> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            return TokenKey::from_hex(&text)
                .map(|k| (k, false))
                .ok_or_else(|| format!("{} is not 64 hex digits", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    }
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let text = format!("{}\n", hex::encode(raw));
    // Whole or absent after a crash, 0600, never replacing another's key.
    match keyward_store::write_new_private_file(path, text.as_bytes()) {
        Ok(()) => Ok((TokenKey::new(raw), true)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => generate_key_file(path),
        Err(e) => Err(format!("cannot create {}: {e}", path.display())),
    }
}

/// The sealing key file in the data directory.
pub const TOKEN_KEY_FILE: &str = "token.key";

/// Loads the sealing keys: the configured key, else the data directory's
/// (generated on first use); then the configured previous keys.
pub fn load_keys(
    data_dir: &Path,
    current: Option<&str>,
    previous: Option<&str>,
) -> Result<TokenKeys, String> {
    let current = match current.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => TokenKey::from_hex(t).ok_or("KEYWARD_TOKEN_KEY must be 64 hex digits")?,
        None => {
            keyward_store::create_private_dir(data_dir)
                .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
            let (k, generated) = generate_key_file(&data_dir.join(TOKEN_KEY_FILE))?;
            if generated {
                tracing::warn!(
                    path = %data_dir.join(TOKEN_KEY_FILE).display(),
                    "no KEYWARD_TOKEN_KEY given: generated the ExpressPlay token sealing key into the data directory (mode 0600); every server redeeming these tokens needs the same key"
                );
            }
            k
        }
    };
    let mut earlier = Vec::new();
    if let Some(list) = previous {
        for part in list.split(',').filter(|p| !p.trim().is_empty()) {
            earlier.push(
                TokenKey::from_hex(part).ok_or(
                    "KEYWARD_TOKEN_KEY_PREVIOUS must be comma-separated 64-hex-digit keys",
                )?,
            );
        }
    }
    Ok(TokenKeys::new(current, earlier))
}

// Minting
// ---------------------------------------------------------------------------

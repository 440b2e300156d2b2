//! Fuzz target: keyward_drm::pssh::PsshBox::parse_all must never panic; every error carries a code.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(boxes) = keyward_drm::pssh::PsshBox::parse_all(data) {
        for b in boxes {
            // Re-serializing a parsed box must not panic either.
            let _ = b.to_bytes();
        }
    }
});

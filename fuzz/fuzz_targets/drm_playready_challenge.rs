//! Fuzz target: keyward_drm::playready::PlayReadyChallenge::parse must never panic; every error carries a code.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = keyward_drm::playready::PlayReadyChallenge::parse(data) {
        assert!(matches!(e.code(), 7204 | 7205));
    }
});

//! Fuzz target: keyward_drm::widevine::WidevineChallenge::parse must never panic; every error carries a code.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = keyward_drm::widevine::WidevineChallenge::parse(data) {
        assert_eq!(e.code(), 7107);
    }
});

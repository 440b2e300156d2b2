//! Fuzz target: keyward_drm::clearkey::ClearKeyMessage::parse must never panic; every error carries a code.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = keyward_drm::clearkey::ClearKeyMessage::parse(data) {
        assert!((7401..=7409).contains(&e.code()));
    }
});

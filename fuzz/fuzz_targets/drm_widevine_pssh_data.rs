//! Fuzz target: keyward_drm::pssh::WidevinePsshData::decode must never panic; every error carries a code.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = keyward_drm::pssh::WidevinePsshData::decode(data) {
        let _ = d.encode();
    }
});

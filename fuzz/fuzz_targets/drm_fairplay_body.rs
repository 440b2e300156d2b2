//! Fuzz target: keyward_drm::fairplay::spc_from_body and Spc::parse must never panic; every error carries a code.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(spc) = keyward_drm::fairplay::spc_from_body(data) {
        let _ = keyward_drm::fairplay::Spc::parse(&spc);
    }
});

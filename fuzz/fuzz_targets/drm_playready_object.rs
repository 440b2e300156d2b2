//! Fuzz target: keyward_drm::playready::PlayReadyObject::parse and WRMHEADER reading must never panic; every error carries a code.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(pro) = keyward_drm::playready::PlayReadyObject::parse(data) {
        if let Ok(Some(xml)) = pro.wrm_header_xml() {
            let _ = keyward_drm::playready::WrmHeaderInfo::parse(&xml);
        }
    }
});

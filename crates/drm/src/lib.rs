//! keyward-drm

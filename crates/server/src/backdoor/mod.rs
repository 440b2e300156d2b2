//! Back doors: an [`Entitlement`](crate::entitlement::Entitlement) plus a DRM
//! challenge → a licence (ClearKey, HLS AES-128 here) or a coded refusal for DRMs
//! that need a licensed upstream.

pub mod brokered;
pub mod clearkey;
pub mod hls;

use axum::http::StatusCode;
use keyward_store::ContentKeyRecord;
use keyward_token::{Timestamp, TrackType};

use crate::entitlement::Entitlement;
use crate::error::{codes, ApiError};

/// The track type of a stored key (one shared type: no conversion left).
pub fn track_of(rec: &ContentKeyRecord) -> TrackType {
    rec.track_type
}

/// Refuses when the policy's absolute expiry has passed.
pub fn check_expiry(ent: &Entitlement) -> Result<(), ApiError> {
    if let Some(exp) = ent.expire_at {
        if Timestamp::now() > exp {
            return Err(ApiError::new(
                codes::LICENSE_EXPIRED,
                StatusCode::FORBIDDEN,
                format!("The policy's expire_date {exp} has passed"),
            ));
        }
    }
    Ok(())
}

/// Refuses a key whose track type the policy does not release.
pub fn check_track(ent: &Entitlement, t: TrackType) -> Result<(), ApiError> {
    if ent.allowed_track_types.permits(t) {
        Ok(())
    } else {
        Err(ApiError::new(
            codes::TRACK_NOT_ALLOWED,
            StatusCode::FORBIDDEN,
            format!(
                "allowed_track_types {} does not release {t} keys",
                ent.allowed_track_types
            ),
        ))
    }
}

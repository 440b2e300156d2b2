//! Typed [`Policy`] → compact JSON in the documented member order.

use super::*;
use crate::json::ObjectWriter;

pub(super) fn policy(out: &mut String, p: &Policy) {
    let mut o = ObjectWriter::new(out);
    o.int("policy_version", 2);
    if let Some(pb) = &p.playback {
        playback(o.raw("playback_policy"), pb);
    }
    if let Some(list) = &p.security {
        let out = o.raw("security_policy");
        out.push('[');
        for (i, s) in list.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            security(out, s);
        }
        out.push(']');
    }
    if let Some(e) = &p.external_key {
        external(o.raw("external_key"), e);
    }
    o.end();
}

fn playback(out: &mut String, p: &PlaybackPolicy) {
    let mut o = ObjectWriter::new(out);
    o.opt_bool("persistent", p.persistent);
    o.opt_int("license_duration", p.license_duration.map(clamp));
    if let Some(t) = p.expire_date {
        let mut s = String::with_capacity(20);
        t.write_to(&mut s);
        o.plain("expire_date", &s);
    }
    o.opt_plain(
        "allowed_track_types",
        p.allowed_track_types.map(AllowedTrackTypes::as_str),
    );
    o.opt_int("rental_duration", p.rental_duration.map(clamp));
    o.opt_int("playback_duration", p.playback_duration.map(clamp));
    o.opt_int("max_stream_per_user", p.max_stream_per_user.map(i64::from));
    o.opt_int("renewal_duration", p.renewal_duration.map(clamp));
    o.end();
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn security(out: &mut String, s: &SecurityPolicy) {
    let mut o = ObjectWriter::new(out);
    o.opt_plain("track_type", s.track_type.map(TrackType::as_str));
    if let Some(w) = &s.widevine {
        let mut o = ObjectWriter::new(o.raw("widevine"));
        o.opt_int(
            "security_level",
            w.security_level.map(WidevineSecurityLevel::as_i64),
        );
        o.opt_plain(
            "required_hdcp_version",
            w.required_hdcp_version.map(HdcpVersion::as_str),
        );
        o.opt_plain(
            "required_cgms_flags",
            w.required_cgms_flags.map(CgmsFlags::as_str),
        );
        o.opt_bool("disable_analog_output", w.disable_analog_output);
        o.opt_plain("hdcp_srm_rule", w.hdcp_srm_rule.map(HdcpSrmRule::as_str));
        o.opt_bool("override_device_revocation", w.override_device_revocation);
        o.opt_bool("enable_license_cipher", w.enable_license_cipher);
        o.opt_bool("allow_test_device", w.allow_test_device);
        o.end();
    }
    if let Some(p) = &s.playready {
        let mut o = ObjectWriter::new(o.raw("playready"));
        o.opt_int(
            "security_level",
            p.security_level.map(PlayReadySecurityLevel::as_i64),
        );
        o.opt_int(
            "digital_video_protection_level",
            p.digital_video_protection_level
                .map(DigitalVideoProtection::as_i64),
        );
        o.opt_int(
            "analog_video_protection_level",
            p.analog_video_protection_level
                .map(AnalogVideoProtection::as_i64),
        );
        o.opt_int(
            "digital_audio_protection_level",
            p.digital_audio_protection_level
                .map(DigitalAudioProtection::as_i64),
        );
        o.opt_bool("require_hdcp_type_1", p.require_hdcp_type_1);
        o.opt_bool("enable_license_cipher", p.enable_license_cipher);
        o.end();
    }
    if let Some(f) = &s.fairplay {
        let mut o = ObjectWriter::new(o.raw("fairplay"));
        o.opt_int(
            "hdcp_enforcement",
            f.hdcp_enforcement.map(FairPlayHdcp::as_i64),
        );
        o.opt_bool("allow_airplay", f.allow_airplay);
        o.opt_bool("allow_av_adapter", f.allow_av_adapter);
        o.end();
    }
    if let Some(n) = &s.ncg {
        let mut o = ObjectWriter::new(o.raw("ncg"));
        o.opt_bool(
            "allow_mobile_abnormal_device",
            n.allow_mobile_abnormal_device,
        );
        o.opt_bool("allow_external_display", n.allow_external_display);
        o.opt_int("control_hdcp", n.control_hdcp.map(NcgControlHdcp::as_i64));
        o.end();
    }
    if let Some(w) = &s.wiseplay {
        let mut o = ObjectWriter::new(o.raw("wiseplay"));
        o.opt_int(
            "security_level",
            w.security_level.map(WiseplaySecurityLevel::as_i64),
        );
        o.opt_int(
            "output_control",
            w.output_control.map(WiseplayOutputControl::as_i64),
        );
        o.end();
    }
    o.end();
}

fn hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out.push('"');
}

fn external(out: &mut String, e: &ExternalKey) {
    let mut o = ObjectWriter::new(out);
    if let Some(list) = &e.mpeg_cenc {
        let out = o.raw("mpeg_cenc");
        out.push('[');
        for (i, k) in list.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let mut o = ObjectWriter::new(out);
            o.plain("track_type", k.track_type.as_str());
            hex(o.raw("key_id"), k.key_id.as_bytes());
            hex(o.raw("key"), k.key.expose());
            if let Some(iv) = &k.iv {
                hex(o.raw("iv"), &iv.0);
            }
            o.end();
        }
        out.push(']');
    }
    if let Some(list) = &e.hls_aes {
        let out = o.raw("hls_aes");
        out.push('[');
        for (i, k) in list.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let mut o = ObjectWriter::new(out);
            o.plain("track_type", k.track_type.as_str());
            if let Some(kid) = &k.key_id {
                hex(o.raw("key_id"), kid.as_bytes());
            }
            hex(o.raw("key"), k.key.expose());
            hex(o.raw("iv"), &k.iv.0);
            o.end();
        }
        out.push(']');
    }
    if let Some(n) = &e.ncg {
        let mut o = ObjectWriter::new(o.raw("ncg"));
        o.opt_plain("track_type", n.track_type.map(TrackType::as_str));
        hex(o.raw("cek"), &n.cek.0);
        o.end();
    }
    o.end();
}

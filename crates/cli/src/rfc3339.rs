//! RFC 3339 date-times for `--timestamp` and `--now` (any offset, optional
//! fraction), converted to whole UTC seconds.

use keyward_token::Timestamp;

/// Parses `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)`.
pub fn parse(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if s.len() < 20 || !s.is_char_boundary(19) {
        return None;
    }
    let (head, mut rest) = s.split_at(19);
    let base = Timestamp::parse(&format!("{}Z", head.replacen('t', "T", 1))).ok()?;
    if let Some(r) = rest.strip_prefix('.') {
        let digits = r.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &r[digits..];
    }
    let offset: i64 = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) && &o[3..4] == ":" => {
            let h: i64 = o[1..3].parse().ok()?;
            let m: i64 = o[4..6].parse().ok()?;
            if h > 23 || m > 59 {
                return None;
            }
            let v = h * 3600 + m * 60;
            if o.starts_with('-') {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    Timestamp::from_unix(base.unix() - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let z = parse("2021-11-11T07:28:41Z").unwrap();
        assert_eq!(parse("2021-11-11T16:28:41+09:00"), Some(z));
        assert_eq!(parse("2021-11-11T07:28:41.999Z"), Some(z));
        assert_eq!(parse("2021-11-11T02:28:41-05:00"), Some(z));
        for bad in [
            "2021-11-11 07:28:41",
            "2021-11-11T07:28:41",
            "2021-13-11T07:28:41Z",
            "2021-11-11T07:28:41+9:00",
            "x",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}

//! UTC timestamps in the vendor's one accepted shape, `yyyy-mm-ddThh:mm:ssZ`.
//!
//! Tokens are hashed over the timestamp *string*, so keyward parses exactly the
//! documented 20-character form (no fractions, no offsets) and formats it back
//! byte for byte. The calendar is checked for real (month lengths, leap years),
//! unlike the SDKs' loose regular expression that accepts month 19 or a comma.

use std::fmt;

use keyward_types::calendar::{civil_from_days, days_from_civil, days_in_month};

/// A point in time, whole seconds since the Unix epoch, UTC.
///
/// Range: years 0000 through 9999 (the only ones the text form can hold).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Timestamp(i64);

/// Why a timestamp string was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TimestampFormatError;

impl fmt::Display for TimestampFormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("expected a real UTC date-time in the form yyyy-mm-ddThh:mm:ssZ")
    }
}

impl std::error::Error for TimestampFormatError {}

const MIN_UNIX: i64 = -62_167_219_200; // 0000-01-01T00:00:00Z
const MAX_UNIX: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z

impl Timestamp {
    /// Builds a timestamp from Unix seconds; `None` outside years 0000–9999.
    pub fn from_unix(secs: i64) -> Option<Self> {
        (MIN_UNIX..=MAX_UNIX).contains(&secs).then_some(Self(secs))
    }

    /// The current system time (seconds precision).
    pub fn now() -> Self {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Self(secs.clamp(MIN_UNIX, MAX_UNIX))
    }

    /// Seconds since the Unix epoch.
    pub fn unix(self) -> i64 {
        self.0
    }

    /// Parses exactly `yyyy-mm-ddThh:mm:ssZ` with a real calendar check.
    pub fn parse(s: &str) -> Result<Self, TimestampFormatError> {
        let b = s.as_bytes();
        if b.len() != 20
            || b[4] != b'-'
            || b[7] != b'-'
            || b[10] != b'T'
            || b[13] != b':'
            || b[16] != b':'
            || b[19] != b'Z'
        {
            return Err(TimestampFormatError);
        }
        let num = |from: usize, to: usize| -> Result<i64, TimestampFormatError> {
            let mut v = 0i64;
            for &c in &b[from..to] {
                if !c.is_ascii_digit() {
                    return Err(TimestampFormatError);
                }
                v = v * 10 + i64::from(c - b'0');
            }
            Ok(v)
        };
        let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
        let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return Err(TimestampFormatError);
        }
        let days = days_from_civil(year, month, day);
        Ok(Self(days * 86_400 + hour * 3_600 + minute * 60 + second))
    }

    /// Writes the `yyyy-mm-ddThh:mm:ssZ` form into `out` (20 bytes).
    pub fn write_to(self, out: &mut String) {
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let mut buf = *b"0000-00-00T00:00:00Z";
        let mut put = |at: usize, width: usize, mut v: i64| {
            for i in (0..width).rev() {
                buf[at + i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, 4, y);
        put(5, 2, m);
        put(8, 2, d);
        put(11, 2, secs / 3_600);
        put(14, 2, (secs % 3_600) / 60);
        put(17, 2, secs % 60);
        // The buffer holds ASCII digits and separators only.
        out.extend(buf.iter().map(|&c| char::from(c)));
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(20);
        self.write_to(&mut s);
        f.write_str(&s)
    }
}

impl std::str::FromStr for Timestamp {
    type Err = TimestampFormatError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_exactly() {
        for s in [
            "2021-11-11T07:28:41Z",
            "2000-01-01T00:00:00Z",
            "2099-12-31T23:59:59Z",
            "2024-02-29T12:00:00Z",
            "1970-01-01T00:00:00Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
        ] {
            let t = Timestamp::parse(s).unwrap();
            assert_eq!(t.to_string(), s);
        }
        assert_eq!(
            Timestamp::parse("2021-11-11T07:28:41Z").unwrap().unix(),
            1_636_615_721
        );
        assert_eq!(Timestamp::parse("1970-01-01T00:00:00Z").unwrap().unix(), 0);
    }

    #[test]
    fn refuses_loose_forms() {
        for s in [
            "2024-,1-01T00:00:00Z",
            "2024-19-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-04-31T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:60:00Z",
            "2024-01-01T00:00:60Z",
            "2024-01-01 00:00:00",
            "2024-01-01T00:00:00.000Z",
            "2024-01-01T00:00:00+00:00",
            "2024-01-01t00:00:00z",
            "+024-01-01T00:00:00Z",
            "",
            "２０２４-01-01T00:00:00Z",
        ] {
            assert_eq!(Timestamp::parse(s), Err(TimestampFormatError), "{s}");
        }
    }

    #[test]
    fn from_unix_bounds() {
        assert!(Timestamp::from_unix(MAX_UNIX).is_some());
        assert!(Timestamp::from_unix(MAX_UNIX + 1).is_none());
        assert!(Timestamp::from_unix(MIN_UNIX - 1).is_none());
    }
}

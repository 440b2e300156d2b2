//! A tiny protobuf wire-format reader and writer.
//!
//! Why hand-written instead of `prost`: we read three or four fields out of messages whose
//! full schemas are large and partly unpublished, and we must never panic or allocate
//! without bound on hostile input. A reader that yields `(field, value)` pairs over a
//! borrowed slice, refuses groups (deprecated, and the only recursive wire type) and
//! bounds every length against what is left, is small enough to audit. Nesting depth is
//! bounded by the callers: each decodes a fixed, statically known chain of messages.

/// One field value on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireValue<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1.
    Fixed64,
    /// Wire type 2: the payload bytes.
    Bytes(&'a [u8]),
    /// Wire type 5.
    Fixed32,
}

/// Why the bytes are not protobuf; static text only.
pub(crate) type ProtoError = &'static str;

/// Iterates the fields of one message.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, ProtoError> {
        let mut value: u64 = 0;
        for i in 0..10u32 {
            let byte = *self.buf.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            let bits = u64::from(byte & 0x7f);
            if i == 9 && byte > 1 {
                return Err("varint overflows 64 bits");
            }
            value |= bits << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("varint longer than 10 bytes")
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], ProtoError> {
        let end = self.pos.checked_add(len).ok_or("length overflows")?;
        let slice = self
            .buf
            .get(self.pos..end)
            .ok_or("field length runs past the end")?;
        self.pos = end;
        Ok(slice)
    }

    /// The next `(field number, value)`, `None` at the clean end of the message.
    pub(crate) fn next_field(&mut self) -> Result<Option<(u32, WireValue<'a>)>, ProtoError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let tag = self.varint()?;
        let field = u32::try_from(tag >> 3).map_err(|_| "field number too large")?;
        if field == 0 || field > 0x1fff_ffff {
            return Err("invalid field number");
        }
        let value = match tag & 7 {
            0 => WireValue::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                WireValue::Fixed64
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| "length too large")?;
                WireValue::Bytes(self.take(len)?)
            }
            5 => {
                self.take(4)?;
                WireValue::Fixed32
            }
            _ => return Err("unsupported wire type (groups are not accepted)"),
        };
        Ok(Some((field, value)))
    }
}

/// Appends a varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends a varint field.
pub(crate) fn put_varint_field(out: &mut Vec<u8>, field: u32, value: u64) {
    put_varint(out, u64::from(field) << 3);
    put_varint(out, value);
}

/// Appends a length-delimited field.
pub(crate) fn put_bytes_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_varint(out, (u64::from(field) << 3) | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_fields() {
        let mut buf = Vec::new();
        put_varint_field(&mut buf, 1, 300);
        put_bytes_field(&mut buf, 2, b"abc");
        put_varint_field(&mut buf, 7, u64::MAX);
        assert_eq!(&buf[..3], &[0x08, 0xac, 0x02]);
        let mut r = Reader::new(&buf);
        assert_eq!(r.next_field(), Ok(Some((1, WireValue::Varint(300)))));
        assert_eq!(r.next_field(), Ok(Some((2, WireValue::Bytes(b"abc")))));
        assert_eq!(r.next_field(), Ok(Some((7, WireValue::Varint(u64::MAX)))));
        assert_eq!(r.next_field(), Ok(None));
    }

    #[test]
    fn rejects_bad_wire_data() {
        let cases: &[&[u8]] = &[
            &[0x08],             // varint value missing
            &[0x12, 0x05, 1, 2], // length past end
            &[0x0b],             // start group
            &[0x00, 0x01],       // field 0
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
            ], // overflow
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
            &[0x09, 1, 2, 3], // fixed64 truncated
            &[
                0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ], // huge length
        ];
        for case in cases {
            let mut r = Reader::new(case);
            assert!(r.next_field().is_err(), "{case:02x?}");
        }
    }
}

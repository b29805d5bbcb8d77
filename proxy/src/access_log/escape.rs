//! Values as nginx writes them into a log line.

/// `value` with nginx's default log escaping: `"`, `\`, control bytes and
/// bytes past 126 as `\xXX`, so a header cannot break the line's fields.
pub fn push_escaped(out: &mut Vec<u8>, value: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in value {
        if b == b'"' || b == b'\\' || !(0x20..=0x7e).contains(&b) {
            out.extend_from_slice(&[b'\\', b'x', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
        } else {
            out.push(b);
        }
    }
}

/// `value`, escaped, or `-` when it is absent or empty (nginx's empty variable).
pub fn push_or_dash(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        Some(v) if !v.is_empty() => push_escaped(out, v),
        _ => out.push(b'-'),
    }
}

/// A duration as nginx's `$request_time`: seconds with milliseconds.
pub fn push_seconds(out: &mut Vec<u8>, d: std::time::Duration) {
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(buf.format(d.as_secs()).as_bytes());
    let millis = d.subsec_millis();
    out.extend_from_slice(&[
        b'.',
        b'0' + (millis / 100) as u8,
        b'0' + (millis / 10 % 10) as u8,
        b'0' + (millis % 10) as u8,
    ]);
}

/// An address (`10.0.0.1`, `10.0.0.1:80`), or `-` when there is none.
pub fn push_address(out: &mut Vec<u8>, address: Option<impl std::fmt::Display>) {
    match address {
        Some(a) => {
            let _ = std::io::Write::write_fmt(out, format_args!("{a}"));
        }
        None => out.push(b'-'),
    }
}

/// A number, without the formatting machinery.
pub fn push_number(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn quotes_backslashes_and_control_bytes_are_hex_escaped() {
        let mut out = Vec::new();
        push_escaped(&mut out, b"a\"b\\c\nd\xff e");
        assert_eq!(out, b"a\\x22b\\x5Cc\\x0Ad\\xFF e");
    }

    #[test]
    fn seconds_have_three_decimals() {
        for (d, text) in [(Duration::from_micros(1500), "0.001"), (Duration::from_millis(12_345), "12.345")] {
            let mut out = Vec::new();
            push_seconds(&mut out, d);
            assert_eq!(out, text.as_bytes());
        }
    }
}

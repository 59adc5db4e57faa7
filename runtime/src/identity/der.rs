//! Just enough DER to read a certificate's validity period (RFC 5280 §4.1):
//! `Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL,
//! serialNumber INTEGER, signature AlgorithmIdentifier, issuer Name,
//! validity SEQUENCE { notBefore Time, notAfter Time }, … }, … }` where `Time`
//! is `UTCTime` (`YYMMDDHHMMSSZ`, years 1950–2049) or `GeneralizedTime`
//! (`YYYYMMDDHHMMSSZ`). The reader is strict: definite lengths only, every
//! length checked against the bytes that remain. rustls verifies signatures
//! but, since peers are pinned rather than chained to a CA, nobody else would
//! check the dates.

/// A certificate's validity period, in Unix seconds (inclusive bounds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    /// First valid second.
    pub not_before: i64,
    /// Last valid second.
    pub not_after: i64,
}

impl Validity {
    /// Read the validity of a DER certificate.
    pub fn of_certificate(der: &[u8]) -> Result<Validity, String> {
        let (cert, rest) = element(der, 0x30, "certificate")?;
        if !rest.is_empty() {
            return Err(format!("{} bytes after the certificate", rest.len()));
        }
        let (tbs, _) = element(cert, 0x30, "tbsCertificate")?;
        let mut body = tbs;
        if body.first() == Some(&0xA0) {
            body = element(body, 0xA0, "version")?.1;
        }
        body = element(body, 0x02, "serialNumber")?.1;
        body = element(body, 0x30, "signature algorithm")?.1;
        body = element(body, 0x30, "issuer")?.1;
        let (validity, _) = element(body, 0x30, "validity")?;
        let (not_before, rest) = time(validity, "notBefore")?;
        let (not_after, rest) = time(rest, "notAfter")?;
        if !rest.is_empty() {
            return Err("trailing bytes in the validity".into());
        }
        Ok(Validity {
            not_before,
            not_after,
        })
    }

    /// `Ok` if `now` (Unix seconds) lies in the period, else why not.
    pub fn check(&self, now: i64) -> Result<(), String> {
        if now < self.not_before {
            Err(format!(
                "the certificate is not valid yet (valid from {})",
                format_utc(self.not_before)
            ))
        } else if now > self.not_after {
            Err(format!(
                "the certificate expired on {}; make a new one with `chimera keygen`",
                format_utc(self.not_after)
            ))
        } else {
            Ok(())
        }
    }
}

/// Split one DER element with the expected tag off `input`: (contents, rest).
fn element<'a>(input: &'a [u8], tag: u8, what: &str) -> Result<(&'a [u8], &'a [u8]), String> {
    let (&t, rest) = input
        .split_first()
        .ok_or_else(|| format!("{what} is missing"))?;
    if t != tag {
        return Err(format!("{what}: expected tag {tag:#04x}, found {t:#04x}"));
    }
    let (&first, mut rest) = rest
        .split_first()
        .ok_or_else(|| format!("{what}: missing length"))?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(format!("{what}: unsupported length encoding"));
        }
        let mut len = 0usize;
        for &b in &rest[..n] {
            len = (len << 8) | usize::from(b);
        }
        rest = &rest[n..];
        len
    };
    if len > rest.len() {
        return Err(format!(
            "{what}: length {len} exceeds the {} bytes left",
            rest.len()
        ));
    }
    Ok(rest.split_at(len))
}

/// Read a `UTCTime` or `GeneralizedTime` as Unix seconds.
fn time<'a>(input: &'a [u8], what: &str) -> Result<(i64, &'a [u8]), String> {
    let tag = *input.first().ok_or_else(|| format!("{what} is missing"))?;
    let (text, rest) = element(input, tag, what)?;
    let digits = |s: &[u8]| -> Result<i64, String> {
        s.iter().try_fold(0i64, |acc, &c| {
            if c.is_ascii_digit() {
                Ok(acc * 10 + i64::from(c - b'0'))
            } else {
                Err(format!("{what}: malformed time"))
            }
        })
    };
    let (year, tail) = match (tag, text.len()) {
        (0x17, 13) => {
            let yy = digits(&text[..2])?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        (0x18, 15) => (digits(&text[..4])?, &text[4..]),
        _ => return Err(format!("{what}: not a UTC or generalized time")),
    };
    if tail[10] != b'Z' {
        return Err(format!("{what}: time is not in UTC"));
    }
    let (mo, d, h, mi, s) = (
        digits(&tail[0..2])?,
        digits(&tail[2..4])?,
        digits(&tail[4..6])?,
        digits(&tail[6..8])?,
        digits(&tail[8..10])?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return Err(format!("{what}: time out of range"));
    }
    let days = days_from_civil(year, mo as u32, d as u32);
    Ok((days * 86_400 + h * 3600 + mi * 60 + s, rest))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number since 1970-01-01 (inverse of [`days_from_civil`]).
pub(crate) fn civil_from_days(z: i64) -> (i32, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y as i32, m as u8, d as u8)
}

/// `YYYY-MM-DD HH:MM:SS UTC`.
pub(crate) fn format_utc(t: i64) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        for z in [-800_000i64, -1, 0, 59, 10_957, 20_000, 2_000_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(i64::from(y), u32::from(m), u32::from(d)), z);
        }
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
    }

    #[test]
    fn garbage_and_truncated_certificates_are_rejected() {
        assert!(Validity::of_certificate(b"").is_err());
        assert!(Validity::of_certificate(&[0x30, 0x82, 0xff, 0xff, 0x30]).is_err());
        assert!(Validity::of_certificate(&[0x02, 0x01, 0x00]).is_err());
    }
}

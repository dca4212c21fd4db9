//! SuperOffice timestamps: up to 7 fractional digits, sometimes no offset (read as UTC), and
//! `0001-01-01T00:00:00` for "no date".

use jiff::Timestamp;
use jiff::civil::DateTime;

/// Parses a SuperOffice or RFC 3339 time. `None` for text that is not a time, and for the
/// "no date" marker.
pub fn parse(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if text.len() < 10 || !text.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    let ts = match text.parse::<Timestamp>() {
        Ok(ts) => ts,
        Err(_) => {
            let civil: DateTime = text.parse().ok()?;
            civil
                .to_zoned_datetime(jiff::tz::TimeZone::UTC)
                .ok()?
                .timestamp()
        }
    };
    (ts.as_second() > NO_DATE_BEFORE).then_some(ts)
}

/// Anything before 1753 is a placeholder, not a real date (SQL Server's own lower bound).
const NO_DATE_BEFORE: i64 = -6_847_804_800;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_superoffice_times() {
        let with_offset = parse("2018-04-24T08:13:02.8352175Z").unwrap();
        let without = parse("2018-04-24T08:13:02.8352175").unwrap();
        assert_eq!(with_offset, without);
        assert!(parse("2018-04-24").is_some());
        assert!(parse("0001-01-01T00:00:00").is_none());
        assert!(parse("Cust12345").is_none());
        assert!(parse("527331").is_none());
    }
}

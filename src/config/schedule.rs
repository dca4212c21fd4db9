//! Time of day in a time zone: working-hours spans and digest times, and the pure functions
//! that say whether an instant is inside a span and when the next span opens or the next
//! digest time comes. Time zones are IANA names from jiff's bundled database.
//!
//! Daylight saving: a time that does not exist that day (the clock jumps over it) is taken as
//! the moment the clock jumps, the first instant after it; a time that happens twice (the clock
//! goes back) is taken the first time. A span whose `to` is not after its `from` crosses
//! midnight: `from: "22:00", to: "06:00"` on `days: [mon]` runs from Monday 22:00 to Tuesday
//! 06:00.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::{AmbiguousOffset, TimeZone};

/// A set of weekdays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Days(u8);

impl Days {
    pub const ALL: Days = Days(0b111_1111);
    pub const NAMES: [&'static str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

    pub const FULL_NAMES: [&'static str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];

    /// `mon` … `sun`, or the whole English name (`monday`), in any case; nothing else
    /// (`monkey` is not Monday). 0 is Monday.
    pub fn parse_day(name: &str) -> Option<u8> {
        let name = name.trim().to_ascii_lowercase();
        Days::NAMES
            .iter()
            .zip(Days::FULL_NAMES)
            .position(|(short, full)| name == *short || name == full)
            .map(|i| i as u8)
    }

    /// A day (`wed`) or a range of days (`mon-fri`; `fri-mon` runs over the week's end).
    pub fn parse_item(text: &str) -> Option<Vec<u8>> {
        let Some((from, to)) = text.split_once('-') else {
            return Days::parse_day(text).map(|d| vec![d]);
        };
        let (from, to) = (Days::parse_day(from)?, Days::parse_day(to)?);
        let len = (to + 7 - from) % 7 + 1;
        Some((0..len).map(|i| (from + i) % 7).collect())
    }

    pub fn of(days: impl IntoIterator<Item = u8>) -> Days {
        Days(days.into_iter().fold(0, |acc, d| acc | (1 << d)))
    }

    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.to_monday_zero_offset()) != 0
    }

    /// The days, by their short names, Monday first.
    pub fn names(self) -> Vec<&'static str> {
        (0..7)
            .filter(|d| self.0 & (1 << d) != 0)
            .map(|d| Days::NAMES[d])
            .collect()
    }
}

/// `08:00`, `24:00`.
pub fn show_clock(c: Clock) -> String {
    format!("{:02}:{:02}", c / 3600, c % 3600 / 60)
}

/// Seconds since midnight, 0 to 86,400 (`24:00`, the end of the day).
pub type Clock = u32;

pub const END_OF_DAY: Clock = 86_400;

/// `HH:MM` or `HH:MM:SS` (`H:MM` too); `24:00` for the end of the day.
pub fn parse_clock(text: &str) -> Option<Clock> {
    let parts: Vec<&str> = text.trim().split(':').collect();
    // Two digits, but an hour may have one ("8:00").
    let number = |s: &str, max: u32, digits: std::ops::RangeInclusive<usize>| {
        let plain = s.bytes().all(|b| b.is_ascii_digit()) && digits.contains(&s.len());
        s.parse::<u32>().ok().filter(|n| plain && *n <= max)
    };
    let (h, m, s) = match parts.as_slice() {
        [h, m] => (number(h, 24, 1..=2)?, number(m, 59, 2..=2)?, 0),
        [h, m, s] => (
            number(h, 24, 1..=2)?,
            number(m, 59, 2..=2)?,
            number(s, 59, 2..=2)?,
        ),
        _ => return None,
    };
    let clock = h * 3600 + m * 60 + s;
    (clock <= END_OF_DAY).then_some(clock)
}

/// A span of working hours on some days, in one time zone.
#[derive(Debug, Clone)]
pub struct Span {
    pub zone: TimeZone,
    pub zone_name: String,
    pub days: Days,
    pub from: Clock,
    /// Not after `from`: the span crosses midnight.
    pub to: Clock,
}

impl Span {
    /// True while the span is open at `at`.
    pub fn is_open(&self, at: Timestamp) -> bool {
        let local = at.to_zoned_datetime(self.zone.clone());
        let (date, clock) = (local.date(), clock_of(local.time()));
        if self.from < self.to {
            return self.days.contains(date.weekday()) && (self.from..self.to).contains(&clock);
        }
        let yesterday = date
            .yesterday()
            .is_ok_and(|d| self.days.contains(d.weekday()));
        (self.days.contains(date.weekday()) && clock >= self.from) || (yesterday && clock < self.to)
    }

    /// The first instant after `at` at which the span opens.
    pub fn next_open(&self, at: Timestamp) -> Option<Timestamp> {
        let today = at.to_zoned_datetime(self.zone.clone()).date();
        (0..=8)
            .filter_map(|offset| today.checked_add(jiff::Span::new().days(offset)).ok())
            .filter(|date| self.days.contains(date.weekday()))
            .filter_map(|date| instant(&self.zone, date, self.from))
            .find(|t| *t > at)
    }
}

/// Working hours: one or more spans; open when any is.
#[derive(Debug, Clone)]
pub struct ActiveHours {
    pub spans: Vec<Span>,
}

impl ActiveHours {
    pub fn is_open(&self, at: Timestamp) -> bool {
        self.spans.iter().any(|s| s.is_open(at))
    }

    /// `at` itself when open; otherwise the first instant a span opens.
    pub fn next_open(&self, at: Timestamp) -> Option<Timestamp> {
        if self.is_open(at) {
            return Some(at);
        }
        self.spans.iter().filter_map(|s| s.next_open(at)).min()
    }
}

/// Times of day on some days, in one time zone: when a scheduled digest is sent.
#[derive(Debug, Clone)]
pub struct Times {
    pub zone: TimeZone,
    pub zone_name: String,
    pub days: Days,
    pub at: Vec<Clock>,
}

impl Times {
    /// The first of these times after `after`.
    pub fn next(&self, after: Timestamp) -> Option<Timestamp> {
        let today = after.to_zoned_datetime(self.zone.clone()).date();
        (0..=8)
            .filter_map(|offset| today.checked_add(jiff::Span::new().days(offset)).ok())
            .filter(|date| self.days.contains(date.weekday()))
            .flat_map(|date| {
                self.at
                    .iter()
                    .filter_map(move |c| instant(&self.zone, date, *c))
            })
            .filter(|t| *t > after)
            .min()
    }
}

fn clock_of(time: Time) -> Clock {
    time.hour() as u32 * 3600 + time.minute() as u32 * 60 + time.second() as u32
}

/// The instant a clock time happens on a date in a zone: a time the clock jumps over is the
/// moment of the jump; a time that happens twice is the first one.
pub fn instant(zone: &TimeZone, date: Date, clock: Clock) -> Option<Timestamp> {
    let (date, clock) = if clock >= END_OF_DAY {
        (date.tomorrow().ok()?, clock - END_OF_DAY)
    } else {
        (date, clock)
    };
    let time = Time::new(
        (clock / 3600) as i8,
        ((clock % 3600) / 60) as i8,
        (clock % 60) as i8,
        0,
    )
    .ok()?;
    let dt = DateTime::from_parts(date, time);
    let ambiguous = zone.to_ambiguous_timestamp(dt);
    match ambiguous.offset() {
        AmbiguousOffset::Gap { .. } => {
            // Read with the offset before the jump, the time falls after it: the jump itself
            // is the transition just before that instant.
            let past = ambiguous.compatible().ok()?;
            let jump = zone.preceding(past).next()?.timestamp();
            Some(jump)
        }
        AmbiguousOffset::Unambiguous { .. } | AmbiguousOffset::Fold { .. } => {
            ambiguous.earlier().ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_names_are_read_strictly_with_ranges_over_the_weeks_end() {
        let cases: [(&str, Option<Vec<u8>>); 9] = [
            ("mon", Some(vec![0])),
            ("Wednesday", Some(vec![2])),
            ("mon-fri", Some(vec![0, 1, 2, 3, 4])),
            ("fri-mon", Some(vec![4, 5, 6, 0])),
            ("sat-sat", Some(vec![5])),
            ("monkey", None),
            ("mo", None),
            ("mon-funday", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(Days::parse_item(text), want, "{text:?}");
        }
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn span(zone: &str, days: &[u8], from: &str, to: &str) -> Span {
        Span {
            zone: TimeZone::get(zone).unwrap(),
            zone_name: zone.into(),
            days: Days::of(days.iter().copied()),
            from: parse_clock(from).unwrap(),
            to: parse_clock(to).unwrap(),
        }
    }

    #[test]
    fn clocks_parse_with_minutes_and_seconds() {
        let cases = [
            ("08:00", Some(28_800)),
            ("23:59:59", Some(86_399)),
            ("24:00", Some(86_400)),
            ("24:01", None),
            ("8:00", Some(28_800)),
            ("008:00", None),
            ("+8:00", None),
            ("08:5", None),
            ("08:60", None),
            ("noon", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_clock(text), expected, "{text}");
        }
    }

    #[test]
    fn spans_open_and_close_in_their_zone_across_dst_and_midnight() {
        let weekdays = [0, 1, 2, 3, 4];
        let office = span("Europe/Oslo", &weekdays, "08:00", "16:00");
        let night = span("Europe/Oslo", &[0], "22:00", "06:00");
        let early = span("Europe/Oslo", &[6], "02:30", "04:00");
        let ny = span("America/New_York", &[6], "01:30", "02:00");
        let cases = [
            // (span, instant UTC, open?, next opening)
            // Oslo is UTC+1 in winter, UTC+2 in summer.
            (
                &office,
                "2026-12-01T07:30:00Z",
                true,
                "2026-12-01T07:30:00Z",
            ),
            (
                &office,
                "2026-12-01T06:59:59Z",
                false,
                "2026-12-01T07:00:00Z",
            ),
            (
                &office,
                "2026-12-01T15:00:00Z",
                false,
                "2026-12-02T07:00:00Z",
            ),
            // Friday after hours: next is Monday.
            (
                &office,
                "2026-12-04T16:00:00Z",
                false,
                "2026-12-07T07:00:00Z",
            ),
            // Summer time: 08:00 in Oslo is 06:00 UTC.
            (
                &office,
                "2026-06-01T06:00:00Z",
                true,
                "2026-06-01T06:00:00Z",
            ),
            // Crossing midnight: Monday 22:00 to Tuesday 06:00, not Tuesday night.
            (&night, "2026-11-30T23:30:00Z", true, "2026-11-30T23:30:00Z"),
            (&night, "2026-12-01T04:59:59Z", true, "2026-12-01T04:59:59Z"),
            (
                &night,
                "2026-12-01T05:00:00Z",
                false,
                "2026-12-07T21:00:00Z",
            ),
            (
                &night,
                "2026-12-01T22:00:00Z",
                false,
                "2026-12-07T21:00:00Z",
            ),
            // 2026-03-29: Oslo jumps from 02:00 to 03:00; 02:30 does not exist, so the span
            // opens at the jump (01:00 UTC = 03:00 local).
            (
                &early,
                "2026-03-28T23:00:00Z",
                false,
                "2026-03-29T01:00:00Z",
            ),
            (&early, "2026-03-29T01:00:00Z", true, "2026-03-29T01:00:00Z"),
            // 2026-11-01: New York goes back from 02:00 to 01:00; 01:30 happens twice, the span
            // opens the first time (05:30 UTC), and is open again the second (06:30 UTC).
            (&ny, "2026-11-01T05:00:00Z", false, "2026-11-01T05:30:00Z"),
            (&ny, "2026-11-01T05:45:00Z", true, "2026-11-01T05:45:00Z"),
            (&ny, "2026-11-01T06:45:00Z", true, "2026-11-01T06:45:00Z"),
            (&ny, "2026-11-01T07:00:00Z", false, "2026-11-08T06:30:00Z"),
        ];
        for (span, now, open, next) in cases {
            let hours = ActiveHours {
                spans: vec![span.clone()],
            };
            assert_eq!(hours.is_open(at(now)), open, "{} {now}", span.from);
            assert_eq!(
                hours.next_open(at(now)),
                Some(at(next)),
                "{} {now}",
                span.from
            );
        }
    }

    #[test]
    fn digest_times_come_in_their_zone_across_dst() {
        let zone = |name: &str| TimeZone::get(name).unwrap();
        let morning = Times {
            zone: zone("Europe/Oslo"),
            zone_name: "Europe/Oslo".into(),
            days: Days::of([0, 1, 2, 3, 4]),
            at: vec![parse_clock("08:00").unwrap()],
        };
        let twice = Times {
            zone: zone("America/New_York"),
            zone_name: "America/New_York".into(),
            days: Days::ALL,
            at: vec![parse_clock("02:30").unwrap(), parse_clock("17:00").unwrap()],
        };
        let cases = [
            (&morning, "2026-11-30T06:00:00Z", "2026-11-30T07:00:00Z"),
            (&morning, "2026-11-30T07:00:00Z", "2026-12-01T07:00:00Z"),
            // Friday evening: Monday morning.
            (&morning, "2026-12-04T18:00:00Z", "2026-12-07T07:00:00Z"),
            // The Monday after Oslo's spring jump: 08:00 is 06:00 UTC.
            (&morning, "2026-03-28T12:00:00Z", "2026-03-30T06:00:00Z"),
            // New York, 2026-03-08: 02:30 does not exist; the digest goes at the jump (07:00
            // UTC, 03:00 local).
            (&twice, "2026-03-08T05:00:00Z", "2026-03-08T07:00:00Z"),
            (&twice, "2026-03-08T07:00:00Z", "2026-03-08T21:00:00Z"),
        ];
        for (times, after, next) in cases {
            assert_eq!(times.next(at(after)), Some(at(next)), "{after}");
        }
    }
}

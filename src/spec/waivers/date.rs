//! Calendar dates (`YYYY-MM-DD`, UTC) for a waiver's `until`, and today's date from the clock of
//! the machine the run happens on: jiff's calendar, read strictly. No time zones, no times.

use std::fmt;

/// A calendar date (jiff's proleptic Gregorian `civil::Date`, years 9999 BCE to 9999 CE).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(jiff::civil::Date);

impl Date {
    /// Today in UTC, from the system clock of the run (a CI runner's clock is NTP-synchronised);
    /// the deprecation rules take the same day (`spec::diff::today`).
    pub fn today() -> Date {
        Date(crate::spec::diff::today())
    }

    /// `YYYY-MM-DD` exactly (ISO 8601's calendar date, as YAML and OpenAPI's `format: date` write
    /// it); the day must exist in that month. jiff's own parser also takes `+002027-03-31` and
    /// times, hence the shape check first.
    pub fn parse(s: &str) -> Result<Date, String> {
        let shaped = s.len() == 10
            && s.bytes().enumerate().all(|(i, c)| match i {
                4 | 7 => c == b'-',
                _ => c.is_ascii_digit(),
            });
        if !shaped {
            return Err(format!(
                "`{s}` is not a date: write it as YYYY-MM-DD, e.g. 2027-03-31"
            ));
        }
        s.parse::<jiff::civil::Date>()
            .map(Date)
            .map_err(|_| format!("`{s}` is not a day of the calendar"))
    }

    /// The date `days` later (earlier when negative), held at jiff's last (first) day beyond it.
    pub fn plus_days(self, days: i64) -> Date {
        let moved = jiff::Span::new()
            .try_days(days)
            .and_then(|span| self.0.checked_add(span));
        Date(moved.unwrap_or(if days > 0 {
            jiff::civil::Date::MAX
        } else {
            jiff::civil::Date::MIN
        }))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // jiff writes years 0-9999 with four digits, as YYYY-MM-DD.
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_round_trip() {
        for s in [
            "1970-01-01",
            "2000-02-29",
            "2024-12-31",
            "2027-03-01",
            "1969-12-31",
        ] {
            assert_eq!(Date::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(
            Date::parse("1969-12-31").unwrap().plus_days(2),
            Date::parse("1970-01-02").unwrap()
        );
        assert_eq!(
            Date::parse("2027-03-01").unwrap().plus_days(-1),
            Date::parse("2027-02-28").unwrap()
        );
        // Beyond the calendar: held at its end, never a panic.
        assert_eq!(
            Date::parse("9999-12-30")
                .unwrap()
                .plus_days(i64::MAX)
                .to_string(),
            "9999-12-31"
        );
        assert_eq!(
            Date::parse("2024-02-28").unwrap().plus_days(1),
            Date::parse("2024-02-29").unwrap()
        );
        assert!(Date::parse("2025-02-28").unwrap() < Date::parse("2025-03-01").unwrap());
    }

    #[test]
    fn refuses_what_is_not_a_day() {
        for s in [
            "2025-02-29",
            "2025-13-01",
            "2025-00-10",
            "2025-04-31",
            "2025-1-01",
            "25-01-01",
            "2025/01/01",
            "2025-01-01T00:00:00Z",
            "+025-01-01",
            "",
        ] {
            assert!(Date::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn today_is_after_this_code_was_written() {
        assert!(Date::today() > Date::parse("2025-01-01").unwrap());
    }
}

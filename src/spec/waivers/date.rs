//! Calendar dates (`YYYY-MM-DD`, UTC) for a waiver's `until`, and today's date from the clock of
//! the machine the run happens on. A day count is all the waivers need: no time zones, no times.

use std::fmt;

/// A proleptic Gregorian date, as days since 1970-01-01.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(i64);

impl Date {
    /// Today in UTC, from the system clock of the run (a CI runner's clock is NTP-synchronised).
    pub fn today() -> Date {
        let secs = match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            // A clock before 1970: the dates still compare, as negative day counts.
            Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
        };
        Date(secs.div_euclid(86_400))
    }

    /// `YYYY-MM-DD` exactly (ISO 8601's calendar date, as YAML and OpenAPI's `format: date` write
    /// it); the day must exist in that month.
    pub fn parse(s: &str) -> Result<Date, String> {
        let bad = || format!("`{s}` is not a date: write it as YYYY-MM-DD, e.g. 2027-03-31");
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(bad());
        }
        let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
            let part = &s[r];
            if !part.bytes().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            part.parse().map_err(|_| bad())
        };
        let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
            return Err(format!("`{s}` is not a day of the calendar"));
        }
        Ok(Date(days_from_civil(y, m, d)))
    }

    /// The date `days` later (earlier when negative).
    pub fn plus_days(self, days: i64) -> Date {
        Date(self.0 + days)
    }

    fn civil(self) -> (i64, i64, i64) {
        civil_from_days(self.0)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.civil();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's `days_from_civil` / `civil_from_days` ("chrono-Compatible Low-Level Date
// Algorithms"), the arithmetic C++20's <chrono> is built on.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
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
        assert_eq!(Date::parse("1970-01-02").unwrap(), Date(1));
        assert_eq!(Date::parse("1969-12-31").unwrap(), Date(-1));
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

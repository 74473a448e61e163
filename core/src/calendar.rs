//! Proleptic Gregorian calendar arithmetic: civil dates and times to days or seconds since
//! 1970-01-01 and back, in UTC. Howard Hinnant's `days_from_civil` / `civil_from_days`
//! (<https://howardhinnant.github.io/date_algorithms.html>): exact for every year MySQL can
//! store, branch-light and allocation-free, so the formats can call it for every value.
//!
//! The one place for this arithmetic: the snapshot's TIMESTAMP values (`decode::sql`), the
//! flat TIMESTAMP text (`format::json`) and Debezium's DATE/DATETIME numbers (`format::debezium`).

const SECS_PER_DAY: i64 = 86_400;
/// Days from 0000-03-01 (the start of the algorithm's era 0) to 1970-01-01.
const EPOCH_SHIFT: i64 = 719_468;
/// Days in an era of 400 years.
const DAYS_PER_ERA: i64 = 146_097;

/// Days since 1970-01-01 of the date `year-month-day` (negative before it). `month` is 1-12;
/// a day outside the month counts on from the month's first day, as the arithmetic gives it.
#[inline]
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * DAYS_PER_ERA + doe - EPOCH_SHIFT
}

/// The date `(year, month, day)` that is `days` days after 1970-01-01.
#[inline]
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + EPOCH_SHIFT;
    let era = z.div_euclid(DAYS_PER_ERA);
    let doe = z.rem_euclid(DAYS_PER_ERA);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Seconds since 1970-01-01T00:00:00 of a civil date and time of day.
#[inline]
pub fn seconds_from_civil(year: i64, month: u32, day: u32, hour: u32, min: u32, sec: u32) -> i64 {
    days_from_civil(year, month, day) * SECS_PER_DAY
        + hour as i64 * 3600
        + min as i64 * 60
        + sec as i64
}

/// `(year, month, day, hour, minute, second)` of `secs` seconds since 1970-01-01T00:00:00.
#[inline]
pub fn civil_from_seconds(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let (y, m, d) = civil_from_days(secs.div_euclid(SECS_PER_DAY));
    let rem = secs.rem_euclid(SECS_PER_DAY);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        ((rem % 3600) / 60) as u32,
        (rem % 60) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(0, 3, 1), -719_468);
        assert_eq!(days_from_civil(9999, 12, 31), 2_932_896);
        assert_eq!(civil_from_seconds(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil_from_seconds(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(civil_from_seconds(2_147_483_647), (2038, 1, 19, 3, 14, 7));
        assert_eq!(civil_from_seconds(-1), (1969, 12, 31, 23, 59, 59));
        assert_eq!(seconds_from_civil(2038, 1, 19, 3, 14, 7), 2_147_483_647);
    }

    proptest! {
        /// Every day from year -1000 to 11000 maps to a valid date and back to itself, and
        /// consecutive days are consecutive dates.
        #[test]
        fn days_round_trip(days in -1_085_000i64..3_300_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert!((1..=12).contains(&m) && (1..=31).contains(&d));
            prop_assert_eq!(days_from_civil(y, m, d), days);
            let (y2, m2, d2) = civil_from_days(days + 1);
            prop_assert!((y2, m2, d2) > (y, m, d));
        }

        #[test]
        fn seconds_round_trip(secs in -40_000_000_000i64..300_000_000_000) {
            let (y, mo, d, h, mi, s) = civil_from_seconds(secs);
            prop_assert!(h < 24 && mi < 60 && s < 60);
            prop_assert_eq!(seconds_from_civil(y, mo, d, h, mi, s), secs);
        }
    }
}

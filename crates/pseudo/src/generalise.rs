//! Generalisation: keep the shape of a value, drop its precision.

use std::net::IpAddr;

use time::{Date, Duration};

use crate::Error;
use crate::token::keyed_index;

/// `value` rounded down to a multiple of `width`, as `lo-hi` (e.g. age 37
/// with width 10 gives `30-39`).
pub fn bucket(value: &str, width: u64) -> Result<String, Error> {
    if width == 0 {
        return Err(Error::InvalidParameter(
            "bucket width must be positive".into(),
        ));
    }
    let v: i64 = value.trim().parse().map_err(|_| Error::WrongShape {
        transform: "bucket",
        expected: "an integer",
    })?;
    let w = width as i64;
    let lo = v.div_euclid(w) * w;
    Ok(format!("{lo}-{}", lo + w - 1))
}

/// How much of a date to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DateUnit {
    /// `1987`.
    Year,
    /// `1987-06`.
    Month,
    /// `1987-06-14` (drops a time of day).
    Day,
}

const DATE: &[time::format_description::BorrowedFormatItem<'_>] =
    time::macros::format_description!("[year]-[month]-[day]");

fn parse_date(value: &str, transform: &'static str) -> Result<Date, Error> {
    // ISO 8601 date, optionally followed by a time.
    let head = value.get(..10).unwrap_or(value);
    Date::parse(head, DATE).map_err(|_| Error::WrongShape {
        transform,
        expected: "an ISO 8601 date (YYYY-MM-DD)",
    })
}

/// An ISO date truncated to `unit`.
pub fn truncate_date(value: &str, unit: DateUnit) -> Result<String, Error> {
    let d = parse_date(value, "date truncation")?;
    Ok(match unit {
        DateUnit::Year => format!("{:04}", d.year()),
        DateUnit::Month => format!("{:04}-{:02}", d.year(), u8::from(d.month())),
        DateUnit::Day => format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()),
    })
}

/// Shifts an ISO date by a keyed per-subject offset in `[-max_days, max_days]`:
/// the same subject's dates all move together (intervals survive), different
/// subjects move differently, and without the key the shift is unknown.
pub fn shift_date(key: &[u8], subject: &str, value: &str, max_days: u32) -> Result<String, Error> {
    let d = parse_date(value, "date shift")?;
    let span = 2 * u64::from(max_days) + 1;
    let offset = keyed_index(key, "date-shift", subject, span) as i64 - i64::from(max_days);
    let shifted = d
        .checked_add(Duration::days(offset))
        .ok_or(Error::WrongShape {
            transform: "date shift",
            expected: "a date far enough from the calendar's limits",
        })?;
    Ok(format!(
        "{:04}-{:02}-{:02}",
        shifted.year(),
        u8::from(shifted.month()),
        shifted.day()
    ))
}

/// IPv4 truncated to its /24, IPv6 to its /48, in canonical form.
pub fn truncate_ip(value: &str) -> Result<String, Error> {
    let ip: IpAddr = value.trim().parse().map_err(|_| Error::WrongShape {
        transform: "IP truncation",
        expected: "an IP address",
    })?;
    Ok(match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(v6) => {
            let mut s = v6.segments();
            s[3..].fill(0);
            format!("{}/48", std::net::Ipv6Addr::from(s))
        }
    })
}

/// A version string cut to its first `parts` dot-separated parts:
/// `17.4.1` with 1 part is `17`.
pub fn truncate_version(value: &str, parts: usize) -> Result<String, Error> {
    if parts == 0 {
        return Err(Error::InvalidParameter(
            "keep at least one version part".into(),
        ));
    }
    let v = value.trim();
    if v.is_empty() {
        return Err(Error::WrongShape {
            transform: "version truncation",
            expected: "a version",
        });
    }
    Ok(v.split('.').take(parts).collect::<Vec<_>>().join("."))
}

/// A postcode cut to its first `keep` alphanumeric characters (the outward
/// part or district), e.g. `75011` -> `75`, `SW1A 1AA` -> `SW1`.
pub fn truncate_postcode(value: &str, keep: usize) -> Result<String, Error> {
    let kept: String = value
        .chars()
        .filter(|c| c.is_alphanumeric())
        .take(keep)
        .collect();
    if kept.is_empty() {
        return Err(Error::WrongShape {
            transform: "postcode truncation",
            expected: "a postcode",
        });
    }
    Ok(kept)
}

/// `lat,lon` snapped to a grid of `cell_degrees` (the cell's south-west corner).
pub fn coarsen_grid(lat: f64, lon: f64, cell_degrees: f64) -> Result<(f64, f64), Error> {
    check_coordinates(lat, lon)?;
    if !(cell_degrees > 0.0 && cell_degrees <= 180.0) {
        return Err(Error::InvalidParameter(
            "grid cell must be in (0, 180] degrees".into(),
        ));
    }
    let snap = |x: f64| (x / cell_degrees).floor() * cell_degrees;
    Ok((snap(lat), snap(lon)))
}

/// `lat,lon` as a geohash of `precision` characters (1–12): 5 is about
/// 5 km, 4 about 40 km.
pub fn geohash(lat: f64, lon: f64, precision: usize) -> Result<String, Error> {
    check_coordinates(lat, lon)?;
    if !(1..=12).contains(&precision) {
        return Err(Error::InvalidParameter(
            "geohash precision is 1 to 12".into(),
        ));
    }
    geohash::encode(geohash::Coord { x: lon, y: lat }, precision).map_err(|_| Error::WrongShape {
        transform: "geohash",
        expected: "coordinates",
    })
}

fn check_coordinates(lat: f64, lon: f64) -> Result<(), Error> {
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return Err(Error::WrongShape {
            transform: "geo coarsening",
            expected: "latitude in [-90, 90] and longitude in [-180, 180]",
        });
    }
    Ok(())
}

/// Parses `"lat,lon"` (spaces allowed).
pub fn parse_coordinates(value: &str) -> Result<(f64, f64), Error> {
    let wrong = Error::WrongShape {
        transform: "geo coarsening",
        expected: "`latitude,longitude`",
    };
    let (a, b) = value.split_once(',').ok_or(wrong.clone())?;
    let lat = a.trim().parse().map_err(|_| wrong.clone())?;
    let lon = b.trim().parse().map_err(|_| wrong)?;
    check_coordinates(lat, lon)?;
    Ok((lat, lon))
}

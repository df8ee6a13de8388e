//! Business hours: an account's time zone, weekly opening intervals and holidays, and the two
//! questions asked of them (is this instant open? when do we open next?), correct across
//! daylight-saving changes because every answer goes through the zone's rules (`chrono-tz`).

use super::FieldError;
use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone,
    Timelike, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Intervals one day may have: a split shift or two, never a timetable.
pub const MAX_INTERVALS_PER_DAY: usize = 8;
/// Holidays kept: a few years of public holidays.
pub const MAX_HOLIDAYS: usize = 200;
/// Minutes in a day; an interval may end at "24:00".
const DAY_MINUTES: u16 = 24 * 60;
/// Days searched for the next opening: a year of holidays plus a week.
const SEARCH_DAYS: i64 = 366 + 7;

/// The days in the order of the JSON keys.
pub const DAY_KEYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Mon),
    ("tue", Weekday::Tue),
    ("wed", Weekday::Wed),
    ("thu", Weekday::Thu),
    ("fri", Weekday::Fri),
    ("sat", Weekday::Sat),
    ("sun", Weekday::Sun),
];

/// Business hours as the API and the database write them:
/// `{"time_zone": "Europe/Prague", "weekly": {"mon": [["09:00","17:00"]]}, "holidays": ["2027-01-01"]}`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BusinessHoursInput {
    pub time_zone: String,
    #[serde(default)]
    pub weekly: BTreeMap<String, Vec<(String, String)>>,
    #[serde(default)]
    pub holidays: Vec<String>,
}

/// One opening interval of a day, in minutes after local midnight: `start < end <= 1440`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Interval {
    start: u16,
    end: u16,
}

/// Valid business hours: a known zone, sorted non-overlapping intervals per weekday, holidays.
#[derive(Clone, Debug, PartialEq)]
pub struct BusinessHours {
    time_zone: Tz,
    /// Indexed by `Weekday::num_days_from_monday`.
    weekly: [Vec<Interval>; 7],
    holidays: BTreeSet<NaiveDate>,
}

/// "HH:MM" as minutes after midnight; "24:00" is allowed only as an end.
fn parse_time(raw: &str, end: bool) -> Option<u16> {
    let (hours, minutes) = raw.trim().split_once(':')?;
    if hours.is_empty() || hours.len() > 2 || minutes.len() != 2 {
        return None;
    }
    let hours: u16 = hours.parse().ok()?;
    let minutes: u16 = minutes.parse().ok()?;
    let total = hours * 60 + minutes;
    let valid = minutes < 60 && (hours < 24 || (end && total == DAY_MINUTES));
    valid.then_some(total)
}

fn time_text(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

impl BusinessHours {
    /// Parses and checks everything, reporting every problem with its field, e.g.
    /// `business_hours.weekly.mon[1]: overlaps 09:00-12:00`.
    pub fn parse(field: &str, input: &BusinessHoursInput) -> Result<Self, Vec<FieldError>> {
        let mut problems = Vec::new();
        let time_zone = input.time_zone.trim().parse::<Tz>().map_err(|_| {
            problems.push(FieldError::new(
                format!("{field}.time_zone"),
                format!(
                    "{:?} is not a known time zone (use an IANA name such as Europe/Prague)",
                    input.time_zone
                ),
            ))
        });
        let mut weekly: [Vec<Interval>; 7] = Default::default();
        for (key, raw_intervals) in &input.weekly {
            let day_field = format!("{field}.weekly.{key}");
            let Some((_, day)) = DAY_KEYS.iter().find(|(name, _)| name == key) else {
                problems.push(FieldError::new(
                    day_field,
                    "is not a day (use mon, tue, wed, thu, fri, sat, sun)",
                ));
                continue;
            };
            if raw_intervals.len() > MAX_INTERVALS_PER_DAY {
                problems.push(FieldError::new(
                    day_field.clone(),
                    format!("at most {MAX_INTERVALS_PER_DAY} intervals a day"),
                ));
            }
            let mut day_intervals: Vec<(usize, Interval)> = Vec::new();
            for (index, (start, end)) in raw_intervals.iter().enumerate() {
                let at = format!("{day_field}[{index}]");
                match (parse_time(start, false), parse_time(end, true)) {
                    (Some(start), Some(end)) if start < end => {
                        day_intervals.push((index, Interval { start, end }))
                    }
                    (Some(_), Some(_)) => problems.push(FieldError::new(
                        at,
                        format!(
                            "ends ({end}) before it starts ({start}); split an overnight interval at midnight"
                        ),
                    )),
                    _ => problems.push(FieldError::new(
                        at,
                        format!("{start:?}-{end:?} is not a time range like [\"09:00\", \"17:00\"]"),
                    )),
                }
            }
            day_intervals.sort_by_key(|(_, interval)| *interval);
            for pair in day_intervals.windows(2) {
                let ((_, earlier), (index, later)) = (pair[0], pair[1]);
                if later.start < earlier.end {
                    problems.push(FieldError::new(
                        format!("{day_field}[{index}]"),
                        format!(
                            "overlaps {}-{}",
                            time_text(earlier.start),
                            time_text(earlier.end)
                        ),
                    ));
                }
            }
            weekly[day.num_days_from_monday() as usize] =
                day_intervals.into_iter().map(|(_, i)| i).collect();
        }
        if input.holidays.len() > MAX_HOLIDAYS {
            problems.push(FieldError::new(
                format!("{field}.holidays"),
                format!("at most {MAX_HOLIDAYS} holidays"),
            ));
        }
        let mut holidays = BTreeSet::new();
        for (index, raw) in input.holidays.iter().enumerate() {
            match NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d") {
                Ok(date) => {
                    holidays.insert(date);
                }
                Err(_) => problems.push(FieldError::new(
                    format!("{field}.holidays[{index}]"),
                    format!("{raw:?} is not a date like 2027-01-01"),
                )),
            }
        }
        match time_zone {
            Ok(time_zone) if problems.is_empty() => Ok(Self {
                time_zone,
                weekly,
                holidays,
            }),
            _ => Err(problems),
        }
    }

    /// The canonical JSON form (sorted, normalised times), as stored and shown.
    pub fn to_input(&self) -> BusinessHoursInput {
        let weekly = DAY_KEYS
            .iter()
            .map(|(key, day)| {
                let intervals = self.weekly[day.num_days_from_monday() as usize]
                    .iter()
                    .map(|i| (time_text(i.start), time_text(i.end)))
                    .collect();
                ((*key).to_owned(), intervals)
            })
            .collect();
        BusinessHoursInput {
            time_zone: self.time_zone.name().to_owned(),
            weekly,
            holidays: self.holidays.iter().map(ToString::to_string).collect(),
        }
    }

    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }

    fn intervals_on(&self, date: NaiveDate) -> &[Interval] {
        if self.holidays.contains(&date) {
            return &[];
        }
        &self.weekly[date.weekday().num_days_from_monday() as usize]
    }

    /// Whether the account is open at this instant (its local date and time in its zone).
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.time_zone);
        let minute = u16::try_from(local.hour() * 60 + local.minute()).unwrap_or(0);
        self.intervals_on(local.date_naive())
            .iter()
            .any(|i| i.start <= minute && minute < i.end)
    }

    /// The first instant after `at` when an interval opens, while closed at `at` (`None` when
    /// open now, or with no opening in the next year). An opening inside a spring-forward gap
    /// (02:30 on the day clocks jump from 02:00 to 03:00) is the end of the gap.
    pub fn next_opening(&self, at: DateTime<Utc>) -> Option<DateTime<Tz>> {
        if self.is_open(at) {
            return None;
        }
        let today = at.with_timezone(&self.time_zone).date_naive();
        (0..SEARCH_DAYS)
            .filter_map(|offset| today.checked_add_signed(Duration::days(offset)))
            .flat_map(|date| {
                self.intervals_on(date)
                    .iter()
                    .filter_map(move |i| self.instant(date, i.start))
            })
            .find(|opening| opening.with_timezone(&Utc) > at)
    }

    /// The instant of a local wall-clock time; the earlier of two (autumn) and the gap's end
    /// (spring).
    fn instant(&self, date: NaiveDate, minute: u16) -> Option<DateTime<Tz>> {
        let time = NaiveTime::from_hms_opt(u32::from(minute / 60), u32::from(minute % 60), 0)?;
        let mut local = NaiveDateTime::new(date, time);
        // Gaps are at most a few hours (one hour in every zone in use today).
        for _ in 0..(4 * 4) {
            match self.time_zone.from_local_datetime(&local) {
                LocalResult::Single(instant) => return Some(instant),
                LocalResult::Ambiguous(earlier, _) => return Some(earlier),
                LocalResult::None => local += Duration::minutes(15),
            }
        }
        None
    }
}

/// The day of the next opening as the widget says it, relative to the account's local date.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyDay {
    Today,
    Tomorrow,
    /// Within the coming week: "on Monday".
    Weekday,
    /// Further away (after holidays): "on 2027-01-04".
    Date,
}

/// "We reply tomorrow at 9:00": the parts the widget words in its language.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NextReply {
    /// The opening instant (RFC 3339, with the account's offset).
    pub at: String,
    pub day: ReplyDay,
    /// The local date of the opening, `YYYY-MM-DD`.
    pub date: String,
    /// English weekday name (`Monday`); the widget may translate it from `date`.
    pub weekday: String,
    /// Local time of day, `H:MM` (`9:00`, `14:30`).
    pub time: String,
}

impl NextReply {
    pub fn new(now: DateTime<Utc>, opening: DateTime<Tz>) -> Self {
        let today = now.with_timezone(&opening.timezone()).date_naive();
        let date = opening.date_naive();
        let days = (date - today).num_days();
        let day = match days {
            0 => ReplyDay::Today,
            1 => ReplyDay::Tomorrow,
            2..=6 => ReplyDay::Weekday,
            _ => ReplyDay::Date,
        };
        Self {
            at: opening.to_rfc3339(),
            day,
            date: date.to_string(),
            weekday: opening.format("%A").to_string(),
            time: format!("{}:{:02}", opening.hour(), opening.minute()),
        }
    }

    /// The English sentence, e.g. "We reply tomorrow at 9:00".
    pub fn sentence(&self) -> String {
        match self.day {
            ReplyDay::Today => format!("We reply today at {}", self.time),
            ReplyDay::Tomorrow => format!("We reply tomorrow at {}", self.time),
            ReplyDay::Weekday => format!("We reply on {} at {}", self.weekday, self.time),
            ReplyDay::Date => format!("We reply on {} at {}", self.date, self.time),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours(zone: &str, weekly: &[(&str, &[(&str, &str)])], holidays: &[&str]) -> BusinessHours {
        let input = BusinessHoursInput {
            time_zone: zone.to_owned(),
            weekly: weekly
                .iter()
                .map(|(day, intervals)| {
                    (
                        (*day).to_owned(),
                        intervals
                            .iter()
                            .map(|(s, e)| ((*s).to_owned(), (*e).to_owned()))
                            .collect(),
                    )
                })
                .collect(),
            holidays: holidays.iter().map(|d| (*d).to_owned()).collect(),
        };
        BusinessHours::parse("business_hours", &input).expect("valid hours")
    }

    const WEEKDAYS_9_TO_17: [(&str, &[(&str, &str)]); 5] = [
        ("mon", &[("09:00", "17:00")]),
        ("tue", &[("09:00", "17:00")]),
        ("wed", &[("09:00", "17:00")]),
        ("thu", &[("09:00", "17:00")]),
        ("fri", &[("09:00", "17:00")]),
    ];

    fn utc(raw: &str) -> DateTime<Utc> {
        raw.parse().expect("RFC 3339")
    }

    #[test]
    fn open_and_closed_follow_local_time_on_both_sides_of_the_spring_change_in_prague() {
        // Sunday 2027-03-28: clocks jump from 02:00 CET (+01) to 03:00 CEST (+02).
        let h = hours("Europe/Prague", &WEEKDAYS_9_TO_17, &[]);
        // Friday before: 09:00 local is 08:00 UTC.
        assert!(!h.is_open(utc("2027-03-26T07:59:00Z")));
        assert!(h.is_open(utc("2027-03-26T08:00:00Z")));
        assert!(h.is_open(utc("2027-03-26T15:59:00Z")));
        assert!(!h.is_open(utc("2027-03-26T16:00:00Z")));
        // Monday after: 09:00 local is 07:00 UTC.
        assert!(!h.is_open(utc("2027-03-29T06:59:00Z")));
        assert!(h.is_open(utc("2027-03-29T07:00:00Z")));
        assert!(!h.is_open(utc("2027-03-29T15:00:00Z")));
        // Closed Friday evening: next opening is Monday 09:00 CEST = 07:00 UTC, not 08:00.
        let next = h
            .next_opening(utc("2027-03-26T18:00:00Z"))
            .expect("opens again");
        assert_eq!(next.with_timezone(&Utc), utc("2027-03-29T07:00:00Z"));
        assert_eq!(next.to_rfc3339(), "2027-03-29T09:00:00+02:00");
    }

    #[test]
    fn open_and_closed_follow_local_time_on_both_sides_of_the_autumn_change_in_prague() {
        // Sunday 2027-10-31: clocks go back from 03:00 CEST (+02) to 02:00 CET (+01).
        let h = hours("Europe/Prague", &WEEKDAYS_9_TO_17, &[]);
        assert!(h.is_open(utc("2027-10-29T07:00:00Z")), "Friday 09:00 CEST");
        assert!(!h.is_open(utc("2027-10-29T06:59:00Z")));
        assert!(!h.is_open(utc("2027-11-01T07:00:00Z")), "Monday 08:00 CET");
        assert!(h.is_open(utc("2027-11-01T08:00:00Z")), "Monday 09:00 CET");
        let next = h
            .next_opening(utc("2027-10-30T12:00:00Z"))
            .expect("opens again");
        assert_eq!(next.with_timezone(&Utc), utc("2027-11-01T08:00:00Z"));
    }

    #[test]
    fn new_york_changes_on_other_dates_than_europe() {
        // 2027-03-14: New York moves to EDT (-04); Europe is still on winter time.
        let h = hours("America/New_York", &WEEKDAYS_9_TO_17, &[]);
        assert!(h.is_open(utc("2027-03-12T14:00:00Z")), "Friday 09:00 EST");
        assert!(!h.is_open(utc("2027-03-15T12:59:00Z")), "Monday 08:59 EDT");
        assert!(h.is_open(utc("2027-03-15T13:00:00Z")), "Monday 09:00 EDT");
        let next = h
            .next_opening(utc("2027-03-13T12:00:00Z"))
            .expect("opens again");
        assert_eq!(next.to_rfc3339(), "2027-03-15T09:00:00-04:00");
        // 2027-11-07: back to EST (-05).
        assert!(!h.is_open(utc("2027-11-08T13:30:00Z")), "08:30 EST");
        assert!(h.is_open(utc("2027-11-08T14:00:00Z")), "09:00 EST");
    }

    #[test]
    fn an_opening_inside_the_spring_gap_is_the_end_of_the_gap_and_the_repeated_hour_counts_once() {
        let h = hours(
            "Europe/Prague",
            &[("sun", &[("02:30", "04:00")] as &[_])],
            &[],
        );
        let spring = h
            .next_opening(utc("2027-03-27T12:00:00Z"))
            .expect("opens on Sunday");
        assert_eq!(spring.to_rfc3339(), "2027-03-28T03:00:00+02:00");
        let autumn = h
            .next_opening(utc("2027-10-30T12:00:00Z"))
            .expect("opens on Sunday");
        assert_eq!(
            autumn.to_rfc3339(),
            "2027-10-31T02:30:00+02:00",
            "the first 02:30"
        );
        // 02:30 happens twice on 2027-10-31: open both times (same wall clock).
        assert!(h.is_open(utc("2027-10-31T00:30:00Z")));
        assert!(h.is_open(utc("2027-10-31T01:30:00Z")));
    }

    #[test]
    fn holidays_are_closed_and_the_next_opening_skips_them() {
        let h = hours("Europe/Prague", &WEEKDAYS_9_TO_17, &["2027-01-01"]);
        // Friday 2027-01-01 10:00 CET.
        assert!(!h.is_open(utc("2027-01-01T09:00:00Z")));
        let next = h
            .next_opening(utc("2027-01-01T09:00:00Z"))
            .expect("opens on Monday");
        assert_eq!(next.to_rfc3339(), "2027-01-04T09:00:00+01:00");
        let reply = NextReply::new(utc("2027-01-01T09:00:00Z"), next);
        assert_eq!(reply.day, ReplyDay::Weekday);
        assert_eq!(reply.sentence(), "We reply on Monday at 9:00");
    }

    #[test]
    fn several_intervals_a_day_and_the_next_one_today() {
        let h = hours(
            "Europe/Prague",
            &[("mon", &[("13:00", "17:00"), ("08:00", "12:00")] as &[_])],
            &[],
        );
        // Monday 2027-01-04 12:30 CET: between the two intervals.
        let now = utc("2027-01-04T11:30:00Z");
        assert!(!h.is_open(now));
        let next = h.next_opening(now).expect("opens at 13:00");
        let reply = NextReply::new(now, next);
        assert_eq!(
            (reply.day.clone(), reply.time.as_str()),
            (ReplyDay::Today, "13:00")
        );
        assert_eq!(reply.sentence(), "We reply today at 13:00");
        // Monday 18:00: next Monday, a week away.
        let late = utc("2027-01-04T17:00:00Z");
        let reply = NextReply::new(late, h.next_opening(late).expect("opens"));
        assert_eq!(reply.day, ReplyDay::Date);
        assert_eq!(reply.date, "2027-01-11");
        assert!(
            h.next_opening(utc("2027-01-04T09:00:00Z")).is_none(),
            "open now"
        );
    }

    #[test]
    fn tomorrow_is_the_accounts_local_tomorrow() {
        let h = hours("Europe/Prague", &WEEKDAYS_9_TO_17, &[]);
        // Monday 23:30 UTC is already Tuesday 00:30 in Prague: "today at 9:00".
        let now = utc("2027-01-04T23:30:00Z");
        let reply = NextReply::new(now, h.next_opening(now).expect("opens"));
        assert_eq!(reply.sentence(), "We reply today at 9:00");
        let evening = utc("2027-01-04T18:00:00Z");
        let reply = NextReply::new(evening, h.next_opening(evening).expect("opens"));
        assert_eq!(reply.sentence(), "We reply tomorrow at 9:00");
    }

    #[test]
    fn no_intervals_at_all_never_opens() {
        let h = hours("UTC", &[], &[]);
        assert!(!h.is_open(utc("2027-01-04T09:00:00Z")));
        assert!(h.next_opening(utc("2027-01-04T09:00:00Z")).is_none());
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let input: BusinessHoursInput = serde_json::from_value(serde_json::json!({
            "time_zone": "Europe/Atlantis",
            "weekly": {
                "mon": [["09:00", "12:00"], ["11:00", "13:00"]],
                "tue": [["17:00", "09:00"]],
                "wed": [["9am", "5pm"]],
                "thu": [["24:00", "24:00"], ["10:60", "11:00"]],
                "funday": [["09:00", "17:00"]]
            },
            "holidays": ["2027-02-30"]
        }))
        .expect("shape");
        let problems = BusinessHours::parse("business_hours", &input).expect_err("invalid");
        let fields: Vec<_> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "business_hours.time_zone",
                "business_hours.weekly.funday",
                "business_hours.weekly.mon[1]",
                "business_hours.weekly.thu[0]",
                "business_hours.weekly.thu[1]",
                "business_hours.weekly.tue[0]",
                "business_hours.weekly.wed[0]",
                "business_hours.holidays[0]",
            ]
        );
        assert!(problems[2].message.contains("overlaps 09:00-12:00"));
    }

    #[test]
    fn the_stored_form_round_trips_and_24_00_ends_a_day() {
        let h = hours(
            "Europe/Prague",
            &[("sat", &[("18:00", "24:00"), ("8:00", "12:00")] as &[_])],
            &["2027-12-24"],
        );
        let again = BusinessHours::parse("b", &h.to_input()).expect("valid");
        assert_eq!(again, h);
        assert_eq!(
            h.to_input().weekly["sat"][0],
            ("08:00".into(), "12:00".into())
        );
        // Saturday 2027-01-02 23:59 CET.
        assert!(h.is_open(utc("2027-01-02T22:59:00Z")));
        assert!(!h.is_open(utc("2027-01-02T23:00:00Z")));
    }
}

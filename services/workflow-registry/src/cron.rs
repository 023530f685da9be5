//! A `trigger.schedule` config that parsed: a cron expression (5 fields, or
//! 6 with seconds first) read in an IANA time zone.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use echoflow_domain::{ExecutionPlan, FlowDefinition, GraphFault, ScheduleTrigger, TriggerSpec};
/// The time zone of a schedule that names none.
pub const DEFAULT_TIMEZONE: &str = "UTC";

#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    expression: String,
    timezone: Tz,
}

/// Why a schedule config was refused; `field` is `cron` or `timezone`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ScheduleFault {
    pub field: &'static str,
    pub message: String,
}

impl ScheduleFault {
    fn cron(message: impl Into<String>) -> Self {
        Self {
            field: "cron",
            message: message.into(),
        }
    }
}

impl Schedule {
    /// Parses `cron` (5 or 6 fields, names and `L`/`W`/`#` allowed, no year
    /// field) and `timezone` (an IANA name; UTC when absent). A cron that
    /// never fires again is refused too.
    pub fn parse(cron: &str, timezone: Option<&str>) -> Result<Self, ScheduleFault> {
        let expression = cron.trim();
        let fields = expression.split_whitespace().count();
        if !expression.starts_with('@') && !(5..=6).contains(&fields) {
            return Err(ScheduleFault::cron(format!(
                "a cron expression has 5 fields (minute hour day month weekday) or 6 (seconds first), not {fields}"
            )));
        }
        let parsed = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build()
            .parse(expression)
            .map_err(|e| ScheduleFault::cron(format!("not a valid cron expression: {e}")))?;
        let timezone = timezone.unwrap_or(DEFAULT_TIMEZONE);
        let timezone = Tz::from_str(timezone).map_err(|_| ScheduleFault {
            field: "timezone",
            message: format!("'{timezone}' is not an IANA time zone (e.g. Europe/Berlin, UTC)"),
        })?;
        let schedule = Self {
            cron: parsed,
            expression: expression.to_string(),
            timezone,
        };
        if schedule.next_after(Utc::now()).is_none() {
            return Err(ScheduleFault::cron("this cron expression never fires"));
        }
        Ok(schedule)
    }

    /// The schedule of a `trigger.schedule` node.
    pub fn of_trigger(trigger: &ScheduleTrigger) -> Result<Self, ScheduleFault> {
        let cron = trigger
            .cron
            .as_deref()
            .ok_or_else(|| ScheduleFault::cron("cron is required"))?;
        Self::parse(cron, trigger.timezone.as_deref())
    }

    /// The plan's schedule, if its trigger is `trigger.schedule`.
    pub fn of_plan(plan: &ExecutionPlan) -> Result<Option<Self>, ScheduleFault> {
        match TriggerSpec::of(&plan.trigger) {
            Some(TriggerSpec::Schedule(trigger)) => Self::of_trigger(&trigger).map(Some),
            _ => Ok(None),
        }
    }

    /// The first occurrence strictly after `after`; None if there is none.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&after.with_timezone(&self.timezone), false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    pub fn cron(&self) -> &str {
        &self.expression
    }

    pub fn timezone(&self) -> &str {
        self.timezone.name()
    }
}

/// On save: a compiled definition whose trigger is a schedule must have a
/// cron expression and time zone that work; the fault names the field, e.g.
/// `nodes[0].data.config.cron`.
pub fn check(definition: &FlowDefinition, plan: &ExecutionPlan) -> Result<(), GraphFault> {
    Schedule::of_plan(plan).map(|_| ()).map_err(|fault| {
        let index = definition
            .nodes
            .iter()
            .position(|n| n.id == plan.trigger.id)
            .unwrap_or_default();
        GraphFault::new(
            format!("nodes[{index}].data.config.{}", fault.field),
            fault.message,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn five_fields_fire_on_the_minute_and_six_on_the_second() {
        let minutely = Schedule::parse("*/15 * * * *", None).unwrap();
        assert_eq!(
            minutely.next_after(at("2026-03-01T10:07:30Z")),
            Some(at("2026-03-01T10:15:00Z"))
        );
        let every_second = Schedule::parse("* * * * * *", None).unwrap();
        assert_eq!(
            every_second.next_after(at("2026-03-01T10:07:30.400Z")),
            Some(at("2026-03-01T10:07:31Z"))
        );
        // Strictly after: an occurrence is never returned for itself.
        assert_eq!(
            every_second.next_after(at("2026-03-01T10:07:31Z")),
            Some(at("2026-03-01T10:07:32Z"))
        );
        assert_eq!(every_second.timezone(), "UTC");
        assert_eq!(every_second.cron(), "* * * * * *");
    }

    #[test]
    fn the_time_zone_decides_the_wall_clock_time() {
        let nine_in_berlin = Schedule::parse("0 9 * * 1-5", Some("Europe/Berlin")).unwrap();
        // Winter: UTC+1. Friday 2026-01-09 08:30 UTC is 09:30 in Berlin, so next is Monday.
        assert_eq!(
            nine_in_berlin.next_after(Utc.with_ymd_and_hms(2026, 1, 9, 8, 30, 0).unwrap()),
            Some(Utc.with_ymd_and_hms(2026, 1, 12, 8, 0, 0).unwrap())
        );
        // Summer: UTC+2.
        assert_eq!(
            nine_in_berlin.next_after(Utc.with_ymd_and_hms(2026, 7, 1, 0, 0, 0).unwrap()),
            Some(Utc.with_ymd_and_hms(2026, 7, 1, 7, 0, 0).unwrap())
        );
    }

    #[test]
    fn invalid_expressions_and_zones_name_their_field() {
        for bad in [
            "",
            "not a cron",
            "61 * * * *",
            "* * * *",
            "* * * * * * 2030",
            "0 0 30 2 *",
        ] {
            let fault = Schedule::parse(bad, None).unwrap_err();
            assert_eq!(fault.field, "cron", "{bad:?}: {fault}");
        }
        let fault = Schedule::parse("* * * * *", Some("Mars/Olympus_Mons")).unwrap_err();
        assert_eq!(fault.field, "timezone");
        let no_cron = ScheduleTrigger {
            cron: None,
            timezone: Some("UTC".into()),
        };
        let fault = Schedule::of_trigger(&no_cron).unwrap_err();
        assert_eq!(fault.field, "cron");
    }
}

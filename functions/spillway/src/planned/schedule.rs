//! When Prepare and Recover run, as EventBridge Scheduler one-time schedules: their names, their
//! `at(...)` expressions, and the rule that two plans of one cluster never overlap.

use chrono::{DateTime, FixedOffset, Utc};

use super::plan::EventPlan;
use super::reconcile::{Phase, event_id};

/// Every schedule Spillway creates starts with this (how `spillway event list` finds them).
pub const PREFIX: &str = "spillway-";

/// A schedule's name: `spillway-<event>-<phase>-<8 hex>`, the hex naming the stack and the
/// cluster (Scheduler names: at most 64 of `[0-9a-zA-Z-_.]`; a stack name alone may be 128).
pub fn name(stack: &str, plan: &EventPlan, phase: Phase) -> String {
    let phase = match phase {
        Phase::Prepare => "prepare",
        Phase::Recover => "recover",
    };
    format!(
        "{PREFIX}{}-{phase}-{:08x}",
        event_id(plan),
        owner_hash(stack, &plan.cluster)
    )
}

/// The part of a schedule's name that tells which stack and cluster it belongs to.
pub fn owner_suffix(stack: &str, cluster: &str) -> String {
    format!("-{:08x}", owner_hash(stack, cluster))
}

/// FNV-1a, 32 bits: short, stable across releases and platforms (std's hasher is neither), and
/// too small a need for a crate.
fn owner_hash(stack: &str, cluster: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in stack.bytes().chain([0]).chain(cluster.bytes()) {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Scheduler's one-time expression for an instant, with `ScheduleExpressionTimezone` UTC:
/// `at(yyyy-mm-ddThh:mm:ss)`.
pub fn at_expression(when: DateTime<FixedOffset>) -> String {
    format!(
        "at({})",
        when.with_timezone(&Utc).format("%Y-%m-%dT%H:%M:%S")
    )
}

/// The instant of an `at(...)` expression read as UTC.
pub fn parse_at(expression: &str) -> Option<DateTime<Utc>> {
    let inner = expression.strip_prefix("at(")?.strip_suffix(')')?;
    chrono::NaiveDateTime::parse_from_str(inner, "%Y-%m-%dT%H:%M:%S")
        .ok()
        .map(|t| t.and_utc())
}

/// Whether two plans of the same cluster are in the cluster at the same time, from Prepare's
/// start to Recover's start (Recover itself needs the cluster to itself too).
pub fn overlaps(a: &EventPlan, b: &EventPlan) -> bool {
    if a.cluster != b.cluster {
        return false;
    }
    let (a0, a1) = a.schedule();
    let (b0, b1) = b.schedule();
    a0 <= b1 && b0 <= a1
}

/// What is wrong with scheduling `plan` at `now` beside the plans already scheduled.
pub fn refusal(plan: &EventPlan, scheduled: &[EventPlan], now: DateTime<Utc>) -> Option<String> {
    let (prepare, _) = plan.schedule();
    if prepare.with_timezone(&Utc) <= now {
        return Some(format!(
            "Prepare would start at {} (start − lead), which is not in the future: run it now with `spillway event run prepare`",
            prepare.with_timezone(&Utc).format("%Y-%m-%dT%H:%M:%SZ")
        ));
    }
    scheduled
        .iter()
        .find(|other| event_id(other) != event_id(plan) && overlaps(plan, other))
        .map(|other| {
            let (p, r) = other.schedule();
            format!(
                "the plan overlaps the event {} of cluster {} (Prepare {} – Recover {}): one plan per cluster at a time; cancel it first",
                event_id(other),
                other.cluster,
                p.with_timezone(&Utc).format("%Y-%m-%dT%H:%MZ"),
                r.with_timezone(&Utc).format("%Y-%m-%dT%H:%MZ"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planned::plan::parse;
    use serde_json::json;

    fn plan(start: &str, end: &str) -> EventPlan {
        parse(
            &json!({"cluster": "orders", "start": start, "end": end,
                    "provisionedReaders": 2, "serverlessAcu": {"min": 4, "max": 32}})
            .to_string(),
        )
        .unwrap()
    }

    #[test]
    fn names_fit_scheduler_and_tell_stacks_apart() {
        let p = plan("2026-12-12T20:00:00+01:00", "2026-12-12T23:00:00+01:00");
        let n = name(&"s".repeat(128), &p, Phase::Prepare);
        assert!(n.len() <= 64, "{n}");
        assert!(n.starts_with("spillway-20261212t1900z-prepare-"), "{n}");
        assert!(
            n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        );
        assert_ne!(name("a", &p, Phase::Prepare), name("b", &p, Phase::Prepare));
        assert!(name("a", &p, Phase::Recover).ends_with(&owner_suffix("a", "orders")));
    }

    #[test]
    fn at_expressions_are_utc_and_read_back() {
        let p = plan("2026-12-12T20:00:00+01:00", "2026-12-12T23:00:00+01:00");
        let (prepare, recover) = p.schedule();
        assert_eq!(at_expression(prepare), "at(2026-12-12T18:50:00)");
        assert_eq!(at_expression(recover), "at(2026-12-12T22:30:00)");
        assert_eq!(
            parse_at("at(2026-12-12T18:50:00)"),
            Some(prepare.with_timezone(&Utc))
        );
        assert_eq!(parse_at("rate(5 minutes)"), None);
    }

    #[test]
    fn overlapping_plans_and_past_starts_are_refused() {
        let now: DateTime<Utc> = "2026-12-01T00:00:00Z".parse().unwrap();
        let a = plan("2026-12-12T20:00:00+01:00", "2026-12-12T23:00:00+01:00");
        // Its Prepare (22:20 UTC) falls inside a's hold (Recover at 22:30 UTC).
        let b = plan("2026-12-12T23:30:00+01:00", "2026-12-13T01:00:00+01:00");
        let c = plan("2026-12-13T20:00:00+01:00", "2026-12-13T23:00:00+01:00");
        assert!(overlaps(&a, &b) && overlaps(&b, &a));
        assert!(!overlaps(&a, &c));
        assert!(
            refusal(&b, std::slice::from_ref(&a), now)
                .unwrap()
                .contains("overlaps the event 20261212t1900z")
        );
        assert_eq!(refusal(&c, std::slice::from_ref(&a), now), None);
        // The same plan scheduled again is not an overlap with itself.
        assert_eq!(refusal(&a, std::slice::from_ref(&a), now), None);
        let late: DateTime<Utc> = "2026-12-12T19:00:00Z".parse().unwrap();
        assert!(
            refusal(&a, &[], late)
                .unwrap()
                .contains("not in the future")
        );
    }
}

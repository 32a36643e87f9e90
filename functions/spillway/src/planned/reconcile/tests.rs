use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::planned::model::Model;
use crate::planned::plan::parse;

const SERVERLESS: &str = "orders-serverless";

fn plan_with(extra: serde_json::Value) -> EventPlan {
    let mut doc = json!({
        "cluster": "orders",
        "start": "2026-12-12T20:00:00+01:00",
        "end": "2026-12-12T23:00:00+01:00",
        "writerClass": "db.r6g.4xlarge",
        "provisionedReaders": 3,
        "serverlessAcu": {"min": 8, "max": 64},
    });
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            doc.as_object_mut().unwrap().remove(k);
        } else {
            doc[k] = v.clone();
        }
    }
    parse(&doc.to_string()).unwrap()
}

fn plan() -> EventPlan {
    plan_with(json!({}))
}

fn instance(id: &str, class: &str, writer: bool) -> Instance {
    Instance {
        id: id.into(),
        class: class.into(),
        status: "available".into(),
        writer,
        tier: 1,
        tags: BTreeMap::new(),
        pending_changes: false,
    }
}

fn now() -> DateTime<Utc> {
    "2026-12-12T18:50:00Z".parse().unwrap()
}

fn cluster(readers: usize) -> Observed {
    let mut members = vec![instance("orders-writer", "db.r6g.large", true)];
    for n in 1..=readers {
        members.push(instance(
            &format!("orders-reader-{n}"),
            "db.r6g.large",
            false,
        ));
    }
    members.push(instance(SERVERLESS, "db.serverless", false));
    Observed {
        cluster: "orders".into(),
        status: "available".into(),
        tags: BTreeMap::new(),
        acu: Some(AcuRange {
            min: 0.5,
            max: 16.0,
        }),
        members,
        serverless_instance: SERVERLESS.into(),
        writer_class_orderable: Some(true),
        autoscaling_min: None,
        autoscaling_max: None,
        endpoint: None,
        connections: BTreeMap::new(),
        now: now(),
    }
}

/// The provisioned readers' endpoint as the template creates it: every reader but the
/// serverless one.
fn managed_endpoint() -> Endpoint {
    Endpoint {
        id: "spillway-ro".into(),
        status: "available".into(),
        excluded: vec![SERVERLESS.into()],
    }
}

fn limits() -> Limits {
    Limits::default()
}

fn writer(seen: &Observed) -> &Instance {
    seen.members.iter().find(|m| m.writer).unwrap()
}

fn deleted(model: &Model) -> Vec<String> {
    model
        .log
        .iter()
        .filter_map(|(_, a)| match a {
            Action::DeleteInstance { id } => Some(id.clone()),
            _ => None,
        })
        .collect()
}

fn created(model: &Model) -> Vec<String> {
    model
        .log
        .iter()
        .filter_map(|(_, a)| match a {
            Action::CreateInstance { id, .. } => Some(id.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_plan_is_prepared_and_recovered_back_to_the_cluster_it_found() {
    let plan = plan();
    let mut model = Model::new(cluster(1));
    let before = model.seen.clone();

    let prepared = model.play(Phase::Prepare, &plan, &limits());
    assert_eq!(prepared.outcome, Ok(()), "{:#?}", prepared.lines);
    let during = model.seen.clone();
    let w = writer(&during);
    assert_eq!(w.class, "db.r6g.4xlarge");
    assert_eq!(w.id, "orders-ev202612121900-w");
    assert_eq!(w.tier, TIER_FIRST);
    let old = during.member("orders-writer").unwrap();
    assert!(!old.writer);
    assert_eq!(old.tier, TIER_LAST, "the old writer is last in line");
    // The old writer counts as a provisioned reader: 1 + old writer + 1 created = 3.
    assert_eq!(during.provisioned_readers().count(), 3);
    assert_eq!(
        during.acu,
        Some(AcuRange {
            min: 8.0,
            max: 64.0
        })
    );
    assert_eq!(during.tags.get(EVENT_TAG).unwrap(), "20261212t1900z");
    assert_eq!(
        during.tags.get(RESTORE_TAG).unwrap(),
        "writer=orders-writer tier=1 acu=0.5/16 aasmin=-"
    );
    // About 7 minutes for the writer, a minute of failover, 7 for the reader.
    assert!(
        (14 * 60..20 * 60).contains(&prepared.seconds),
        "{}",
        prepared.seconds
    );

    let recovered = model.play(Phase::Recover, &plan, &limits());
    assert_eq!(recovered.outcome, Ok(()), "{:#?}", recovered.lines);
    let after = &model.seen;
    assert_eq!(writer(after).id, "orders-writer");
    assert_eq!(writer(after).class, "db.r6g.large");
    assert_eq!(writer(after).tier, 1, "its tier restored");
    assert_eq!(after.acu, before.acu);
    assert!(after.tags.is_empty(), "{:?}", after.tags);
    let ids = |s: &Observed| s.members.iter().map(|m| m.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(after), ids(&before));
    assert_eq!(
        deleted(&model),
        vec!["orders-ev202612121900-r1", "orders-ev202612121900-w"]
    );
}

#[test]
fn a_reader_is_deleted_only_after_the_ttl_and_its_drain() {
    let plan = plan_with(json!({"writerClass": null, "provisionedReaders": 2}));
    let mut model = Model::new(cluster(1));
    assert_eq!(model.play(Phase::Prepare, &plan, &limits()).outcome, Ok(()));
    let limits = Limits {
        record_ttl_seconds: 60,
        ..limits()
    };
    // Connections never drain: the deletion waits TTL + drain bound, then goes ahead.
    model.durations.drain_seconds = i64::MAX / 4;
    model.seen.endpoint = None;
    let start = model.seen.now;
    let played = model.play(Phase::Recover, &plan, &limits);
    assert_eq!(played.outcome, Ok(()));
    let (at, _) = model
        .log
        .iter()
        .find(|(_, a)| matches!(a, Action::DeleteInstance { .. }))
        .unwrap();
    let waited = (*at - start).num_seconds();
    let bound = i64::from(limits.record_ttl_seconds + limits.drain_seconds);
    assert!(
        (bound..bound + 2 * i64::from(limits.poll_seconds)).contains(&waited),
        "{waited}"
    );
}

#[test]
fn a_drained_reader_goes_after_the_ttl_not_before() {
    let plan = plan_with(json!({"writerClass": null, "provisionedReaders": 2}));
    let mut seen = cluster(1);
    seen.endpoint = Some(managed_endpoint());
    let mut model = Model::new(seen);
    assert_eq!(model.play(Phase::Prepare, &plan, &limits()).outcome, Ok(()));
    let limits = Limits {
        record_ttl_seconds: 120,
        ..limits()
    };
    let played = model.play(Phase::Recover, &plan, &limits);
    assert_eq!(played.outcome, Ok(()), "{:#?}", played.lines);
    let when = |f: &dyn Fn(&Action) -> bool| {
        model
            .log
            .iter()
            .find(|(_, a)| f(a))
            .map(|(t, _)| *t)
            .unwrap()
    };
    let excluded =
        when(&|a| matches!(a, Action::SetExcluded { excluded, .. } if excluded.len() == 2));
    let deleted = when(&|a| matches!(a, Action::DeleteInstance { .. }));
    let waited = (deleted - excluded).num_seconds();
    // Drained after 90 s, but the TTL is 120 s.
    assert!((120..200).contains(&waited), "{waited}");
    assert_eq!(
        model.seen.endpoint.as_ref().unwrap().excluded,
        vec![SERVERLESS.to_string(), "orders-ev202612121900-r1".into()]
    );
}

#[test]
fn a_run_that_stops_anywhere_resumes_without_a_second_writer() {
    let plan = plan();
    for stop_after in 0..40 {
        let mut model = Model::new(cluster(1));
        // The first run: `stop_after` calls, then it dies (the wait in progress is lost).
        let mut waiting = None;
        for _ in 0..stop_after {
            let Ok(d) = decide(
                Phase::Prepare,
                &plan,
                &model.seen,
                waiting.as_ref(),
                &limits(),
            ) else {
                break;
            };
            for a in &d.actions {
                model.apply(a).unwrap();
            }
            waiting = Waiting::after(waiting.as_ref(), &d, model.seen.now);
            model.advance(31);
        }
        let resumed = model.play(Phase::Prepare, &plan, &limits());
        assert_eq!(resumed.outcome, Ok(()), "stopped after {stop_after}");
        let c = created(&model);
        let writers = c.iter().filter(|id| id.ends_with("-w")).count();
        assert_eq!(writers, 1, "stopped after {stop_after}: {c:?}");
        assert_eq!(model.seen.provisioned_readers().count(), 3);
        assert_eq!(writer(&model.seen).class, "db.r6g.4xlarge");
        // And again: nothing more to do.
        let again = model.play(Phase::Prepare, &plan, &limits());
        assert_eq!(again.outcome, Ok(()));
        assert!(again.lines.is_empty(), "{:?}", again.lines);
    }
}

fn refused(phase: Phase, plan: &EventPlan, seen: &Observed) -> String {
    match decide(phase, plan, seen, None, &limits()) {
        Err(Stop::Refused { step, message }) => format!("{step}: {message}"),
        other => panic!("not refused: {other:?}"),
    }
}

#[test]
fn unsafe_plans_are_refused_before_anything_changes() {
    let plan = plan();
    let mut seen = cluster(1);
    seen.tags.insert(EVENT_TAG.into(), "20261201t0900z".into());
    assert!(
        refused(Phase::Prepare, &plan, &seen).contains("prepared for the event 20261201t0900z")
    );

    let mut seen = cluster(1);
    seen.members.retain(|m| m.id != SERVERLESS);
    assert!(refused(Phase::Prepare, &plan, &seen).contains("serverless reader orders-serverless"));

    let mut seen = cluster(1);
    seen.writer_class_orderable = Some(false);
    assert!(refused(Phase::Prepare, &plan, &seen).contains("db.r6g.4xlarge is not offered"));

    let remove = plan_with(json!({"oldWriter": "remove"}));
    assert!(refused(Phase::Prepare, &remove, &cluster(1)).contains("Spillway did not create"));

    let big = plan_with(json!({"provisionedReaders": 14}));
    assert!(refused(Phase::Prepare, &big, &cluster(1)).contains("Aurora allows 16"));

    let weight = plan_with(json!({"startingServerlessWeight": 20}));
    assert!(refused(Phase::Prepare, &weight, &cluster(1)).contains("not supported yet"));

    let mut seen = cluster(1);
    seen.status = "modifying".into();
    assert!(refused(Phase::Prepare, &plan, &seen).contains("modifying, not available"));

    // Someone else's instance under the name Spillway would create.
    let mut seen = cluster(1);
    seen.members
        .push(instance("orders-ev202612121900-w", "db.r6g.large", false));
    seen.tags.insert(EVENT_TAG.into(), event_id(&plan));
    seen.tags.insert(
        RESTORE_TAG.into(),
        "writer=orders-writer tier=1 acu=0.5/16 aasmin=-".into(),
    );
    assert!(refused(Phase::Prepare, &plan, &seen).contains("Spillway did not create it"));

    assert!(refused(Phase::Recover, &plan, &cluster(1)).contains("no prepare on record"));
}

#[test]
fn a_failback_target_that_is_not_available_is_refused() {
    let plan = plan();
    let mut model = Model::new(cluster(1));
    assert_eq!(model.play(Phase::Prepare, &plan, &limits()).outcome, Ok(()));
    // Recover would delete the reader first; without it the failback comes first.
    let reader = "orders-ev202612121900-r1";
    model.seen.members.retain(|m| m.id != reader);
    model
        .seen
        .members
        .iter_mut()
        .find(|m| m.id == "orders-writer")
        .unwrap()
        .status = "rebooting".into();
    let text = refused(Phase::Recover, &plan, &model.seen);
    assert!(text.starts_with("failback: "), "{text}");
    assert!(text.contains("orders-writer is rebooting"), "{text}");
}

#[test]
fn every_wait_is_bounded_and_names_its_step() {
    let plan = plan();
    let mut model = Model::new(cluster(1));
    model.durations.create_seconds = 10 * 3600;
    let played = model.play(Phase::Prepare, &plan, &limits());
    let err = played.outcome.unwrap_err();
    assert!(
        err.starts_with("PlanStepTimedOut: step writer-available: gave up after 1500 s"),
        "{err}"
    );
    assert!(err.contains("orders-ev202612121900-w is creating"), "{err}");
}

#[test]
fn the_last_provisioned_reader_is_never_deleted() {
    // The cluster's readers went away during the event: ours is the last one.
    let plan = plan_with(json!({"writerClass": null, "provisionedReaders": 2}));
    let mut model = Model::new(cluster(1));
    assert_eq!(model.play(Phase::Prepare, &plan, &limits()).outcome, Ok(()));
    model.seen.members.retain(|m| m.id != "orders-reader-1");
    let text = refused(Phase::Recover, &plan, &model.seen);
    assert!(text.contains("would leave no provisioned reader"), "{text}");
}

#[test]
fn with_auto_scaling_the_minimum_is_raised_and_restored() {
    let plan = plan_with(json!({"writerClass": null, "provisionedReaders": 4}));
    let mut seen = cluster(1);
    seen.autoscaling_min = Some(2);
    let mut model = Model::new(seen);
    let played = model.play(Phase::Prepare, &plan, &limits());
    assert_eq!(played.outcome, Ok(()), "{:#?}", played.lines);
    assert_eq!(
        model.seen.autoscaling_min,
        Some(5),
        "4 provisioned + the serverless one"
    );
    assert_eq!(model.seen.provisioned_readers().count(), 4);
    assert!(created(&model).is_empty(), "auto scaling adds them");
    assert_eq!(model.play(Phase::Recover, &plan, &limits()).outcome, Ok(()));
    assert_eq!(model.seen.autoscaling_min, Some(2));
    assert!(deleted(&model).is_empty(), "auto scaling removes its own");
}

#[test]
fn the_restore_tag_reads_back_and_fits_rds_rules() {
    let r = Restore {
        writer: "a".repeat(63),
        writer_tier: 15,
        acu: Some(AcuRange {
            min: 0.5,
            max: 256.0,
        }),
        autoscaling_min: Some(15),
    };
    let tag = r.to_tag();
    assert!(tag.len() <= 256);
    assert!(
        tag.chars()
            .all(|c| c.is_alphanumeric() || " _.:/=+-@".contains(c))
    );
    assert_eq!(Restore::from_tag(&tag), Ok(r));
    assert!(Restore::from_tag("writer=x tier=99 acu=- aasmin=-").is_err());
}

proptest! {
    #[test]
    fn instance_ids_are_valid_rds_identifiers(cluster in "[a-z][a-z0-9]{0,20}(-[a-z0-9]{1,20}){0,3}") {
        let mut p = plan();
        p.cluster = cluster;
        for role in ["w", "r1", "r14"] {
            let id = instance_id(&p, role);
            prop_assert!(id.len() <= 63, "{id}");
            prop_assert!(!id.contains("--") && !id.ends_with('-'), "{id}");
            prop_assert!(id.starts_with(|c: char| c.is_ascii_lowercase()), "{id}");
        }
    }

    /// Any cluster, any plan, any interruption: Prepare then Recover never deletes what
    /// Spillway did not create, never the serverless reader, never leaves the cluster
    /// without a provisioned reader, and brings back its writer, members and range.
    #[test]
    fn prepare_and_recover_are_safe_anywhere(
        readers in 1usize..5,
        want in 1u32..9,
        change_writer in any::<bool>(),
        endpoint in any::<bool>(),
        autoscaling in any::<bool>(),
        stop_after in 0usize..30,
    ) {
        let plan = plan_with(json!({
            "provisionedReaders": want,
            "writerClass": if change_writer { json!("db.r6g.4xlarge") } else { json!(null) },
        }));
        let mut seen = cluster(readers);
        if endpoint {
            seen.endpoint = Some(managed_endpoint());
        }
        if autoscaling {
            seen.autoscaling_min = Some(readers as u32 + 1);
        }
        let before = seen.clone();
        let mut model = Model::new(seen);
        let mut waiting = None;
        for _ in 0..stop_after {
            let Ok(d) = decide(Phase::Prepare, &plan, &model.seen, waiting.as_ref(), &limits()) else { break };
            for a in &d.actions { model.apply(a).unwrap(); }
            waiting = Waiting::after(waiting.as_ref(), &d, model.seen.now);
            model.advance(31);
        }
        let prepared = model.play(Phase::Prepare, &plan, &limits());
        prop_assert_eq!(&prepared.outcome, &Ok(()));
        prop_assert!(model.seen.provisioned_readers().count() >= want as usize);
        let recovered = model.play(Phase::Recover, &plan, &limits());
        prop_assert_eq!(&recovered.outcome, &Ok(()));

        let ours = |id: &str| id.contains("-ev202612121900-");
        for id in deleted(&model) {
            prop_assert!(ours(&id), "deleted {id}, not Spillway's");
        }
        prop_assert!(model.seen.members.iter().any(|m| m.id == SERVERLESS));
        prop_assert_eq!(writer(&model.seen).id.as_str(), "orders-writer");
        prop_assert_eq!(model.seen.acu, before.acu);
        prop_assert_eq!(model.seen.autoscaling_min, before.autoscaling_min);
        prop_assert!(!model.seen.members.iter().any(|m| ours(&m.id)));
        prop_assert!(model.seen.tags.is_empty());
    }
}

#[test]
fn a_cluster_busy_before_the_failover_delays_it_and_does_not_skip_it() {
    // The temporary writer is ready while the cluster is `modifying` (the ACU change, a
    // maintenance): the failover waits for the cluster, then is issued.
    let plan = plan();
    let mut model = Model::new(cluster(1));
    model.durations.modify_seconds = 9 * 60;
    let played = model.play(Phase::Prepare, &plan, &limits());
    assert_eq!(played.outcome, Ok(()), "{:#?}", played.lines);
    let failovers = model
        .log
        .iter()
        .filter(|(_, a)| matches!(a, Action::Failover { .. }))
        .count();
    assert_eq!(failovers, 1);
    assert_eq!(writer(&model.seen).class, "db.r6g.4xlarge");
    assert!(
        played.lines.iter().any(|l| l.step == "failover-ready"),
        "{:#?}",
        played.lines
    );
}

#[test]
fn a_minimum_above_auto_scalings_maximum_and_pending_changes_are_refused() {
    let mut seen = cluster(1);
    seen.autoscaling_min = Some(2);
    seen.autoscaling_max = Some(3);
    let text = refused(Phase::Prepare, &plan(), &seen);
    assert!(text.contains("above its maximum 3"), "{text}");

    let mut seen = cluster(1);
    seen.members[0].pending_changes = true;
    let text = refused(Phase::Prepare, &plan(), &seen);
    assert!(text.contains("modifications pending"), "{text}");
    // Without a writer change, the writer's pending changes are not Prepare's business.
    let readers_only = plan_with(json!({"writerClass": null}));
    assert!(decide(Phase::Prepare, &readers_only, &seen, None, &limits()).is_ok());
}

#[test]
fn a_reading_from_before_the_drain_does_not_count_as_drained() {
    let plan = plan_with(json!({"writerClass": null, "provisionedReaders": 2}));
    let mut model = Model::new(cluster(1));
    assert_eq!(model.play(Phase::Prepare, &plan, &limits()).outcome, Ok(()));
    let reader = "orders-ev202612121900-r1".to_string();
    // Idle an hour ago; nothing since (no exclusion: no endpoint Spillway manages).
    let old = model.seen.now - chrono::Duration::hours(1);
    model.seen.connections.insert(
        reader.clone(),
        Reading {
            value: 0.0,
            at: old,
        },
    );
    model.durations.drain_seconds = i64::MAX / 4;
    let limits = Limits {
        record_ttl_seconds: 60,
        ..limits()
    };
    let start = model.seen.now;
    assert_eq!(model.play(Phase::Recover, &plan, &limits).outcome, Ok(()));
    let (at, _) = model
        .log
        .iter()
        .find(|(_, a)| matches!(a, Action::DeleteInstance { .. }))
        .unwrap();
    let waited = (*at - start).num_seconds();
    assert!(
        waited >= i64::from(limits.record_ttl_seconds + limits.drain_seconds),
        "deleted after {waited} s on a reading from before the drain"
    );
}

#[test]
fn the_drain_starts_once_the_endpoint_has_applied_the_exclusion() {
    let plan = plan_with(json!({"writerClass": null, "provisionedReaders": 2}));
    let mut seen = cluster(1);
    seen.endpoint = Some(managed_endpoint());
    let mut model = Model::new(seen);
    model.durations.endpoint_seconds = 100;
    assert_eq!(model.play(Phase::Prepare, &plan, &limits()).outcome, Ok(()));
    let played = model.play(Phase::Recover, &plan, &limits());
    assert_eq!(played.outcome, Ok(()), "{:#?}", played.lines);
    let first = |prefix: &str| {
        played
            .lines
            .iter()
            .find(|l| l.step.starts_with(prefix))
            .map(|l| l.at_seconds)
            .unwrap()
    };
    assert!(
        first("drain:") >= first("exclude:") + 100,
        "{:#?}",
        played.lines
    );
}

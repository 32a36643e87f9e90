//! Removing a cluster from a Region stack: refused while its traffic is spilled.
//!
//! A stack update that drops a key from `Clusters` deletes that key's copy in the update's
//! cleanup phase, its records first (they depend on the rest of the copy), the serverless one
//! before the provisioned one, each with the template's values. Route 53 refuses the DELETE of
//! a record whose values do not match ("…the values provided do not match the current
//! values"), so a serverless weight above 0 fails it; and a delete that fails during cleanup
//! does not fail the update: CloudFormation retries it, abandons the resource and completes
//! (aws/aws-cdk-cli#1576 reports these as skipped). The provisioned record is then deleted, and
//! the serverless one stays alone under the name: every read still sent there goes to the
//! serverless reader. The Region's check (`RegionCheck`, which everything else depends on, so
//! it is updated before anything is created, changed or deleted) therefore refuses the update
//! while a removed key's serverless weight is above 0, or cannot be read.
//!
//! Pure: the adapter reads the pair (`crate::shifting::shift::WeightedPairStore`); this decides.

use crate::shifting::shift::{StoreError, WeightedPair};

/// The keys of `old` that `new` no longer lists, in `old`'s order.
pub fn removed_keys(old: &[String], new: &[String]) -> Vec<String> {
    let mut removed: Vec<String> = vec![];
    for key in old {
        if !new.contains(key) && !removed.contains(key) {
            removed.push(key.clone());
        }
    }
    removed
}

/// The read record of cluster `key` in the zone named `zone` (`reads.<key>.<zone>`, as the
/// template names it).
pub fn record_name(key: &str, zone: &str) -> String {
    format!("reads.{key}.{}", zone.trim_end_matches('.'))
}

/// Why removed cluster `key`'s records (`record`) must not be deleted yet, given what reading
/// them found: `None` when the removal is safe (the serverless weight at 0, or no records to
/// delete).
pub fn refusal(key: &str, record: &str, read: &Result<WeightedPair, StoreError>) -> Option<String> {
    match read {
        Ok(pair) if pair.serverless.weight == 0 => None,
        Ok(pair) => Some(format!(
            "cluster key {key} is still spilled: {record} sends weight {} to its serverless \
             reader. Removed now, its serverless record would outlive the provisioned one \
             (CloudFormation's delete of a record whose weight moved fails and is skipped), \
             sending every read of that name to the serverless reader: bring the weight to 0 \
             (its scale-down) and remove the key then",
            pair.serverless.weight
        )),
        // Nothing left to delete, so nothing to leave behind.
        Err(StoreError::NotFound(_)) => None,
        Err(e) => Some(format!(
            "cluster key {key} is being removed, and its records ({record}) could not be read \
             to see that its serverless weight is 0: {e}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shifting::shift::WeightedRecord;

    fn pair(serverless: u16) -> WeightedPair {
        let record = |set: &str, weight| WeightedRecord {
            name: "reads.payments.spillway.internal.".into(),
            record_type: "CNAME".into(),
            set_identifier: set.into(),
            weight,
            ttl: 5,
            values: vec![format!("{set}.example")],
        };
        WeightedPair {
            provisioned: record("provisioned", 100),
            serverless: record("serverless", serverless),
        }
    }

    fn keys(list: &str) -> Vec<String> {
        list.split(',').map(str::to_string).collect()
    }

    #[test]
    fn the_removed_keys_are_those_the_new_list_drops_once_each_in_order() {
        assert_eq!(
            removed_keys(
                &keys("orders,payments,tickets,search"),
                &keys("search,orders")
            ),
            keys("payments,tickets")
        );
        assert_eq!(
            removed_keys(&keys("orders,orders,tickets"), &keys("tickets")),
            keys("orders"),
            "a key listed twice is removed once"
        );
        assert!(
            removed_keys(&keys("orders"), &keys("orders,tickets")).is_empty(),
            "an added key removes nothing"
        );
    }

    #[test]
    fn the_record_is_named_as_the_template_names_it() {
        assert_eq!(
            record_name("payments", "spillway.internal."),
            "reads.payments.spillway.internal"
        );
    }

    #[test]
    fn a_removed_cluster_at_rest_or_without_records_may_go() {
        let r = "reads.payments.spillway.internal";
        assert_eq!(refusal("payments", r, &Ok(pair(0))), None);
        assert_eq!(
            refusal(
                "payments",
                r,
                &Err(StoreError::NotFound("no records".into()))
            ),
            None,
            "no records: nothing to leave behind"
        );
    }

    #[test]
    fn a_removed_cluster_still_spilled_or_unreadable_is_refused_by_name() {
        let r = "reads.payments.spillway.internal";
        let spilled = refusal("payments", r, &Ok(pair(25))).expect("refused while spilled");
        assert!(
            spilled.starts_with("cluster key payments is still spilled")
                && spilled.contains("reads.payments.spillway.internal sends weight 25")
                && spilled.contains("bring the weight to 0"),
            "{spilled}"
        );
        let unread = refusal(
            "payments",
            r,
            &Err(StoreError::Other(
                "ListResourceRecordSets: AccessDenied".into(),
            )),
        )
        .expect("refused when the weight cannot be seen");
        assert!(
            unread.contains("could not be read") && unread.contains("AccessDenied"),
            "{unread}"
        );
    }
}

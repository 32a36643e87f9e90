//! A cluster's weighted pair is deleted only with its traffic back on the provisioned readers:
//! when its key is removed from the stack, and when the stack is deleted.
//!
//! CloudFormation deletes a cluster's records with the template's values (serverless weight 0),
//! the serverless one first (it references the provisioned one). Route 53 takes a DELETE only
//! when it repeats the record's current values, and AWS does not document what
//! `AWS::Route53::RecordSet` does when they moved: the one public report (zalando-stups/senza
//! #184) saw CloudFormation report the delete complete and the record stay. Whether it stays
//! that way or fails and is skipped (a delete that fails in an update's cleanup is retried,
//! then dropped from the stack, and the update completes: CloudFormation's troubleshooting
//! guide, "resource removed from stack but not deleted"), the provisioned record, whose weight
//! did not move, is then deleted, and the serverless one stays alone under the name: every read
//! sent there goes to the serverless reader, with nothing left to bring it back. So:
//! - an update that removes a key is refused by the Region's check (`RegionCheck`, updated
//!   before any cluster's copy, all of which depend on it) while that key's serverless weight
//!   is above 0 or cannot be read ([`removal_refusal`]);
//! - each cluster's `RecordGuard<key>` references its records, so CloudFormation deletes it
//!   before them; its delete fails while the serverless weight is above 0 ([`delete_refusal`]),
//!   which stops a stack delete with the records and everything they depend on still there.
//!
//! Pure: the adapter reads the records ([`PairWeights`]); this decides.

use std::future::Future;

use crate::shifting::shift::StoreError;

/// The weights of the records of a pair that exist (`None`: no such record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PresentWeights {
    pub provisioned: Option<u16>,
    pub serverless: Option<u16>,
}

/// "Read which records of a weighted pair exist, and their weights" (Route 53).
pub trait PairWeights {
    /// A zone that does not exist is [`StoreError::NotFound`].
    fn weights(&self) -> impl Future<Output = Result<PresentWeights, StoreError>> + Send;
}

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

/// The serverless weight that makes deleting the records unsafe (`Ok(None)`: safe: no
/// serverless record, or at 0; a provisioned record alone sends reads only where they belong).
/// `Err`: what kept it from being seen. A zone that no longer exists holds nothing to delete.
fn spilled(read: &Result<PresentWeights, StoreError>) -> Result<Option<u16>, String> {
    match read {
        Ok(present) => Ok(present.serverless.filter(|w| *w > 0)),
        Err(StoreError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// Why removed cluster `key`'s records (`record`) must not be deleted yet, given what reading
/// them found: `None` when the removal is safe.
pub fn removal_refusal(
    key: &str,
    record: &str,
    read: &Result<PresentWeights, StoreError>,
) -> Option<String> {
    match spilled(read) {
        Ok(None) => None,
        Ok(Some(weight)) => Some(format!(
            "cluster key {key} is still spilled: {record} sends weight {weight} to its \
             serverless reader. Removed now, its serverless record would outlive the \
             provisioned one (CloudFormation deletes the records with the template's weights), \
             sending every read of that name to the serverless reader: bring the weight to 0 \
             (its scale-down) and remove the key then"
        )),
        Err(e) => Some(format!(
            "cluster key {key} is being removed, and its records ({record}) could not be read \
             to see that its serverless weight is 0: {e}"
        )),
    }
}

/// Why the records `record` must not be deleted now (their guard's delete, before theirs):
/// `None` when it is safe.
pub fn delete_refusal(record: &str, read: &Result<PresentWeights, StoreError>) -> Option<String> {
    match spilled(read) {
        Ok(None) => None,
        Ok(Some(weight)) => Some(format!(
            "{record} sends weight {weight} to its serverless reader: deleted now, its \
             serverless record would outlive the provisioned one (CloudFormation deletes the \
             records with the template's weights). Bring the weight to 0 (the scale-down \
             machine, or the sweep once the low signal fires), then delete again; do not \
             retain this resource or force the delete, which deletes the records as they are"
        )),
        Err(e) => Some(format!(
            "{record} could not be read to see that its serverless weight is 0, which its \
             delete needs: {e}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &str = "reads.payments.spillway.internal";

    fn pair(
        provisioned: Option<u16>,
        serverless: Option<u16>,
    ) -> Result<PresentWeights, StoreError> {
        Ok(PresentWeights {
            provisioned,
            serverless,
        })
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
    fn records_at_rest_or_gone_may_be_deleted() {
        let safe = [
            pair(Some(100), Some(0)),
            pair(None, None),
            pair(Some(100), None),
            pair(None, Some(0)),
            Err(StoreError::NotFound("NoSuchHostedZone".into())),
        ];
        for read in &safe {
            assert_eq!(removal_refusal("payments", RECORD, read), None, "{read:?}");
            assert_eq!(delete_refusal(RECORD, read), None, "{read:?}");
        }
    }

    #[test]
    fn a_spilled_serverless_record_is_refused_with_or_without_its_provisioned_one() {
        for read in [pair(Some(100), Some(25)), pair(None, Some(25))] {
            let removal = removal_refusal("payments", RECORD, &read).expect("removal refused");
            assert!(
                removal.starts_with("cluster key payments is still spilled")
                    && removal.contains("reads.payments.spillway.internal sends weight 25")
                    && removal.contains("bring the weight to 0"),
                "{removal}"
            );
            let delete = delete_refusal(RECORD, &read).expect("delete refused");
            assert!(
                delete.starts_with("reads.payments.spillway.internal sends weight 25")
                    && delete.contains("then delete again")
                    && delete.contains("do not retain this resource"),
                "{delete}"
            );
        }
    }

    #[test]
    fn unreadable_records_are_refused_naming_why() {
        let read = Err(StoreError::Other(
            "ListResourceRecordSets: AccessDenied".into(),
        ));
        let removal = removal_refusal("payments", RECORD, &read).expect("removal refused");
        assert!(
            removal.contains("could not be read") && removal.contains("AccessDenied"),
            "{removal}"
        );
        let delete = delete_refusal(RECORD, &read).expect("delete refused");
        assert!(
            delete.contains("could not be read") && delete.contains("AccessDenied"),
            "{delete}"
        );
    }
}

//! "Read/write the weighted pair" over Route 53.
//!
//! Read: ListResourceRecordSets from the record's name and type (paginated), exact name match
//! (case and trailing dot normalised), the two set identifiers. Write: one ChangeBatch that
//! DELETEs both records exactly as read and CREATEs them with the new weights (TTL and targets
//! preserved). Route 53 applies a batch atomically and rejects it whole when a DELETE does not
//! match the current record, which makes the write a compare-and-swap: a concurrent change is
//! reported as a conflict, never overwritten.

use aws_sdk_route53::error::ProvideErrorMetadata;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use spillway::region::removal::{PairWeights, PresentWeights};
use spillway::shifting::shift::{StoreError, WeightedPair, WeightedPairStore, WeightedRecord};

/// Where the pair lives.
#[derive(Debug, Clone)]
pub struct PairLocation {
    pub hosted_zone_id: String,
    pub record_name: String,
    pub provisioned_set_identifier: String,
    pub serverless_set_identifier: String,
}

/// The Route 53 adapter.
#[derive(Debug, Clone)]
pub struct Route53Pair {
    client: aws_sdk_route53::Client,
    location: PairLocation,
    name: String,
    /// `MaxItems` of each ListResourceRecordSets page (Route 53's default, 300, when `None`).
    page_size: Option<i32>,
}

/// `Orders.Example.` and `orders.example` are the same name.
pub fn normalize(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with('.') {
        lower
    } else {
        format!("{lower}.")
    }
}

fn error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    call: &str,
    e: aws_sdk_route53::error::SdkError<E>,
) -> StoreError {
    let Some(service) = e.as_service_error() else {
        return StoreError::Other(format!(
            "{call}: {}",
            aws_smithy_types::error::display::DisplayErrorContext(&e)
        ));
    };
    classify(call, service.code(), service.message().unwrap_or_default())
}

/// The messages of `InvalidChangeBatch` that mean "the records are no longer what was read" —
/// the compare-and-swap missed. Route 53 uses the same code for permanent errors too ("not
/// permitted in zone", a CNAME beside other data, a malformed value): those must not be retried
/// as conflicts.
const COMPARE_AND_SWAP_MISSES: [&str; 3] = [
    "but it was not found",
    "values provided do not match the current values",
    "but it already exists",
];

/// Maps a Route 53 error code and message to the port's error.
fn classify(call: &str, code: Option<&str>, text: &str) -> StoreError {
    let message = format!("{call}: {}: {text}", code.unwrap_or("error"));
    match code {
        c if crate::is_throttling(c) => StoreError::Throttled(message),
        Some("NoSuchHostedZone") => StoreError::NotFound(message),
        Some("InvalidChangeBatch") if COMPARE_AND_SWAP_MISSES.iter().any(|m| text.contains(m)) => {
            StoreError::Conflict(message)
        }
        _ => StoreError::Other(message),
    }
}

impl Route53Pair {
    pub fn new(client: aws_sdk_route53::Client, location: PairLocation) -> Self {
        let name = normalize(&location.record_name);
        Self {
            client,
            location,
            name,
            page_size: None,
        }
    }

    /// The same client for the pair at `location` (another cluster's).
    pub fn with_location(&self, location: PairLocation) -> Self {
        Self {
            page_size: self.page_size,
            ..Self::new(self.client.clone(), location)
        }
    }

    /// Reads in pages of `items` records (1–300), so tests see the pair split across pages.
    pub fn with_page_size(mut self, items: i32) -> Self {
        self.page_size = Some(items);
        self
    }

    fn to_record(&self, rrs: &ResourceRecordSet) -> Result<WeightedRecord, StoreError> {
        let set = rrs.set_identifier().unwrap_or_default().to_owned();
        // The write re-creates the record from the fields below only; anything else it carries
        // would be dropped (or make the exact-match DELETE fail forever): refuse, do not rewrite.
        let uncopied = [
            ("a health check", rrs.health_check_id().is_some()),
            ("alias target", rrs.alias_target().is_some()),
            ("latency region", rrs.region().is_some()),
            ("geolocation", rrs.geo_location().is_some()),
            (
                "geoproximity location",
                rrs.geo_proximity_location().is_some(),
            ),
            ("failover role", rrs.failover().is_some()),
            ("multivalue answer", rrs.multi_value_answer().is_some()),
            ("CIDR routing", rrs.cidr_routing_config().is_some()),
            ("traffic policy", rrs.traffic_policy_instance_id().is_some()),
        ];
        if let Some((what, _)) = uncopied.iter().find(|(_, present)| *present) {
            return Err(StoreError::Mismatch(format!(
                "{} ({set}) carries {what}, which Spillway's weight write would not preserve",
                self.name
            )));
        }
        if rrs.r#type() != &RrType::Cname {
            return Err(StoreError::Mismatch(format!(
                "{} ({set}) is a {} record, not CNAME",
                self.name,
                rrs.r#type().as_str()
            )));
        }
        let weight = rrs
            .weight()
            .ok_or_else(|| StoreError::Mismatch(format!("{} ({set}) has no weight", self.name)))?;
        let ttl = rrs.ttl().ok_or_else(|| {
            StoreError::Mismatch(format!("{} ({set}) is an alias or has no TTL", self.name))
        })?;
        Ok(WeightedRecord {
            name: rrs.name().to_owned(),
            record_type: "CNAME".into(),
            set_identifier: set,
            weight: weight.clamp(0, 255) as u16,
            ttl,
            values: rrs
                .resource_records()
                .iter()
                .map(|r| r.value().to_owned())
                .collect(),
        })
    }
}

fn record_set(r: &WeightedRecord, weight: u16) -> Result<ResourceRecordSet, StoreError> {
    let records = r
        .values
        .iter()
        .map(|v| ResourceRecord::builder().value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StoreError::Other(e.to_string()))?;
    ResourceRecordSet::builder()
        .name(&r.name)
        .r#type(RrType::Cname)
        .set_identifier(&r.set_identifier)
        .weight(i64::from(weight))
        .ttl(r.ttl)
        .set_resource_records(Some(records))
        .build()
        .map_err(|e| StoreError::Other(e.to_string()))
}

fn change(action: ChangeAction, set: ResourceRecordSet) -> Result<Change, StoreError> {
    Change::builder()
        .action(action)
        .resource_record_set(set)
        .build()
        .map_err(|e| StoreError::Other(e.to_string()))
}

impl Route53Pair {
    /// The pair's records that exist (a zone that does not exist is `NotFound`).
    async fn find(&self) -> Result<(Option<WeightedRecord>, Option<WeightedRecord>), StoreError> {
        let (mut provisioned, mut serverless) = (None, None);
        let mut start: Option<(String, RrType, Option<String>)> =
            Some((self.name.clone(), RrType::Cname, None));
        // By hand: the SDK has no paginator for ListResourceRecordSets (its next page starts
        // from a name, type and identifier, not a token).
        'pages: while let Some((name, rtype, identifier)) = start.take() {
            let page = self
                .client
                .list_resource_record_sets()
                .hosted_zone_id(&self.location.hosted_zone_id)
                .start_record_name(name)
                .start_record_type(rtype)
                .set_start_record_identifier(identifier)
                .set_max_items(self.page_size)
                .send()
                .await
                .map_err(|e| error("ListResourceRecordSets", e))?;
            for rrs in page.resource_record_sets() {
                // Sorted by name: past ours, there is nothing more to find.
                if normalize(rrs.name()) != self.name {
                    break 'pages;
                }
                let set = rrs.set_identifier().unwrap_or_default();
                if set == self.location.provisioned_set_identifier {
                    provisioned = Some(self.to_record(rrs)?);
                } else if set == self.location.serverless_set_identifier {
                    serverless = Some(self.to_record(rrs)?);
                }
            }
            if page.is_truncated()
                && let (Some(n), Some(t)) = (page.next_record_name(), page.next_record_type())
            {
                start = Some((
                    n.to_owned(),
                    t.clone(),
                    page.next_record_identifier().map(str::to_owned),
                ));
            }
        }
        Ok((provisioned, serverless))
    }
}

impl PairWeights for Route53Pair {
    async fn weights(&self) -> Result<PresentWeights, StoreError> {
        let (provisioned, serverless) = self.find().await?;
        Ok(PresentWeights {
            provisioned: provisioned.map(|r| r.weight),
            serverless: serverless.map(|r| r.weight),
        })
    }
}

impl WeightedPairStore for Route53Pair {
    async fn read(&self) -> Result<WeightedPair, StoreError> {
        let (provisioned, serverless) = self.find().await?;
        let missing = |set: &str| {
            StoreError::NotFound(format!(
                "no weighted record {} with set identifier `{set}` in zone {}",
                self.name, self.location.hosted_zone_id
            ))
        };
        Ok(WeightedPair {
            provisioned: provisioned
                .ok_or_else(|| missing(&self.location.provisioned_set_identifier))?,
            serverless: serverless
                .ok_or_else(|| missing(&self.location.serverless_set_identifier))?,
        })
    }

    async fn write(
        &self,
        current: &WeightedPair,
        serverless_weight: u16,
        provisioned_weight: u16,
    ) -> Result<String, StoreError> {
        let changes = vec![
            change(
                ChangeAction::Delete,
                record_set(&current.serverless, current.serverless.weight)?,
            )?,
            change(
                ChangeAction::Create,
                record_set(&current.serverless, serverless_weight)?,
            )?,
            change(
                ChangeAction::Delete,
                record_set(&current.provisioned, current.provisioned.weight)?,
            )?,
            change(
                ChangeAction::Create,
                record_set(&current.provisioned, provisioned_weight)?,
            )?,
        ];
        let batch = ChangeBatch::builder()
            .comment(format!(
                "Spillway: serverless weight {} -> {}, provisioned {} -> {}",
                current.serverless.weight,
                serverless_weight,
                current.provisioned.weight,
                provisioned_weight
            ))
            .set_changes(Some(changes))
            .build()
            .map_err(|e| StoreError::Other(e.to_string()))?;
        let out = self
            .client
            .change_resource_record_sets()
            .hosted_zone_id(&self.location.hosted_zone_id)
            .change_batch(batch)
            .send()
            .await
            .map_err(|e| error("ChangeResourceRecordSets", e))?;
        Ok(out
            .change_info()
            .map(|c| c.id().to_owned())
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_the_compare_and_swap_misses_should_be_a_conflict_and_anything_else_an_aws_error() {
        // The messages Route 53 returns (ChangeResourceRecordSets API reference).
        let conflicts = [
            "[Tried to delete resource record set [name='reads.orders.internal.', type='CNAME', set-identifier='serverless'] but it was not found]",
            "[Tried to delete resource record set [name='reads.orders.internal.', type='CNAME', set-identifier='serverless'] but the values provided do not match the current values]",
            "[Tried to create resource record set [name='reads.orders.internal.', type='CNAME', set-identifier='serverless'] but it already exists]",
        ];
        for text in conflicts {
            assert!(
                matches!(
                    classify("ChangeResourceRecordSets", Some("InvalidChangeBatch"), text),
                    StoreError::Conflict(_)
                ),
                "{text} is a compare-and-swap miss"
            );
        }
        let permanent = [
            "[RRSet with DNS name reads.other.internal. is not permitted in zone orders.internal.]",
            "[RRSet of type CNAME with DNS name reads.orders.internal. is not permitted because a conflicting RRSet of type A with the same DNS name already exists in zone orders.internal.]",
            "[Invalid Resource Record: FATAL problem: DomainLabelTooLong]",
        ];
        for text in permanent {
            assert!(
                matches!(
                    classify("ChangeResourceRecordSets", Some("InvalidChangeBatch"), text),
                    StoreError::Other(_)
                ),
                "{text} is permanent: AwsError, not a conflict to retry"
            );
        }
        assert!(matches!(
            classify(
                "ChangeResourceRecordSets",
                Some("PriorRequestNotComplete"),
                "wait"
            ),
            StoreError::Throttled(_)
        ));
    }

    fn pair() -> Route53Pair {
        let conf = aws_sdk_route53::Config::builder()
            .behavior_version(aws_sdk_route53::config::BehaviorVersion::latest())
            .build();
        Route53Pair::new(
            aws_sdk_route53::Client::from_conf(conf),
            PairLocation {
                hosted_zone_id: "Z1".into(),
                record_name: "reads.orders.internal".into(),
                provisioned_set_identifier: "provisioned".into(),
                serverless_set_identifier: "serverless".into(),
            },
        )
    }

    fn weighted() -> aws_sdk_route53::types::builders::ResourceRecordSetBuilder {
        ResourceRecordSet::builder()
            .name("reads.orders.internal.")
            .r#type(RrType::Cname)
            .set_identifier("serverless")
            .weight(0)
            .ttl(5)
            .resource_records(
                ResourceRecord::builder()
                    .value("x.example")
                    .build()
                    .unwrap(),
            )
    }

    #[test]
    fn when_a_record_carries_attributes_the_write_drops_should_refuse_it() {
        let plain = weighted().build().unwrap();
        assert!(
            pair().to_record(&plain).is_ok(),
            "a plain weighted CNAME is ours"
        );
        let checked = weighted().health_check_id("hc-1").build().unwrap();
        let err = pair().to_record(&checked).expect_err("health check");
        assert!(
            matches!(&err, StoreError::Mismatch(m) if m.contains("health check")),
            "{err}"
        );
        let multi = weighted().multi_value_answer(true).build().unwrap();
        assert!(matches!(
            pair().to_record(&multi),
            Err(StoreError::Mismatch(_))
        ));
    }

    #[test]
    fn when_names_differ_in_case_or_trailing_dot_should_normalize_equal() {
        assert_eq!(normalize("Reads.Orders.Internal"), "reads.orders.internal.");
        assert_eq!(
            normalize("reads.orders.internal."),
            "reads.orders.internal."
        );
    }
}

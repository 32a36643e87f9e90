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
use spillway::shift::{StoreError, WeightedPair, WeightedPairStore, WeightedRecord};

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
    let code = service.code();
    let message = format!(
        "{call}: {}: {}",
        code.unwrap_or("error"),
        service.message().unwrap_or_default()
    );
    match code {
        c if crate::is_throttling(c) => StoreError::Throttled(message),
        Some("NoSuchHostedZone") => StoreError::NotFound(message),
        Some("InvalidChangeBatch") => StoreError::Conflict(message),
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
        }
    }

    fn to_record(&self, rrs: &ResourceRecordSet) -> Result<WeightedRecord, StoreError> {
        let set = rrs.set_identifier().unwrap_or_default().to_owned();
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
            weight: u16::try_from(weight.clamp(0, 255)).unwrap_or(0),
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

impl WeightedPairStore for Route53Pair {
    async fn read(&self) -> Result<WeightedPair, StoreError> {
        let (mut provisioned, mut serverless) = (None, None);
        let mut start: Option<(String, RrType, Option<String>)> =
            Some((self.name.clone(), RrType::Cname, None));
        'pages: while let Some((name, rtype, identifier)) = start.take() {
            let page = self
                .client
                .list_resource_record_sets()
                .hosted_zone_id(&self.location.hosted_zone_id)
                .start_record_name(name)
                .start_record_type(rtype)
                .set_start_record_identifier(identifier)
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
    fn when_names_differ_in_case_or_trailing_dot_should_normalize_equal() {
        assert_eq!(normalize("Reads.Orders.Internal"), "reads.orders.internal.");
        assert_eq!(
            normalize("reads.orders.internal."),
            "reads.orders.internal."
        );
    }
}

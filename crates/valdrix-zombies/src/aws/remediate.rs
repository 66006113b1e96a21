//! Remediation on AWS, through the same SDK clients as the scan.
//!
//! Every action first checks that the resource is still what the finding said (a volume still
//! attached to nothing, an address still associated with nothing, an instance still running): if
//! not, the step is skipped and nothing is touched. A dry run sends each call with EC2's
//! `DryRun` flag, which checks permissions and parameters without acting; only
//! `DryRunOperation` ("would have succeeded") counts as success. A volume is deleted only after
//! the snapshot taken of it is `completed`.

use super::{call_error, AwsProvider};
use crate::provider::ProviderError;
use crate::rules::Action;
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{ResourceType, SnapshotState, Tag, TagSpecification, VolumeState};
use std::time::Duration;

/// How long a snapshot may take to complete before its volume's deletion is given up.
const SNAPSHOT_WAIT: Duration = Duration::from_secs(15 * 60);

/// What a remediation step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done; what was done.
    Done(String),
    /// Dry run: AWS says every call would succeed.
    WouldSucceed(String),
    /// Not done: the resource is no longer what the finding said.
    Skipped(String),
}

/// A dry-run call's answer: `DryRunOperation` means it would have succeeded.
fn dry<T, E>(
    service: &str,
    operation: &str,
    result: Result<T, aws_sdk_ec2::error::SdkError<E>>,
) -> Result<(), ProviderError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    aws_sdk_ec2::error::SdkError<E>: ProvideErrorMetadata,
{
    match result {
        Err(e) if e.code() == Some("DryRunOperation") => Ok(()),
        Err(e) => Err(call_error(service, operation, e)),
        Ok(_) => Err(ProviderError::Call {
            service: service.into(),
            operation: operation.into(),
            message: "the endpoint acted on a DryRun request".into(),
        }),
    }
}

fn not_found<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code().is_some_and(|c| c.ends_with(".NotFound") || c.ends_with("NotFound"))
}

impl AwsProvider {
    /// Carries out (or with `dry_run`, checks) one action on one resource. `label` names the
    /// plan in what is created (the snapshot's description and tag).
    pub async fn remediate(
        &self,
        region: &str,
        action: Action,
        resource_id: &str,
        dry_run: bool,
        label: &str,
    ) -> Result<Outcome, ProviderError> {
        let ec2 = self.clients(region).ec2.clone();
        match action {
            Action::SnapshotAndDeleteVolume => {
                let volume = match ec2.describe_volumes().volume_ids(resource_id).send().await {
                    Ok(out) => out.volumes().first().cloned(),
                    Err(e) if not_found(&e) => None,
                    Err(e) => return Err(call_error("ec2", "DescribeVolumes", e)),
                };
                let Some(volume) = volume else {
                    return Ok(Outcome::Skipped(format!("{resource_id} no longer exists")));
                };
                if volume.state() != Some(&VolumeState::Available) || !volume.attachments().is_empty() {
                    let state = volume.state().map_or("unknown", |s| s.as_str());
                    return Ok(Outcome::Skipped(format!("{resource_id} is {state} now, not attached to nothing")));
                }
                if dry_run {
                    dry(
                        "ec2",
                        "CreateSnapshot",
                        ec2.create_snapshot().volume_id(resource_id).dry_run(true).send().await,
                    )?;
                    dry("ec2", "DeleteVolume", ec2.delete_volume().volume_id(resource_id).dry_run(true).send().await)?;
                    return Ok(Outcome::WouldSucceed(format!("would snapshot {resource_id}, then delete it")));
                }
                let tags = TagSpecification::builder()
                    .resource_type(ResourceType::Snapshot)
                    .tags(Tag::builder().key("valdrix:remediation").value(label).build())
                    .tags(Tag::builder().key("valdrix:volume").value(resource_id).build())
                    .build();
                let snapshot = ec2
                    .create_snapshot()
                    .volume_id(resource_id)
                    .description(format!("valdrix {label}: {resource_id} before its deletion"))
                    .tag_specifications(tags)
                    .send()
                    .await
                    .map_err(|e| call_error("ec2", "CreateSnapshot", e))?;
                let snapshot_id = snapshot.snapshot_id().unwrap_or_default().to_string();
                self.wait_for_snapshot(&ec2, &snapshot_id).await?;
                ec2.delete_volume()
                    .volume_id(resource_id)
                    .send()
                    .await
                    .map_err(|e| call_error("ec2", "DeleteVolume", e))?;
                Ok(Outcome::Done(format!("snapshot {snapshot_id} completed, then {resource_id} deleted")))
            }
            Action::ReleaseAddress => {
                let address = match ec2.describe_addresses().allocation_ids(resource_id).send().await {
                    Ok(out) => out.addresses().first().cloned(),
                    Err(e) if not_found(&e) => None,
                    Err(e) => return Err(call_error("ec2", "DescribeAddresses", e)),
                };
                let Some(address) = address else {
                    return Ok(Outcome::Skipped(format!("{resource_id} no longer exists")));
                };
                let associated = [address.association_id(), address.instance_id(), address.network_interface_id()]
                    .iter()
                    .any(|v| v.is_some_and(|s| !s.is_empty()));
                if associated {
                    return Ok(Outcome::Skipped(format!("{resource_id} is associated now")));
                }
                if dry_run {
                    dry(
                        "ec2",
                        "ReleaseAddress",
                        ec2.release_address().allocation_id(resource_id).dry_run(true).send().await,
                    )?;
                    return Ok(Outcome::WouldSucceed(format!("would release {resource_id}")));
                }
                ec2.release_address()
                    .allocation_id(resource_id)
                    .send()
                    .await
                    .map_err(|e| call_error("ec2", "ReleaseAddress", e))?;
                Ok(Outcome::Done(format!("{resource_id} ({}) released", address.public_ip().unwrap_or("?"))))
            }
            Action::StopInstance => {
                let instance = match ec2.describe_instances().instance_ids(resource_id).send().await {
                    Ok(out) => out.reservations().iter().flat_map(|r| r.instances()).next().cloned(),
                    Err(e) if not_found(&e) => None,
                    Err(e) => return Err(call_error("ec2", "DescribeInstances", e)),
                };
                let Some(instance) = instance else {
                    return Ok(Outcome::Skipped(format!("{resource_id} no longer exists")));
                };
                let state = instance.state().and_then(|s| s.name()).map_or("unknown", |s| s.as_str());
                if state != "running" {
                    return Ok(Outcome::Skipped(format!("{resource_id} is {state} now")));
                }
                if dry_run {
                    dry(
                        "ec2",
                        "StopInstances",
                        ec2.stop_instances().instance_ids(resource_id).dry_run(true).send().await,
                    )?;
                    return Ok(Outcome::WouldSucceed(format!("would stop {resource_id}")));
                }
                ec2.stop_instances()
                    .instance_ids(resource_id)
                    .send()
                    .await
                    .map_err(|e| call_error("ec2", "StopInstances", e))?;
                Ok(Outcome::Done(format!("{resource_id} stopped (its volumes are kept)")))
            }
            Action::DeleteSnapshot => {
                let exists = match ec2.describe_snapshots().snapshot_ids(resource_id).send().await {
                    Ok(out) => !out.snapshots().is_empty(),
                    Err(e) if not_found(&e) => false,
                    Err(e) => return Err(call_error("ec2", "DescribeSnapshots", e)),
                };
                if !exists {
                    return Ok(Outcome::Skipped(format!("{resource_id} no longer exists")));
                }
                if dry_run {
                    dry(
                        "ec2",
                        "DeleteSnapshot",
                        ec2.delete_snapshot().snapshot_id(resource_id).dry_run(true).send().await,
                    )?;
                    return Ok(Outcome::WouldSucceed(format!("would delete {resource_id}")));
                }
                ec2.delete_snapshot()
                    .snapshot_id(resource_id)
                    .send()
                    .await
                    .map_err(|e| call_error("ec2", "DeleteSnapshot", e))?;
                Ok(Outcome::Done(format!("{resource_id} deleted")))
            }
        }
    }

    /// Waits until a snapshot is `completed`; an `error` state or the time limit is a failure.
    async fn wait_for_snapshot(&self, ec2: &aws_sdk_ec2::Client, snapshot_id: &str) -> Result<(), ProviderError> {
        let give_up = tokio::time::Instant::now() + SNAPSHOT_WAIT;
        loop {
            let out = ec2
                .describe_snapshots()
                .snapshot_ids(snapshot_id)
                .send()
                .await
                .map_err(|e| call_error("ec2", "DescribeSnapshots", e))?;
            match out.snapshots().first().and_then(|s| s.state()) {
                Some(SnapshotState::Completed) => return Ok(()),
                Some(SnapshotState::Error) => {
                    return Err(ProviderError::Call {
                        service: "ec2".into(),
                        operation: "CreateSnapshot".into(),
                        message: format!("snapshot {snapshot_id} failed; the volume was kept"),
                    })
                }
                _ if tokio::time::Instant::now() >= give_up => {
                    return Err(ProviderError::Call {
                        service: "ec2".into(),
                        operation: "CreateSnapshot".into(),
                        message: format!("snapshot {snapshot_id} did not complete in 15 minutes; the volume was kept"),
                    })
                }
                _ => tokio::time::sleep(Duration::from_secs(5)).await,
            }
        }
    }
}

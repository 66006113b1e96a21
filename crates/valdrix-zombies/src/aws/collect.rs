//! One collector per resource type: the SDK calls that list it, and the mapping of the SDK's
//! shapes to [`Resource`] and its [`Details`].
//!
//! Lists are read to the end through the SDK's paginators. Lookups per resource (target health,
//! endpoint variants, repository images) run a few at a time, so that one region with hundreds of
//! load balancers neither runs serially nor floods the API.

use super::{call_error, to_chrono, Clients};
use crate::provider::ProviderError;
use crate::resource::{Details, Kind, PartialUpload, Resource, Targets};
use chrono::{DateTime, NaiveDateTime, Utc};
use futures::{stream, StreamExt, TryStreamExt};
use std::collections::BTreeMap;

/// Per-resource lookups in flight at once within one listing.
const LOOKUPS: usize = 8;

/// Classic and v2 DescribeTags take at most 20 names or ARNs a call.
const TAG_BATCH: usize = 20;

/// Every item of a paginated request, read to the end; a failure names the call.
///
/// A macro because each SDK request builder is its own type, with no trait over them.
macro_rules! every {
    ($request:expr, $service:literal, $operation:literal) => {
        $request.into_paginator().items().send().try_collect().await.map_err(|e| call_error($service, $operation, e))
    };
}

/// One region's listing context.
pub(super) struct Listing<'a> {
    pub clients: &'a Clients,
    pub region: &'a str,
    pub account: &'a str,
}

/// Runs per-resource lookups [`LOOKUPS`] at a time, answers in order; the first failure ends them.
async fn a_few_at_a_time<T, F>(lookups: impl IntoIterator<Item = F>) -> Result<Vec<T>, ProviderError>
where
    F: std::future::Future<Output = Result<T, ProviderError>>,
{
    stream::iter(lookups).buffered(LOOKUPS).try_collect().await
}

/// EC2's empty strings (moto fills absent association fields with them) are absent values.
fn present(s: Option<&str>) -> Option<String> {
    s.filter(|s| !s.is_empty()).map(str::to_string)
}

/// Tags from (key, value) pairs, whichever SDK's tag type they come from; a tag without a key
/// is dropped, one without a value has the empty value.
fn tag_map<'t>(pairs: impl Iterator<Item = (Option<&'t str>, Option<&'t str>)>) -> BTreeMap<String, String> {
    pairs.filter_map(|(k, v)| Some((k?.to_string(), v.unwrap_or_default().to_string()))).collect()
}

fn ec2_tags(tags: &[aws_sdk_ec2::types::Tag]) -> BTreeMap<String, String> {
    tag_map(tags.iter().map(|t| (t.key(), t.value())))
}

/// When an instance entered its state: EC2 writes it into the state transition reason, as in
/// `User initiated (2024-01-31 17:04:12 GMT)`.
pub(crate) fn transition_time(reason: &str) -> Option<DateTime<Utc>> {
    let open = reason.rfind('(')?;
    let close = reason[open..].find(')')? + open;
    let inner = reason[open + 1..close].trim().trim_end_matches("GMT").trim_end_matches("UTC").trim();
    NaiveDateTime::parse_from_str(inner, "%Y-%m-%d %H:%M:%S").ok().map(|t| t.and_utc())
}

/// The part of a v2 load balancer's ARN that CloudWatch names it by (`app/NAME/ID`).
pub(crate) fn v2_metric_name(arn: &str) -> String {
    arn.split_once(":loadbalancer/").map_or(arn, |(_, rest)| rest).to_string()
}

impl Listing<'_> {
    fn resource(&self, kind: Kind, id: String, details: Details) -> Resource {
        Resource {
            kind,
            id,
            aliases: Vec::new(),
            region: self.region.to_string(),
            account: self.account.to_string(),
            name: None,
            created: None,
            tags: BTreeMap::new(),
            details,
        }
    }

    /// An EC2 resource (`path` is its ARN's resource type, `volume`): the ARN as an alias, its
    /// tags, and its `Name` tag as its name.
    fn ec2(
        &self,
        (kind, path, id): (Kind, &str, String),
        details: Details,
        created: Option<&aws_smithy_types::DateTime>,
        tags: &[aws_sdk_ec2::types::Tag],
    ) -> Resource {
        let mut r = self.resource(kind, id.clone(), details);
        r.aliases.push(self.arn("ec2", &format!("{path}/{id}")));
        r.created = created.and_then(to_chrono);
        r.tags = ec2_tags(tags);
        r.name = r.tags.get("Name").cloned();
        r
    }

    fn arn(&self, service: &str, rest: &str) -> String {
        format!("arn:aws:{service}:{}:{}:{rest}", self.region, self.account)
    }

    /// Every resource of a type in the region.
    pub async fn list(&self, kind: Kind) -> Result<Vec<Resource>, ProviderError> {
        match kind {
            Kind::EbsVolume => self.volumes().await,
            Kind::EbsSnapshot => self.snapshots().await,
            Kind::Ami => self.images().await,
            Kind::LaunchTemplate => self.launch_templates().await,
            Kind::ElasticIp => self.addresses().await,
            Kind::Ec2Instance => self.instances().await,
            Kind::NatGateway => self.nat_gateways().await,
            Kind::ClassicLoadBalancer => self.classic_load_balancers().await,
            Kind::LoadBalancerV2 => self.v2_load_balancers().await,
            Kind::RdsInstance => self.databases().await,
            Kind::RedshiftCluster => self.clusters().await,
            Kind::SageMakerEndpoint => self.endpoints().await,
            Kind::EcrImage => self.container_images().await,
            Kind::S3Bucket => self.buckets().await,
            other => Err(ProviderError::Unsupported("the AWS provider", other.as_str())),
        }
    }

    async fn volumes(&self) -> Result<Vec<Resource>, ProviderError> {
        let volumes = every!(self.clients.ec2.describe_volumes(), "ec2", "DescribeVolumes")?;
        Ok(volumes
            .into_iter()
            .filter_map(|v| {
                let id = v.volume_id()?.to_string();
                Some(self.ec2(
                    (Kind::EbsVolume, "volume", id),
                    Details::Volume {
                        volume_type: v.volume_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
                        size_gib: v.size().map_or(0, i64::from),
                        iops: v.iops().map(i64::from),
                        state: v.state().map(|s| s.as_str().to_string()).unwrap_or_default(),
                        attached_to: v.attachments().iter().filter_map(|a| present(a.instance_id())).collect(),
                        state_since: None,
                    },
                    v.create_time(),
                    v.tags(),
                ))
            })
            .collect())
    }

    async fn snapshots(&self) -> Result<Vec<Resource>, ProviderError> {
        // Only the account's own: public snapshots of others are not the account's to clean up.
        let snapshots = every!(self.clients.ec2.describe_snapshots().owner_ids("self"), "ec2", "DescribeSnapshots")?;
        Ok(snapshots
            .into_iter()
            .filter_map(|s| {
                let id = s.snapshot_id()?.to_string();
                Some(self.ec2(
                    (Kind::EbsSnapshot, "snapshot", id),
                    Details::Snapshot {
                        volume_id: present(s.volume_id()),
                        size_gib: s.volume_size().map_or(0, i64::from),
                        owner: s.owner_id().unwrap_or_default().to_string(),
                    },
                    s.start_time(),
                    s.tags(),
                ))
            })
            .collect())
    }

    async fn images(&self) -> Result<Vec<Resource>, ProviderError> {
        let images = every!(self.clients.ec2.describe_images().owners("self"), "ec2", "DescribeImages")?;
        Ok(images
            .into_iter()
            .filter_map(|i| {
                let snapshots =
                    i.block_device_mappings().iter().filter_map(|m| present(m.ebs()?.snapshot_id())).collect();
                let mut r = self.resource(Kind::Ami, i.image_id()?.to_string(), Details::ImageLike { snapshots });
                r.name = i.name().map(str::to_string);
                r.created =
                    i.creation_date().and_then(|d| DateTime::parse_from_rfc3339(d).ok()).map(|d| d.with_timezone(&Utc));
                r.tags = ec2_tags(i.tags());
                Some(r)
            })
            .collect())
    }

    async fn launch_templates(&self) -> Result<Vec<Resource>, ProviderError> {
        let ec2 = &self.clients.ec2;
        let templates = every!(ec2.describe_launch_templates(), "ec2", "DescribeLaunchTemplates")?;
        // Every version counts: an old version can still be launched, and keeps its snapshots.
        let templates: Vec<_> =
            templates.into_iter().filter_map(|t| Some((t.launch_template_id()?.to_string(), t))).collect();
        a_few_at_a_time(templates.into_iter().map(|(id, t)| async move {
            let versions = every!(
                ec2.describe_launch_template_versions().launch_template_id(&id),
                "ec2",
                "DescribeLaunchTemplateVersions"
            )?;
            let snapshots = versions
                .iter()
                .filter_map(|v| v.launch_template_data())
                .flat_map(|d| d.block_device_mappings())
                .filter_map(|m| present(m.ebs()?.snapshot_id()))
                .collect();
            let mut r = self.resource(Kind::LaunchTemplate, id, Details::ImageLike { snapshots });
            r.name = t.launch_template_name().map(str::to_string);
            r.created = t.create_time().and_then(to_chrono);
            r.tags = ec2_tags(t.tags());
            Ok(r)
        }))
        .await
    }

    async fn addresses(&self) -> Result<Vec<Resource>, ProviderError> {
        let out = self
            .clients
            .ec2
            .describe_addresses()
            .send()
            .await
            .map_err(|e| call_error("ec2", "DescribeAddresses", e))?;
        Ok(out
            .addresses()
            .iter()
            .filter_map(|a| {
                let public_ip = a.public_ip()?.to_string();
                let association = present(a.association_id())
                    .or_else(|| present(a.instance_id()))
                    .or_else(|| present(a.network_interface_id()));
                let id = present(a.allocation_id()).unwrap_or_else(|| public_ip.clone());
                let mut r = self.resource(
                    Kind::ElasticIp,
                    id.clone(),
                    Details::Address { public_ip: public_ip.clone(), association },
                );
                // Bills name an address by its allocation's ARN or by the IP itself.
                r.aliases = vec![self.arn("ec2", &format!("elastic-ip/{id}")), public_ip];
                r.tags = ec2_tags(a.tags());
                r.name = r.tags.get("Name").cloned();
                Some(r)
            })
            .collect())
    }

    async fn instances(&self) -> Result<Vec<Resource>, ProviderError> {
        let reservations = every!(self.clients.ec2.describe_instances(), "ec2", "DescribeInstances")?;
        Ok(reservations
            .iter()
            .flat_map(|res| res.instances())
            .filter_map(|i| {
                let id = i.instance_id()?.to_string();
                let state = i.state().and_then(|s| s.name()).map(|s| s.as_str().to_string()).unwrap_or_default();
                if state == "terminated" {
                    return None;
                }
                Some(self.ec2(
                    (Kind::Ec2Instance, "instance", id),
                    Details::Instance {
                        instance_type: i.instance_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
                        state,
                        state_since: i.state_transition_reason().and_then(transition_time),
                        volumes:
                            i.block_device_mappings().iter().filter_map(|m| present(m.ebs()?.volume_id())).collect(),
                    },
                    i.launch_time(),
                    i.tags(),
                ))
            })
            .collect())
    }

    async fn nat_gateways(&self) -> Result<Vec<Resource>, ProviderError> {
        let gateways = every!(self.clients.ec2.describe_nat_gateways(), "ec2", "DescribeNatGateways")?;
        Ok(gateways
            .into_iter()
            .filter_map(|g| {
                let id = g.nat_gateway_id()?.to_string();
                let state = g.state().map(|s| s.as_str().to_string()).unwrap_or_default();
                if state == "deleted" || state == "deleting" {
                    return None;
                }
                Some(self.ec2(
                    (Kind::NatGateway, "natgateway", id),
                    Details::NatGateway { state },
                    g.create_time(),
                    g.tags(),
                ))
            })
            .collect())
    }

    async fn classic_load_balancers(&self) -> Result<Vec<Resource>, ProviderError> {
        let elb = &self.clients.elb;
        let lbs = every!(elb.describe_load_balancers(), "elb", "DescribeLoadBalancers")?;
        let names: Vec<String> = lbs.iter().filter_map(|l| l.load_balancer_name().map(str::to_string)).collect();
        let mut tags: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for chunk in names.chunks(TAG_BATCH) {
            let out = elb
                .describe_tags()
                .set_load_balancer_names(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| call_error("elb", "DescribeTags", e))?;
            for d in out.tag_descriptions() {
                let Some(name) = d.load_balancer_name() else { continue };
                let map =
                    d.tags().iter().map(|t| (t.key().to_string(), t.value().unwrap_or_default().to_string())).collect();
                tags.insert(name.to_string(), map);
            }
        }
        let lbs: Vec<_> = lbs.into_iter().filter_map(|l| Some((l.load_balancer_name()?.to_string(), l))).collect();
        a_few_at_a_time(lbs.into_iter().map(|(name, l)| {
            let tags = tags.get(&name).cloned().unwrap_or_default();
            async move {
                let registered = l.instances().len();
                let healthy = if registered == 0 {
                    0
                } else {
                    elb.describe_instance_health()
                        .load_balancer_name(&name)
                        .send()
                        .await
                        .map_err(|e| call_error("elb", "DescribeInstanceHealth", e))?
                        .instance_states()
                        .iter()
                        .filter(|s| s.state() == Some("InService"))
                        .count()
                };
                let details = Details::LoadBalancer {
                    scheme: "classic".into(),
                    metric_name: name.clone(),
                    targets: Targets { groups: None, registered, healthy },
                };
                let mut r = self.resource(Kind::ClassicLoadBalancer, name.clone(), details);
                r.aliases.push(self.arn("elasticloadbalancing", &format!("loadbalancer/{name}")));
                r.name = Some(name);
                r.created = l.created_time().and_then(to_chrono);
                r.tags = tags;
                Ok(r)
            }
        }))
        .await
    }

    async fn v2_load_balancers(&self) -> Result<Vec<Resource>, ProviderError> {
        let elbv2 = &self.clients.elbv2;
        let lbs = every!(elbv2.describe_load_balancers(), "elbv2", "DescribeLoadBalancers")?;
        let arns: Vec<String> = lbs.iter().filter_map(|l| l.load_balancer_arn().map(str::to_string)).collect();
        let mut tags: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for chunk in arns.chunks(TAG_BATCH) {
            let out = elbv2
                .describe_tags()
                .set_resource_arns(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| call_error("elbv2", "DescribeTags", e))?;
            for d in out.tag_descriptions() {
                let Some(arn) = d.resource_arn() else { continue };
                let map = tag_map(d.tags().iter().map(|t| (t.key(), t.value())));
                tags.insert(arn.to_string(), map);
            }
        }
        let lbs: Vec<_> = lbs.into_iter().filter_map(|l| Some((l.load_balancer_arn()?.to_string(), l))).collect();
        a_few_at_a_time(lbs.into_iter().map(|(arn, l)| {
            let tags = tags.get(&arn).cloned().unwrap_or_default();
            async move {
                let targets = self.v2_targets(&arn).await?;
                let details = Details::LoadBalancer {
                    scheme: l.r#type().map(|t| t.as_str().to_string()).unwrap_or_else(|| "application".into()),
                    metric_name: v2_metric_name(&arn),
                    targets,
                };
                let mut r = self.resource(Kind::LoadBalancerV2, arn, details);
                r.name = l.load_balancer_name().map(str::to_string);
                r.created = l.created_time().and_then(to_chrono);
                r.tags = tags;
                Ok(r)
            }
        }))
        .await
    }

    /// A v2 load balancer's target groups and their targets' health.
    async fn v2_targets(&self, arn: &str) -> Result<Targets, ProviderError> {
        use aws_sdk_elasticloadbalancingv2::error::ProvideErrorMetadata;
        use aws_sdk_elasticloadbalancingv2::types::TargetHealthStateEnum;
        let elbv2 = &self.clients.elbv2;
        let groups: Vec<_> = match elbv2
            .describe_target_groups()
            .load_balancer_arn(arn)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
        {
            Ok(groups) => groups,
            // AWS answers a load balancer without target groups with an empty list; some
            // implementations (moto) with this error instead. Both mean: no groups.
            Err(e) if e.code() == Some("TargetGroupNotFound") => Vec::new(),
            Err(e) => return Err(call_error("elbv2", "DescribeTargetGroups", e)),
        };
        let mut targets = Targets { groups: Some(groups.len()), registered: 0, healthy: 0 };
        for g in &groups {
            let Some(group_arn) = g.target_group_arn() else { continue };
            let health = elbv2
                .describe_target_health()
                .target_group_arn(group_arn)
                .send()
                .await
                .map_err(|e| call_error("elbv2", "DescribeTargetHealth", e))?;
            for d in health.target_health_descriptions() {
                targets.registered += 1;
                if d.target_health().and_then(|h| h.state()) == Some(&TargetHealthStateEnum::Healthy) {
                    targets.healthy += 1;
                }
            }
        }
        Ok(targets)
    }

    async fn databases(&self) -> Result<Vec<Resource>, ProviderError> {
        let dbs = every!(self.clients.rds.describe_db_instances(), "rds", "DescribeDBInstances")?;
        Ok(dbs
            .into_iter()
            .filter_map(|d| {
                let id = d.db_instance_identifier()?.to_string();
                let details = Details::Database {
                    class: d.db_instance_class().unwrap_or_default().to_string(),
                    engine: d.engine().unwrap_or_default().to_string(),
                    state: d.db_instance_status().unwrap_or_default().to_string(),
                };
                let mut r = self.resource(Kind::RdsInstance, id.clone(), details);
                r.aliases
                    .push(d.db_instance_arn().map_or_else(|| self.arn("rds", &format!("db:{id}")), str::to_string));
                r.name = Some(id);
                r.created = d.instance_create_time().and_then(to_chrono);
                r.tags = tag_map(d.tag_list().iter().map(|t| (t.key(), t.value())));
                Some(r)
            })
            .collect())
    }

    async fn clusters(&self) -> Result<Vec<Resource>, ProviderError> {
        let clusters = every!(self.clients.redshift.describe_clusters(), "redshift", "DescribeClusters")?;
        Ok(clusters
            .into_iter()
            .filter_map(|c| {
                let id = c.cluster_identifier()?.to_string();
                let details = Details::Warehouse {
                    node_type: c.node_type().unwrap_or_default().to_string(),
                    nodes: c.number_of_nodes().map_or(1, i64::from),
                    state: c.cluster_status().unwrap_or_default().to_string(),
                };
                let mut r = self.resource(Kind::RedshiftCluster, id.clone(), details);
                r.aliases.push(self.arn("redshift", &format!("cluster:{id}")));
                r.name = Some(id);
                r.created = c.cluster_create_time().and_then(to_chrono);
                r.tags = tag_map(c.tags().iter().map(|t| (t.key(), t.value())));
                Some(r)
            })
            .collect())
    }

    async fn endpoints(&self) -> Result<Vec<Resource>, ProviderError> {
        let sm = &self.clients.sagemaker;
        let endpoints = every!(sm.list_endpoints(), "sagemaker", "ListEndpoints")?;
        a_few_at_a_time(endpoints.into_iter().map(|e| async move {
            let name = e.endpoint_name().unwrap_or_default().to_string();
            let described = sm
                .describe_endpoint()
                .endpoint_name(&name)
                .send()
                .await
                .map_err(|err| call_error("sagemaker", "DescribeEndpoint", err))?;
            let variants =
                described.production_variants().iter().filter_map(|v| v.variant_name().map(str::to_string)).collect();
            let arn = e.endpoint_arn().unwrap_or_default().to_string();
            let tags = every!(sm.list_tags().resource_arn(&arn), "sagemaker", "ListTags")?;
            let state = e.endpoint_status().map(|s| s.as_str().to_string()).unwrap_or_default();
            let mut r = self.resource(Kind::SageMakerEndpoint, name.clone(), Details::Endpoint { state, variants });
            r.aliases.push(arn);
            r.name = Some(name);
            r.created = e.creation_time().and_then(to_chrono);
            r.tags = tag_map(tags.iter().map(|t| (t.key(), t.value())));
            Ok(r)
        }))
        .await
    }

    async fn container_images(&self) -> Result<Vec<Resource>, ProviderError> {
        let ecr = &self.clients.ecr;
        let repositories = every!(ecr.describe_repositories(), "ecr", "DescribeRepositories")?;
        let names: Vec<String> =
            repositories.iter().filter_map(|repo| repo.repository_name().map(str::to_string)).collect();
        let per_repository: Vec<Vec<Resource>> = a_few_at_a_time(names.into_iter().map(|repository| async move {
            let images = every!(ecr.describe_images().repository_name(&repository), "ecr", "DescribeImages")?;
            Ok(images
                .into_iter()
                .filter_map(|i| {
                    let digest = i.image_digest()?.to_string();
                    let details = Details::ContainerImage {
                        repository: repository.clone(),
                        image_tags: i.image_tags().to_vec(),
                        pushed_at: i.image_pushed_at().and_then(to_chrono),
                        last_pull: i.last_recorded_pull_time().and_then(to_chrono),
                        size_bytes: i.image_size_in_bytes().unwrap_or(0),
                    };
                    let mut r = self.resource(Kind::EcrImage, format!("{repository}@{digest}"), details);
                    r.name = i.image_tags().first().map(|t| format!("{repository}:{t}"));
                    r.created = i.image_pushed_at().and_then(to_chrono);
                    Some(r)
                })
                .collect())
        }))
        .await?;
        Ok(per_repository.into_iter().flatten().collect())
    }

    /// The region's buckets, each with its incomplete multipart uploads (and their parts'
    /// bytes), the lifecycle rule that aborts them if any, and its tags.
    async fn buckets(&self) -> Result<Vec<Resource>, ProviderError> {
        let s3 = &self.clients.s3;
        // ListBuckets is global: it filters by region where the service does, and each bucket
        // says its region (else GetBucketLocation does).
        let listed = every!(s3.list_buckets().bucket_region(self.region), "s3", "ListBuckets")?;
        let per_bucket: Vec<Option<Resource>> = a_few_at_a_time(listed.into_iter().map(|b| async move {
            let Some(name) = b.name().map(str::to_string) else { return Ok(None) };
            let region = match b.bucket_region() {
                Some(r) => r.to_string(),
                None => bucket_location(s3, &name).await?,
            };
            if region != self.region {
                return Ok(None);
            }
            let details = Details::Bucket {
                uploads: incomplete_uploads(s3, &name).await?,
                abort_after_days: abort_after_days(s3, &name).await?,
            };
            let mut r = self.resource(Kind::S3Bucket, name.clone(), details);
            r.aliases.push(format!("arn:aws:s3:::{name}"));
            r.created = b.creation_date().and_then(to_chrono);
            r.tags = bucket_tags(s3, &name).await?;
            r.name = Some(name);
            Ok(Some(r))
        }))
        .await?;
        Ok(per_bucket.into_iter().flatten().collect())
    }
}

/// A bucket's region: GetBucketLocation says none for us-east-1 and `EU` for eu-west-1.
async fn bucket_location(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<String, ProviderError> {
    let out =
        s3.get_bucket_location().bucket(bucket).send().await.map_err(|e| call_error("s3", "GetBucketLocation", e))?;
    Ok(match out.location_constraint().map(|c| c.as_str()) {
        None | Some("") => "us-east-1".to_string(),
        Some("EU") => "eu-west-1".to_string(),
        Some(r) => r.to_string(),
    })
}

/// Every incomplete multipart upload of a bucket, with the bytes of its parts.
async fn incomplete_uploads(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<Vec<PartialUpload>, ProviderError> {
    let mut uploads = vec![];
    let (mut key_marker, mut id_marker) = (None::<String>, None::<String>);
    loop {
        let page = s3
            .list_multipart_uploads()
            .bucket(bucket)
            .set_key_marker(key_marker.clone())
            .set_upload_id_marker(id_marker.clone())
            .send()
            .await
            .map_err(|e| call_error("s3", "ListMultipartUploads", e))?;
        for u in page.uploads() {
            let (Some(key), Some(id)) = (u.key(), u.upload_id()) else { continue };
            let mut bytes = 0i64;
            let mut part_marker = None::<String>;
            loop {
                let parts = s3
                    .list_parts()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(id)
                    .set_part_number_marker(part_marker.clone())
                    .send()
                    .await
                    .map_err(|e| call_error("s3", "ListParts", e))?;
                bytes += parts.parts().iter().filter_map(|p| p.size()).sum::<i64>();
                match parts.next_part_number_marker().filter(|_| parts.is_truncated() == Some(true)) {
                    Some(m) => part_marker = Some(m.to_string()),
                    None => break,
                }
            }
            uploads.push(PartialUpload { key: key.to_string(), initiated: u.initiated().and_then(to_chrono), bytes });
        }
        if page.is_truncated() != Some(true) {
            return Ok(uploads);
        }
        key_marker = page.next_key_marker().map(str::to_string);
        id_marker = page.next_upload_id_marker().map(str::to_string);
        if key_marker.is_none() && id_marker.is_none() {
            return Ok(uploads);
        }
    }
}

/// The fewest days after which an enabled lifecycle rule aborts incomplete uploads.
async fn abort_after_days(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<Option<i64>, ProviderError> {
    use aws_sdk_s3::error::ProvideErrorMetadata;
    use aws_sdk_s3::types::ExpirationStatus;
    match s3.get_bucket_lifecycle_configuration().bucket(bucket).send().await {
        Ok(out) => Ok(out
            .rules()
            .iter()
            .filter(|r| r.status() == &ExpirationStatus::Enabled)
            .filter_map(|r| r.abort_incomplete_multipart_upload()?.days_after_initiation())
            .map(i64::from)
            .min()),
        Err(e) if e.code() == Some("NoSuchLifecycleConfiguration") => Ok(None),
        Err(e) => Err(call_error("s3", "GetBucketLifecycleConfiguration", e)),
    }
}

/// A bucket's tags (none when it has no tag set).
async fn bucket_tags(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<BTreeMap<String, String>, ProviderError> {
    use aws_sdk_s3::error::ProvideErrorMetadata;
    match s3.get_bucket_tagging().bucket(bucket).send().await {
        Ok(out) => Ok(tag_map(out.tag_set().iter().map(|t| (Some(t.key()), Some(t.value()))))),
        Err(e) if e.code() == Some("NoSuchTagSet") => Ok(BTreeMap::new()),
        Err(e) => Err(call_error("s3", "GetBucketTagging", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_state_transition_time() {
        let t = transition_time("User initiated (2024-01-31 17:04:12 GMT)").expect("parsed");
        assert_eq!(t.to_rfc3339(), "2024-01-31T17:04:12+00:00");
        assert_eq!(
            transition_time("Server.ScheduledStop (2023-05-01 00:00:00 GMT)").map(|t| t.timestamp()),
            Some(1682899200)
        );
        assert_eq!(transition_time(""), None);
        assert_eq!(transition_time("User initiated"), None);
    }

    #[test]
    fn names_a_v2_load_balancer_as_cloudwatch_does() {
        let arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188";
        assert_eq!(v2_metric_name(arn), "app/web/50dc6c495c0c9188");
        assert_eq!(v2_metric_name("net/x/1"), "net/x/1");
    }
}

//! What a provider yields: cloud resources with their attributes and tags, and metric series.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// A cloud provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Cloud {
    /// Amazon Web Services.
    Aws,
    /// Microsoft Azure.
    Azure,
    /// Google Cloud.
    Gcp,
}

impl Cloud {
    /// `aws`, `azure` or `gcp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Cloud::Aws => "aws",
            Cloud::Azure => "azure",
            Cloud::Gcp => "gcp",
        }
    }

    /// Parses `aws`, `azure` or `gcp`.
    pub fn parse(s: &str) -> Option<Cloud> {
        match s.trim().to_ascii_lowercase().as_str() {
            "aws" => Some(Cloud::Aws),
            "azure" => Some(Cloud::Azure),
            "gcp" | "google" => Some(Cloud::Gcp),
            _ => None,
        }
    }
}

/// The resource types the rules judge, and the ones they consult (an AMI is never a finding of
/// its own here, but a snapshot that backs one is no orphan).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Kind {
    /// An EBS volume.
    EbsVolume,
    /// An EBS snapshot owned by the account.
    EbsSnapshot,
    /// An AMI owned by the account.
    Ami,
    /// An EC2 launch template (every version's block devices).
    LaunchTemplate,
    /// An Elastic IP address.
    ElasticIp,
    /// An EC2 instance.
    Ec2Instance,
    /// A NAT gateway.
    NatGateway,
    /// A Classic Load Balancer.
    ClassicLoadBalancer,
    /// An Application, Network or Gateway Load Balancer.
    LoadBalancerV2,
    /// An RDS database instance.
    RdsInstance,
    /// A Redshift cluster.
    RedshiftCluster,
    /// A SageMaker real-time endpoint.
    SageMakerEndpoint,
    /// An image in an ECR repository.
    EcrImage,
    /// An S3 bucket (its incomplete multipart uploads and lifecycle).
    S3Bucket,
    /// An Azure managed disk.
    AzureDisk,
    /// An Azure managed-disk snapshot.
    AzureSnapshot,
    /// An Azure public IP address.
    AzurePublicIp,
    /// An Azure network interface.
    AzureNic,
    /// An Azure virtual machine (with its power state).
    AzureVm,
    /// A GCP persistent disk (zonal or regional).
    GcpDisk,
    /// A GCP disk snapshot.
    GcpSnapshot,
    /// A GCP machine image.
    GcpMachineImage,
    /// A GCP static address (regional or global).
    GcpAddress,
    /// A GCP Compute Engine instance.
    GcpInstance,
}

impl Kind {
    /// The name findings carry as `resource_type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::EbsVolume => "aws.ebs.volume",
            Kind::EbsSnapshot => "aws.ebs.snapshot",
            Kind::Ami => "aws.ec2.image",
            Kind::LaunchTemplate => "aws.ec2.launch-template",
            Kind::ElasticIp => "aws.ec2.elastic-ip",
            Kind::Ec2Instance => "aws.ec2.instance",
            Kind::NatGateway => "aws.ec2.nat-gateway",
            Kind::ClassicLoadBalancer => "aws.elb.load-balancer",
            Kind::LoadBalancerV2 => "aws.elbv2.load-balancer",
            Kind::RdsInstance => "aws.rds.instance",
            Kind::RedshiftCluster => "aws.redshift.cluster",
            Kind::SageMakerEndpoint => "aws.sagemaker.endpoint",
            Kind::EcrImage => "aws.ecr.image",
            Kind::S3Bucket => "aws.s3.bucket",
            Kind::AzureDisk => "azure.compute.disk",
            Kind::AzureSnapshot => "azure.compute.snapshot",
            Kind::AzurePublicIp => "azure.network.public-ip",
            Kind::AzureNic => "azure.network.nic",
            Kind::AzureVm => "azure.compute.vm",
            Kind::GcpDisk => "gcp.compute.disk",
            Kind::GcpSnapshot => "gcp.compute.snapshot",
            Kind::GcpMachineImage => "gcp.compute.machine-image",
            Kind::GcpAddress => "gcp.compute.address",
            Kind::GcpInstance => "gcp.compute.instance",
        }
    }

    /// The cloud the type belongs to.
    pub fn cloud(self) -> Cloud {
        match self {
            Kind::AzureDisk | Kind::AzureSnapshot | Kind::AzurePublicIp | Kind::AzureNic | Kind::AzureVm => {
                Cloud::Azure
            }
            Kind::GcpDisk | Kind::GcpSnapshot | Kind::GcpMachineImage | Kind::GcpAddress | Kind::GcpInstance => {
                Cloud::Gcp
            }
            _ => Cloud::Aws,
        }
    }
}

/// One resource, as a provider listed it.
#[derive(Debug, Clone, Serialize)]
pub struct Resource {
    /// Its type.
    pub kind: Kind,
    /// The provider's own identifier (`vol-…`, `eipalloc-…`, a load balancer's ARN).
    pub id: String,
    /// Other identifiers a bill may name it by (an ARN, a public IP), tried when pricing.
    pub aliases: Vec<String>,
    /// Region (`us-east-1`) or location.
    pub region: String,
    /// Account, subscription or project.
    pub account: String,
    /// A display name, where the provider has one.
    pub name: Option<String>,
    /// When it was created, where the provider says.
    pub created: Option<DateTime<Utc>>,
    /// Tags or labels.
    pub tags: BTreeMap<String, String>,
    /// What the rules read of it.
    pub details: Details,
}

impl Resource {
    /// Whole days from creation to `now` (none when the creation time is unknown).
    pub fn age_days(&self, now: DateTime<Utc>) -> Option<i64> {
        self.created.map(|c| (now - c).num_days())
    }
}

/// A load balancer's targets, counted over all its target groups (or its registered instances).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Targets {
    /// Target groups attached (Classic Load Balancers have none: `None`).
    pub groups: Option<usize>,
    /// Registered targets.
    pub registered: usize,
    /// Targets reported healthy.
    pub healthy: usize,
}

/// The attributes of each resource type that the rules judge.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Details {
    /// An EBS volume.
    Volume {
        /// `gp2`, `gp3`, `io1`, `io2`, `st1`, `sc1`, `standard`.
        volume_type: String,
        /// Size in GiB.
        size_gib: i64,
        /// Provisioned IOPS, where the type has them.
        iops: Option<i64>,
        /// `available`, `in-use`, ….
        state: String,
        /// Instances it is attached to.
        attached_to: Vec<String>,
        /// When it entered its state, where the source says (an AWS Config item's capture
        /// time; the EC2 API does not say).
        state_since: Option<DateTime<Utc>>,
    },
    /// An EBS snapshot.
    Snapshot {
        /// The volume it was taken of.
        volume_id: Option<String>,
        /// Size in GiB.
        size_gib: i64,
        /// The account that owns it.
        owner: String,
    },
    /// An AMI or launch template: the snapshots its block devices name.
    ImageLike {
        /// Snapshot ids.
        snapshots: Vec<String>,
    },
    /// An Elastic IP.
    Address {
        /// The public IP.
        public_ip: String,
        /// The association, if it is associated.
        association: Option<String>,
    },
    /// An EC2 instance.
    Instance {
        /// `m5.large`, ….
        instance_type: String,
        /// `running`, `stopped`, ….
        state: String,
        /// When it entered that state, where the provider says (EC2's state transition reason).
        state_since: Option<DateTime<Utc>>,
        /// The EBS volumes attached to it.
        volumes: Vec<String>,
    },
    /// A NAT gateway.
    NatGateway {
        /// `available`, `deleted`, ….
        state: String,
    },
    /// A load balancer.
    LoadBalancer {
        /// `classic`, `application`, `network`, `gateway`.
        scheme: String,
        /// The name CloudWatch dimensions use (`app/NAME/ID` for v2, the name for Classic).
        metric_name: String,
        /// Targets.
        targets: Targets,
    },
    /// An RDS instance.
    Database {
        /// `db.t3.micro`, ….
        class: String,
        /// `postgres`, `mysql`, ….
        engine: String,
        /// `available`, `stopped`, ….
        state: String,
    },
    /// A Redshift cluster.
    Warehouse {
        /// `ra3.xlplus`, ….
        node_type: String,
        /// Nodes.
        nodes: i64,
        /// `available`, `paused`, ….
        state: String,
    },
    /// A SageMaker endpoint.
    Endpoint {
        /// `InService`, ….
        state: String,
        /// Its production variants (invocations are counted per variant).
        variants: Vec<String>,
    },
    /// An ECR image.
    ContainerImage {
        /// Repository.
        repository: String,
        /// Tags.
        image_tags: Vec<String>,
        /// Pushed at.
        pushed_at: Option<DateTime<Utc>>,
        /// Last pull ECR recorded (none: never pulled since ECR began recording).
        last_pull: Option<DateTime<Utc>>,
        /// Size in bytes.
        size_bytes: i64,
    },
    /// An S3 bucket: what its incomplete multipart uploads hold, and whether its lifecycle
    /// aborts them.
    Bucket {
        /// Each incomplete multipart upload.
        uploads: Vec<PartialUpload>,
        /// Days after which an enabled lifecycle rule aborts incomplete uploads, if one does.
        abort_after_days: Option<i64>,
    },
    /// An Azure managed disk or a GCP persistent disk.
    Disk {
        /// Azure's SKU (`Premium_LRS`) or GCP's disk type (`pd-balanced`).
        sku: String,
        /// Size in GiB.
        size_gib: i64,
        /// Azure's disk state (`Unattached`, `Attached`, `Reserved`) or GCP's status (`READY`).
        state: String,
        /// The virtual machines or instances using it.
        users: Vec<String>,
        /// When it was last detached, where the provider records it (Azure's
        /// `LastOwnershipUpdateTime`, GCP's `lastDetachTimestamp`).
        detached_since: Option<DateTime<Utc>>,
    },
    /// An Azure or GCP snapshot, or a GCP machine image: a stored copy of disks.
    StoredCopy {
        /// The disk or instance it was taken of.
        source: Option<String>,
        /// Size of what was copied, in GiB.
        size_gib: i64,
        /// Bytes actually stored, where the provider says (GCP).
        stored_bytes: Option<i64>,
    },
    /// An Azure public IP or a GCP static address.
    PublicAddress {
        /// The address (empty while Azure has not allocated a dynamic one).
        address: String,
        /// Azure's SKU (`Standard`, `Basic`) or GCP's network tier.
        sku: String,
        /// GCP's status (`RESERVED`, `IN_USE`); Azure: `Associated` or `Unassociated`.
        status: String,
        /// What uses it (a NIC's IP configuration, a NAT gateway, a forwarding rule).
        users: Vec<String>,
        /// Whether it is a public address (GCP internal addresses cost nothing).
        external: bool,
    },
    /// An Azure network interface.
    NetworkInterface {
        /// The virtual machine it is attached to.
        vm: Option<String>,
        /// The private endpoint that owns it.
        private_endpoint: Option<String>,
        /// Public IPs of its IP configurations.
        public_ips: Vec<String>,
    },
    /// An Azure virtual machine or a GCP instance.
    Vm {
        /// Azure's VM size (`Standard_D2s_v5`) or GCP's machine type (`e2-standard-2`).
        size: String,
        /// Azure's power state (`running`, `stopped`, `deallocated`) or GCP's status
        /// (`RUNNING`, `TERMINATED`).
        state: String,
        /// When it entered that state, where the provider says.
        state_since: Option<DateTime<Utc>>,
        /// Its disks (ids as the disk listing names them).
        disks: Vec<String>,
        /// The id its metrics are published under (Azure: the ARM id; GCP: the numeric id).
        metric_id: String,
    },
}

/// A multipart upload started and never completed or aborted: its parts are stored and billed,
/// and listed nowhere but in the bucket's uploads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartialUpload {
    /// The object key.
    pub key: String,
    /// When it was started.
    pub initiated: Option<DateTime<Utc>>,
    /// Bytes of its parts.
    pub bytes: i64,
}

/// How values of one metric are reduced to a data point per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub enum Statistic {
    /// Mean over the period.
    Average,
    /// Total over the period.
    Sum,
    /// Largest value over the period.
    Maximum,
    /// Smallest value over the period.
    Minimum,
}

impl Statistic {
    /// The name CloudWatch and Azure Monitor use.
    pub fn as_str(self) -> &'static str {
        match self {
            Statistic::Average => "Average",
            Statistic::Sum => "Sum",
            Statistic::Maximum => "Maximum",
            Statistic::Minimum => "Minimum",
        }
    }
}

/// One metric of one resource, as asked of a provider.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MetricQuery {
    /// Namespace (`AWS/EC2`).
    pub namespace: String,
    /// Metric name (`CPUUtilization`).
    pub name: String,
    /// Dimensions naming the resource (`InstanceId=i-…`).
    pub dimensions: Vec<(String, String)>,
    /// Statistic per period.
    pub statistic: Statistic,
    /// Period in seconds.
    pub period_secs: u32,
}

/// The data points of one metric query between two instants.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// (period start, value), in any order.
    pub points: Vec<(DateTime<Utc>, f64)>,
}

//! Monthly cost estimates of a plan, from the price list in `config/pricing.yaml`.
//!
//! Each stack's delta comes from its preview steps and their inputs: creates add the new
//! resource's price, deletes subtract the old one's, updates and replaces re-price (new − old).
//! Resources the price list cannot price are listed, with the reason, instead of being counted
//! as free. Only `aws:` and `gcp:` resources are considered; components, providers and other packages
//! carry no price of their own.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::{ResourceStep, StepOp};
use crate::session::Plan;

/// The price list shipped with the repository, used when no other file is configured.
pub(crate) const BUILTIN_PRICING: &str = include_str!("../../../../config/pricing.yaml");

/// Why the price list cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PricingError {
    #[error("cannot read the price list {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FargatePrices {
    pub vcpu_hour: f64,
    pub gb_hour: f64,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AppRunnerPrices {
    pub provisioned_gb_hour: f64,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LambdaBaseline {
    pub requests_per_month: f64,
    pub avg_duration_ms: f64,
    pub request_per_million: f64,
    /// Price per GB-second by architecture (`x86_64`, `arm64`).
    pub gb_second: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiGatewayBaseline {
    pub requests_per_month: f64,
    pub per_million: f64,
}

/// The price list (`config/pricing.yaml`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Pricing {
    /// The region of the AWS prices (`aws:` types).
    pub region: String,
    /// The region of the Google Cloud prices (`gcp:` types) [default: us-central1].
    #[serde(default = "default_gcp_region")]
    pub gcp_region: String,
    /// The date the prices were taken (YYYY-MM-DD).
    pub as_of: String,
    pub currency: String,
    pub hours_per_month: f64,
    pub ec2_hourly: BTreeMap<String, f64>,
    pub spot_factor: f64,
    pub rds_hourly: BTreeMap<String, f64>,
    pub rds_storage_gb_month: BTreeMap<String, f64>,
    pub fargate: FargatePrices,
    pub app_runner: AppRunnerPrices,
    pub lambda: LambdaBaseline,
    pub api_gateway: ApiGatewayBaseline,
    pub fixed_monthly: BTreeMap<String, f64>,
    #[serde(default)]
    pub free: BTreeSet<String>,
    /// Google Cloud: Compute Engine on demand, per VM-hour, by machine type (VMs of a regional
    /// instance group: the autoscaler's minReplicas × the instance template's machineType).
    #[serde(default)]
    pub gcp_machine_hourly: BTreeMap<String, f64>,
    /// Google Cloud: persistent disk per GB-month, by disk type (an instance template's disks).
    #[serde(default)]
    pub gcp_disk_gb_month: BTreeMap<String, f64>,
    /// Google Cloud: Cloud SQL per instance-hour, by tier (`settings.tier`).
    #[serde(default)]
    pub gcp_sql_hourly: BTreeMap<String, f64>,
    /// Google Cloud: Cloud SQL storage per GB-month, by `settings.diskType`.
    #[serde(default)]
    pub gcp_sql_storage_gb_month: BTreeMap<String, f64>,
}

impl Pricing {
    /// The price list shipped in `config/pricing.yaml`.
    pub fn builtin() -> Pricing {
        Pricing::parse(BUILTIN_PRICING, "config/pricing.yaml (built in)").expect("the shipped price list is valid")
    }

    pub fn load(path: &Path) -> Result<Pricing, PricingError> {
        let text = std::fs::read_to_string(path).map_err(|source| PricingError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Pricing::parse(&text, &path.display().to_string())
    }

    /// Parse and validate: every price finite and not negative, a date, a region.
    pub fn parse(text: &str, origin: &str) -> Result<Pricing, PricingError> {
        let invalid = |message: String| PricingError::Invalid {
            path: origin.to_string(),
            message,
        };
        crate::input::check_yaml_shape(text, crate::input::MAX_YAML_DEPTH).map_err(invalid)?;
        let pricing: Pricing = serde_yaml::from_str(text).map_err(|e| match e.location() {
            Some(loc) => invalid(format!("line {} column {}: {e}", loc.line(), loc.column())),
            None => invalid(e.to_string()),
        })?;
        if chrono::NaiveDate::parse_from_str(&pricing.as_of, "%Y-%m-%d").is_err() {
            return Err(invalid(format!("as_of `{}` is not a date (YYYY-MM-DD)", pricing.as_of)));
        }
        if pricing.region.trim().is_empty() {
            return Err(invalid("region is empty".into()));
        }
        if !(pricing.hours_per_month > 0.0 && pricing.hours_per_month <= 744.0) {
            return Err(invalid(format!(
                "hours_per_month {} is out of range (1 to 744)",
                pricing.hours_per_month
            )));
        }
        if !(0.0..=1.0).contains(&pricing.spot_factor) {
            return Err(invalid(format!(
                "spot_factor {} must be between 0 and 1",
                pricing.spot_factor
            )));
        }
        let mut all: Vec<(String, f64)> = vec![
            ("fargate.vcpu_hour".into(), pricing.fargate.vcpu_hour),
            ("fargate.gb_hour".into(), pricing.fargate.gb_hour),
            (
                "app_runner.provisioned_gb_hour".into(),
                pricing.app_runner.provisioned_gb_hour,
            ),
            ("lambda.requests_per_month".into(), pricing.lambda.requests_per_month),
            ("lambda.avg_duration_ms".into(), pricing.lambda.avg_duration_ms),
            ("lambda.request_per_million".into(), pricing.lambda.request_per_million),
            (
                "api_gateway.requests_per_month".into(),
                pricing.api_gateway.requests_per_month,
            ),
            ("api_gateway.per_million".into(), pricing.api_gateway.per_million),
        ];
        for (table, map) in [
            ("ec2_hourly", &pricing.ec2_hourly),
            ("rds_hourly", &pricing.rds_hourly),
            ("rds_storage_gb_month", &pricing.rds_storage_gb_month),
            ("lambda.gb_second", &pricing.lambda.gb_second),
            ("fixed_monthly", &pricing.fixed_monthly),
            ("gcp_machine_hourly", &pricing.gcp_machine_hourly),
            ("gcp_disk_gb_month", &pricing.gcp_disk_gb_month),
            ("gcp_sql_hourly", &pricing.gcp_sql_hourly),
            ("gcp_sql_storage_gb_month", &pricing.gcp_sql_storage_gb_month),
        ] {
            all.extend(map.iter().map(|(k, v)| (format!("{table}.{k}"), *v)));
        }
        for (key, value) in all {
            if !value.is_finite() || value < 0.0 {
                return Err(invalid(format!("{key} = {value}: a price must be a number ≥ 0")));
            }
        }
        if let Some(both) = pricing.free.iter().find(|t| pricing.fixed_monthly.contains_key(*t)) {
            return Err(invalid(format!(
                "{both} is both in fixed_monthly and in free; keep one"
            )));
        }
        Ok(pricing)
    }

    fn hourly(&self, hourly: f64) -> f64 {
        hourly * self.hours_per_month
    }

    /// The monthly price of one resource with `inputs`, given the other resources of its stack
    /// (`ctx`, same side of the plan: old or new) for prices that live on a sibling.
    pub(crate) fn price(&self, resource_type: &str, inputs: &Value, ctx: &StackContext) -> Price {
        let unpriced = |reason: String| Price::Unpriced(reason);
        let ec2 = |ty: &str| {
            self.ec2_hourly
                .get(ty)
                .map(|h| self.hourly(*h))
                .ok_or_else(|| format!("instance type `{ty}` is not in the price list (add it under ec2_hourly)"))
        };
        match resource_type {
            "aws:ec2/instance:Instance" => match str_input(inputs, "instanceType") {
                Some(ty) => ec2(ty).map(Price::Monthly).unwrap_or_else(unpriced),
                None => unpriced("no instanceType in its inputs".into()),
            },
            "aws:autoscaling/group:Group" => {
                let count = num_input(inputs, "desiredCapacity")
                    .or_else(|| num_input(inputs, "minSize"))
                    .unwrap_or(0.0);
                match &ctx.launch_template_type {
                    Some(ty) => ec2(ty).map(|m| Price::Monthly(m * count)).unwrap_or_else(unpriced),
                    None => unpriced("no launch template with an instanceType in the same stack".into()),
                }
            }
            "aws:eks/nodeGroup:NodeGroup" => {
                let count = inputs
                    .pointer("/scalingConfig/desiredSize")
                    .and_then(Value::as_f64)
                    .unwrap_or(1.0);
                let ty = inputs
                    .get("instanceTypes")
                    .and_then(Value::as_array)
                    .and_then(|a| a.first())
                    .and_then(Value::as_str)
                    .unwrap_or("t3.medium");
                let factor = if str_input(inputs, "capacityType") == Some("SPOT") {
                    self.spot_factor
                } else {
                    1.0
                };
                ec2(ty)
                    .map(|m| Price::Monthly(m * count * factor))
                    .unwrap_or_else(unpriced)
            }
            "aws:rds/instance:Instance" => {
                let Some(class) = str_input(inputs, "instanceClass") else {
                    return unpriced("no instanceClass in its inputs".into());
                };
                let Some(hourly) = self.rds_hourly.get(class) else {
                    return unpriced(format!(
                        "DB instance class `{class}` is not in the price list (add it under rds_hourly)"
                    ));
                };
                let storage_type = str_input(inputs, "storageType").unwrap_or("gp2");
                let Some(gb_month) = self.rds_storage_gb_month.get(storage_type) else {
                    return unpriced(format!(
                        "storage type `{storage_type}` is not in the price list (add it under rds_storage_gb_month)"
                    ));
                };
                let gb = num_input(inputs, "allocatedStorage").unwrap_or(0.0);
                let copies = if inputs.get("multiAz").and_then(Value::as_bool).unwrap_or(false) {
                    2.0
                } else {
                    1.0
                };
                Price::Monthly((self.hourly(*hourly) + gb * gb_month) * copies)
            }
            "gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager" => {
                let Some(template) = &ctx.gcp_template else {
                    return unpriced("no instance template with a machineType in the same stack".into());
                };
                let count = ctx
                    .gcp_min_replicas
                    .or_else(|| num_input(inputs, "targetSize"))
                    .unwrap_or(1.0);
                let Some(hourly) = self.gcp_machine_hourly.get(&template.machine_type) else {
                    return unpriced(format!(
                        "machine type `{}` is not in the price list (add it under gcp_machine_hourly)",
                        template.machine_type
                    ));
                };
                let mut disks = 0.0;
                for (gb, ty) in &template.disks {
                    let Some(gb_month) = self.gcp_disk_gb_month.get(ty) else {
                        return unpriced(format!(
                            "disk type `{ty}` is not in the price list (add it under gcp_disk_gb_month)"
                        ));
                    };
                    disks += gb * gb_month;
                }
                Price::Monthly((self.hourly(*hourly) + disks) * count)
            }
            "gcp:sql/databaseInstance:DatabaseInstance" => {
                let settings = inputs.get("settings").unwrap_or(&Value::Null);
                let Some(tier) = str_input(settings, "tier") else {
                    return unpriced("no settings.tier in its inputs".into());
                };
                let Some(hourly) = self.gcp_sql_hourly.get(tier) else {
                    return unpriced(format!(
                        "Cloud SQL tier `{tier}` is not in the price list (add it under gcp_sql_hourly)"
                    ));
                };
                let disk_type = str_input(settings, "diskType").unwrap_or("PD_SSD");
                let Some(gb_month) = self.gcp_sql_storage_gb_month.get(disk_type) else {
                    return unpriced(format!(
                        "Cloud SQL disk type `{disk_type}` is not in the price list (add it under gcp_sql_storage_gb_month)"
                    ));
                };
                let gb = num_input(settings, "diskSize").unwrap_or(10.0);
                // High availability (REGIONAL) runs a standby: instance and disk twice.
                let copies = if str_input(settings, "availabilityType") == Some("REGIONAL") {
                    2.0
                } else {
                    1.0
                };
                Price::Monthly((self.hourly(*hourly) + gb * gb_month) * copies)
            }
            "aws:ecs/service:Service" => {
                let count = num_input(inputs, "desiredCount").unwrap_or(1.0);
                match ctx.task_size {
                    Some((cpu, mem)) => Price::Monthly(
                        count
                            * self.hourly(cpu / 1024.0 * self.fargate.vcpu_hour + mem / 1024.0 * self.fargate.gb_hour),
                    ),
                    None => unpriced("no task definition with cpu and memory in the same stack".into()),
                }
            }
            "aws:apprunner/service:Service" => {
                let mem = inputs
                    .pointer("/instanceConfiguration/memory")
                    .and_then(number_like)
                    .unwrap_or(2048.0);
                let instances = ctx.app_runner_min_size.unwrap_or(1.0);
                Price::Monthly(instances * self.hourly(mem / 1024.0 * self.app_runner.provisioned_gb_hour))
            }
            "aws:lambda/function:Function" => {
                let arch = inputs
                    .get("architectures")
                    .and_then(Value::as_array)
                    .and_then(|a| a.first())
                    .and_then(Value::as_str)
                    .unwrap_or("x86_64");
                let Some(per_gb_s) = self.lambda.gb_second.get(arch) else {
                    return unpriced(format!(
                        "Lambda architecture `{arch}` is not in the price list (lambda.gb_second)"
                    ));
                };
                let mem_gb = num_input(inputs, "memorySize").unwrap_or(128.0) / 1024.0;
                let l = &self.lambda;
                let compute = l.requests_per_month * l.avg_duration_ms / 1000.0 * mem_gb * per_gb_s;
                Price::Monthly(compute + l.requests_per_month / 1e6 * l.request_per_million)
            }
            "aws:apigatewayv2/api:Api" => {
                Price::Monthly(self.api_gateway.requests_per_month / 1e6 * self.api_gateway.per_million)
            }
            other => {
                if let Some(m) = self.fixed_monthly.get(other) {
                    Price::Monthly(*m)
                } else if self.free.contains(other) {
                    Price::Monthly(0.0)
                } else {
                    unpriced("no price for this resource type in the price list".into())
                }
            }
        }
    }
}

fn number_like(v: &Value) -> Option<f64> {
    v.as_f64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

fn str_input<'a>(inputs: &'a Value, key: &str) -> Option<&'a str> {
    inputs.get(key).and_then(Value::as_str)
}

fn num_input(inputs: &Value, key: &str) -> Option<f64> {
    inputs.get(key).and_then(number_like)
}

/// What some prices need from sibling resources of the same stack (one side of the plan).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct StackContext {
    /// The instance type of the stack's launch template (for auto-scaling groups).
    pub launch_template_type: Option<String>,
    /// cpu and memory (units, MiB) of the stack's task definition (for ECS services).
    pub task_size: Option<(f64, f64)>,
    /// The minimum size of the stack's App Runner auto-scaling configuration.
    pub app_runner_min_size: Option<f64>,
    /// The stack's GCP instance template (for regional instance groups).
    pub gcp_template: Option<GcpTemplate>,
    /// The minReplicas of the stack's GCP regional autoscaler (the baseline VM count).
    pub gcp_min_replicas: Option<f64>,
}

/// What a GCP instance template says about the price of each VM made from it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct GcpTemplate {
    pub machine_type: String,
    /// (size in GB, disk type) of each disk.
    pub disks: Vec<(f64, String)>,
}

impl StackContext {
    fn from_resources<'a>(resources: impl Iterator<Item = (&'a str, &'a Value)>) -> StackContext {
        let mut ctx = StackContext::default();
        for (ty, inputs) in resources {
            match ty {
                "aws:ec2/launchTemplate:LaunchTemplate" => {
                    ctx.launch_template_type = str_input(inputs, "instanceType").map(String::from);
                }
                "aws:ecs/taskDefinition:TaskDefinition" => {
                    if let (Some(c), Some(m)) = (num_input(inputs, "cpu"), num_input(inputs, "memory")) {
                        ctx.task_size = Some((c, m));
                    }
                }
                "aws:apprunner/autoScalingConfigurationVersion:AutoScalingConfigurationVersion" => {
                    ctx.app_runner_min_size = num_input(inputs, "minSize");
                }
                "gcp:compute/instanceTemplate:InstanceTemplate" => {
                    if let Some(machine_type) = str_input(inputs, "machineType") {
                        let disks = inputs
                            .get("disks")
                            .and_then(Value::as_array)
                            .map(|disks| {
                                disks
                                    .iter()
                                    .map(|d| {
                                        (
                                            num_input(d, "diskSizeGb").unwrap_or(10.0),
                                            str_input(d, "diskType").unwrap_or("pd-standard").to_string(),
                                        )
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        ctx.gcp_template = Some(GcpTemplate {
                            machine_type: machine_type.to_string(),
                            disks,
                        });
                    }
                }
                "gcp:compute/regionAutoscaler:RegionAutoscaler" => {
                    ctx.gcp_min_replicas = inputs.pointer("/autoscalingPolicy/minReplicas").and_then(number_like);
                }
                _ => {}
            }
        }
        ctx
    }
}

/// The monthly price of one resource.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Price {
    Monthly(f64),
    /// Cannot be priced; the reason says what to add to the price list.
    Unpriced(String),
}

/// A resource the estimate could not price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnpricedResource {
    pub stack: String,
    pub name: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    pub reason: String,
}

/// One stack's part of an estimate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackCost {
    pub stack: String,
    /// The monthly cost of the stack's priced resources before the plan.
    pub monthly_before: f64,
    /// … and after it.
    pub monthly_after: f64,
    /// `monthly_after − monthly_before`.
    pub delta: f64,
    /// Resources that would exist after the plan, by type (`aws:` types only).
    pub resulting: BTreeMap<String, u64>,
    pub unpriced: Vec<UnpricedResource>,
}

fn default_gcp_region() -> String {
    "us-central1".into()
}

fn default_hours_per_month() -> f64 {
    730.0
}

/// The cost estimate of a plan: per stack and total, with the price list it used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostEstimate {
    /// The region whose prices apply: the price list's AWS region, its Google Cloud region for a
    /// plan of `gcp:` resources only, both (`us-east-1 + us-central1`) for a plan of both.
    pub region: String,
    /// How many hours a month has in this price list (the hourly figures divide by it).
    #[serde(default = "default_hours_per_month")]
    pub hours_per_month: f64,
    pub as_of: String,
    pub currency: String,
    pub stacks: Vec<StackCost>,
    pub total_before: f64,
    pub total_after: f64,
    pub total_delta: f64,
}

impl CostEstimate {
    pub fn unpriced(&self) -> impl Iterator<Item = &UnpricedResource> {
        self.stacks.iter().flat_map(|s| s.unpriced.iter())
    }

    /// Resulting resources by type over every stack of the plan.
    pub fn resulting(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for s in &self.stacks {
            for (ty, n) in &s.resulting {
                *out.entry(ty.clone()).or_default() += n;
            }
        }
        out
    }
}

/// `+$12.34`, `-$5.00`, `$0.00`.
pub(crate) fn money_delta(value: f64) -> String {
    let rounded = (value * 100.0).round() / 100.0;
    if rounded > 0.0 {
        format!("+${rounded:.2}")
    } else if rounded < 0.0 {
        format!("-${:.2}", -rounded)
    } else {
        "$0.00".into()
    }
}

/// `$0.125`: an hourly price, to a tenth of a cent.
pub fn hourly(value: f64) -> String {
    format!("${:.3}", (value * 1000.0).round() / 1000.0)
}

fn hourly_delta(value: f64) -> String {
    let rounded = (value * 1000.0).round() / 1000.0;
    if rounded > 0.0 {
        format!("+{}", hourly(rounded))
    } else if rounded < 0.0 {
        format!("-{}", hourly(-rounded))
    } else {
        "$0.000".into()
    }
}

pub(crate) fn money(value: f64) -> String {
    format!("${:.2}", (value * 100.0).round() / 100.0)
}

/// Whether the step leaves a resource behind (counted in the resulting resources).
fn leaves_resource(op: &StepOp) -> bool {
    !matches!(
        op,
        StepOp::Delete
            | StepOp::DeleteReplaced
            | StepOp::Discard
            | StepOp::DiscardReplaced
            | StepOp::Read
            | StepOp::ReadReplacement
            | StepOp::RemovePendingReplace
    )
}

/// Whether a resource existed before the step.
fn existed_before(op: &StepOp) -> bool {
    !matches!(
        op,
        StepOp::Create
            | StepOp::CreateReplacement
            | StepOp::Import
            | StepOp::Read
            | StepOp::ReadReplacement
            | StepOp::RemovePendingReplace
            | StepOp::Discard
            | StepOp::DiscardReplaced
    )
}

/// The estimate of one stack's steps.
pub fn estimate_steps(pricing: &Pricing, stack: &str, steps: &[ResourceStep]) -> StackCost {
    // A `replace` stands for its `create-replacement` / `delete-replaced` pair: count it once.
    let replaced: HashSet<&str> = steps
        .iter()
        .filter(|s| s.op == StepOp::Replace)
        .map(|s| s.urn.as_str())
        .collect();
    let steps: Vec<&ResourceStep> = steps
        .iter()
        .filter(|s| s.resource_type.starts_with("aws:") || s.resource_type.starts_with("gcp:"))
        .filter(|s| {
            !(matches!(s.op, StepOp::CreateReplacement | StepOp::DeleteReplaced) && replaced.contains(s.urn.as_str()))
        })
        .collect();
    static NULL: Value = Value::Null;
    fn old_of<'a>(s: &&'a ResourceStep) -> &'a Value {
        s.old_inputs.as_ref().or(s.inputs.as_ref()).unwrap_or(&NULL)
    }
    fn new_of<'a>(s: &&'a ResourceStep) -> &'a Value {
        s.inputs.as_ref().or(s.old_inputs.as_ref()).unwrap_or(&NULL)
    }
    let old_ctx = StackContext::from_resources(
        steps
            .iter()
            .filter(|s| existed_before(&s.op))
            .map(|s| (s.resource_type.as_str(), old_of(s))),
    );
    let new_ctx = StackContext::from_resources(
        steps
            .iter()
            .filter(|s| leaves_resource(&s.op))
            .map(|s| (s.resource_type.as_str(), new_of(s))),
    );
    let mut cost = StackCost {
        stack: stack.to_string(),
        monthly_before: 0.0,
        monthly_after: 0.0,
        delta: 0.0,
        resulting: BTreeMap::new(),
        unpriced: vec![],
    };
    let mut unpriced_urns: BTreeSet<&str> = BTreeSet::new();
    for step in &steps {
        let mut note = |price: Price, cost: &mut StackCost| -> f64 {
            match price {
                Price::Monthly(m) => m,
                Price::Unpriced(reason) => {
                    if unpriced_urns.insert(step.urn.as_str()) {
                        cost.unpriced.push(UnpricedResource {
                            stack: stack.to_string(),
                            name: step.name.clone(),
                            resource_type: step.resource_type.clone(),
                            reason,
                        });
                    }
                    0.0
                }
            }
        };
        if existed_before(&step.op) {
            let p = pricing.price(&step.resource_type, old_of(step), &old_ctx);
            cost.monthly_before += note(p, &mut cost);
        }
        if leaves_resource(&step.op) {
            let p = pricing.price(&step.resource_type, new_of(step), &new_ctx);
            cost.monthly_after += note(p, &mut cost);
            *cost.resulting.entry(step.resource_type.clone()).or_default() += 1;
        }
    }
    cost.delta = cost.monthly_after - cost.monthly_before;
    cost
}

/// The estimate of a whole plan.
pub fn estimate_plan(pricing: &Pricing, plan: &Plan) -> CostEstimate {
    let stacks: Vec<StackCost> = plan
        .stacks
        .iter()
        .map(|e| estimate_steps(pricing, e.stack.as_str(), &e.preview.steps))
        .collect();
    let has = |prefix: &str| {
        plan.stacks
            .iter()
            .any(|e| e.preview.steps.iter().any(|s| s.resource_type.starts_with(prefix)))
    };
    let region = match (has("aws:"), has("gcp:")) {
        (false, true) => pricing.gcp_region.clone(),
        (true, true) => format!("{} + {}", pricing.region, pricing.gcp_region),
        _ => pricing.region.clone(),
    };
    CostEstimate {
        region,
        hours_per_month: pricing.hours_per_month,
        as_of: pricing.as_of.clone(),
        currency: pricing.currency.clone(),
        total_before: stacks.iter().map(|s| s.monthly_before).sum(),
        total_after: stacks.iter().map(|s| s.monthly_after).sum(),
        total_delta: stacks.iter().map(|s| s.delta).sum(),
        stacks,
    }
}

/// The estimate as text: one line per stack, the total, then every unpriced resource.
pub fn render_estimate(estimate: &CostEstimate) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Estimated monthly cost ({}, {} prices of {}):",
        estimate.currency, estimate.region, estimate.as_of
    );
    for s in &estimate.stacks {
        let _ = writeln!(
            out,
            "  {:<20} {:>10} → {:>10}  {:>10}{}",
            s.stack,
            money(s.monthly_before),
            money(s.monthly_after),
            money_delta(s.delta),
            if s.unpriced.is_empty() {
                String::new()
            } else {
                format!("  ({} unpriced)", s.unpriced.len())
            }
        );
    }
    let _ = writeln!(
        out,
        "  {:<20} {:>10} → {:>10}  {:>10}",
        "total",
        money(estimate.total_before),
        money(estimate.total_after),
        money_delta(estimate.total_delta)
    );
    let hours = estimate.hours_per_month;
    let _ = writeln!(
        out,
        "  {:<20} {:>10} → {:>10}  {:>10}",
        "total per hour",
        hourly(estimate.total_before / hours),
        hourly(estimate.total_after / hours),
        hourly_delta(estimate.total_delta / hours)
    );
    let unpriced: Vec<&UnpricedResource> = estimate.unpriced().collect();
    if !unpriced.is_empty() {
        let _ = writeln!(out, "  not priced (not in the total):");
        for u in unpriced {
            let _ = writeln!(out, "    {}/{} ({}): {}", u.stack, u.name, u.resource_type, u.reason);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn step(ty: &str, name: &str, op: &str, new: Option<Value>, old: Option<Value>) -> ResourceStep {
        ResourceStep {
            urn: format!("urn:pulumi:s::p::{ty}::{name}"),
            resource_type: ty.into(),
            name: name.into(),
            op: StepOp::from(op),
            inputs: new,
            old_inputs: old,
        }
    }

    #[test]
    fn the_shipped_price_list_is_valid() {
        let p = Pricing::builtin();
        assert_eq!(p.region, "us-east-1");
        assert!(p.ec2_hourly.contains_key("m6i.large"));
    }

    #[test]
    fn creates_add_deletes_subtract_updates_reprice() {
        let p = Pricing::builtin();
        let steps = vec![
            step("aws:ec2/natGateway:NatGateway", "nat", "create", Some(json!({})), None),
            step("aws:ec2/eip:Eip", "ip", "delete", None, Some(json!({}))),
            step(
                "aws:ec2/instance:Instance",
                "web",
                "update",
                Some(json!({"instanceType": "t3.medium"})),
                Some(json!({"instanceType": "t3.micro"})),
            ),
            step("aws:iam/role:Role", "r", "same", Some(json!({})), Some(json!({}))),
        ];
        let c = estimate_steps(&p, "network", &steps);
        let expected = 32.85 - 3.65 + (0.0416 - 0.0104) * 730.0;
        assert!((c.delta - expected).abs() < 1e-9, "{c:?}");
        assert_eq!(c.resulting.get("aws:ec2/eip:Eip"), None);
        assert_eq!(c.resulting.get("aws:ec2/instance:Instance"), Some(&1));
        assert!(c.unpriced.is_empty());
    }

    #[test]
    fn an_unknown_instance_type_is_listed_not_counted() {
        let p = Pricing::builtin();
        let steps = vec![step(
            "aws:ec2/instance:Instance",
            "big",
            "create",
            Some(json!({"instanceType": "x2iedn.32xlarge"})),
            None,
        )];
        let c = estimate_steps(&p, "compute-ec2", &steps);
        assert_eq!(c.delta, 0.0);
        assert_eq!(c.unpriced.len(), 1);
        assert!(c.unpriced[0].reason.contains("x2iedn.32xlarge"), "{:?}", c.unpriced);
        assert!(c.unpriced[0].reason.contains("ec2_hourly"), "{:?}", c.unpriced);
    }

    #[test]
    fn a_replace_counts_once() {
        let p = Pricing::builtin();
        let new = Some(json!({"instanceType": "m6i.large"}));
        let old = Some(json!({"instanceType": "t3.micro"}));
        let steps = vec![
            step(
                "aws:ec2/instance:Instance",
                "web",
                "create-replacement",
                new.clone(),
                old.clone(),
            ),
            step("aws:ec2/instance:Instance", "web", "replace", new.clone(), old.clone()),
            step("aws:ec2/instance:Instance", "web", "delete-replaced", new, old),
        ];
        let c = estimate_steps(&p, "s", &steps);
        assert!((c.delta - (0.096 - 0.0104) * 730.0).abs() < 1e-9, "{c:?}");
        assert_eq!(c.resulting["aws:ec2/instance:Instance"], 1);
    }

    #[test]
    fn bad_price_lists_are_refused_with_the_key() {
        let text = BUILTIN_PRICING.replace("t3.micro: 0.0104", "t3.micro: -1");
        let err = Pricing::parse(&text, "p.yaml").unwrap_err().to_string();
        assert!(err.contains("ec2_hourly.t3.micro"), "{err}");
        let text = BUILTIN_PRICING.replace("as_of: 2026-11-01", "as_of: soon");
        assert!(Pricing::parse(&text, "p.yaml")
            .unwrap_err()
            .to_string()
            .contains("as_of"));
        let text = format!("{BUILTIN_PRICING}\nsurprise: 1\n");
        assert!(Pricing::parse(&text, "p.yaml")
            .unwrap_err()
            .to_string()
            .contains("surprise"));
    }
}

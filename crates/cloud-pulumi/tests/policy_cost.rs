//! Cost estimates: recorded Pulumi plans (crates/cloud-testkit/fixtures/pulumi, parsed as they are) and the
//! resources the repository's 16 stacks declare, priced with config/pricing.yaml.

use cloud_core::engine::{ResourceStep, StepOp};
use cloud_core::policy::cost::{estimate_plan, estimate_steps, render_estimate};
use cloud_core::policy::Pricing;
use cloud_domain::session::{Plan, StackPlanEntry};
use cloud_pulumi::summary::plan_show;

fn fixture(name: &str) -> String {
    let path = cloud_testkit::paths::pulumi_fixtures().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A plan made of the recorded streams, one stack each, as the orchestrator would store it.
fn plan_of(fixtures: &[(&str, &str)]) -> Plan {
    let stacks = fixtures
        .iter()
        .map(|(stack, file)| {
            let shown = plan_show(&fixture(file)).unwrap();
            assert_eq!(shown.stacks.len(), 1, "{file}");
            StackPlanEntry {
                stack: stack.parse().unwrap(),
                content_hash: "h".into(),
                preview: shown.stacks.into_iter().next().unwrap().preview,
                provisional: false,
            }
        })
        .collect();
    Plan {
        engine_version: "v3".into(),
        stacks,
    }
}

#[test]
fn recorded_plans_are_priced_per_stack_with_unpriced_resources_listed() {
    let plan = plan_of(&[
        ("webserver", "display__not-truncated__webserver-userdata.json"),
        ("eks", "display__not-truncated__up.json"),
        ("template", "display__not-truncated__template-body.json"),
    ]);
    let estimate = estimate_plan(&Pricing::builtin(), &plan);
    insta::assert_snapshot!(render_estimate(&estimate));
    insta::assert_debug_snapshot!(estimate
        .stacks
        .iter()
        .map(|s| (&s.stack, &s.resulting))
        .collect::<Vec<_>>());
}

#[test]
fn an_ec2_instance_in_a_recorded_plan_costs_its_hourly_price_times_730() {
    let plan = plan_of(&[("webserver", "display__not-truncated__webserver-userdata.json")]);
    let pricing = Pricing::builtin();
    let estimate = estimate_plan(&pricing, &plan);
    let instances = estimate.stacks[0]
        .resulting
        .get("aws:ec2/instance:Instance")
        .copied()
        .unwrap_or(0);
    assert!(instances > 0, "{estimate:?}");
    let expected = instances as f64 * pricing.ec2_hourly["t2.micro"] * 730.0;
    assert!(
        (estimate.stacks[0].monthly_after - expected).abs() < 1e-6,
        "{estimate:?}"
    );
}

/// Every AWS resource the 16 stacks declare, in every environment, has a price or is listed as
/// free: nothing the repository deploys shows up as unpriced.
#[test]
fn every_resource_of_the_sixteen_stacks_is_priced() {
    let pricing = Pricing::builtin();
    let root = cloud_testkit::paths::repo().join("stacks");
    let mut files = 0;
    let mut totals = vec![];
    for env in ["dev", "stage", "prod"] {
        let mut total = 0.0;
        for entry in std::fs::read_dir(&root).unwrap() {
            let path = entry.unwrap().path().join("inspect").join(format!("{env}.json"));
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            files += 1;
            let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
            let steps: Vec<ResourceStep> = doc["resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| ResourceStep {
                    urn: format!(
                        "urn:pulumi:s::p::{}::{}",
                        r["type"].as_str().unwrap(),
                        r["name"].as_str().unwrap()
                    ),
                    resource_type: r["type"].as_str().unwrap().into(),
                    name: r["name"].as_str().unwrap().into(),
                    op: StepOp::Create,
                    inputs: Some(r["inputs"].clone()),
                    old_inputs: None,
                })
                .collect();
            let cost = estimate_steps(&pricing, &path.display().to_string(), &steps);
            assert!(cost.unpriced.is_empty(), "{}: {:#?}", path.display(), cost.unpriced);
            total += cost.delta;
        }
        totals.push((env, (total * 100.0).round() / 100.0));
    }
    assert_eq!(
        files, 60,
        "20 stacks (16 AWS, 4 GCP) × 3 environments, every resource priced"
    );
    // Prod costs more than stage, stage more than dev: the sizes in the manifests grow.
    assert!(totals[0].1 < totals[1].1 && totals[1].1 < totals[2].1, "{totals:?}");
    insta::assert_debug_snapshot!(totals);
}

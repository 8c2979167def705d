//! A Google Cloud deployment gets a cost estimate: `gcp:` resources are priced from
//! config/pricing.yaml (VMs of an instance group from the template's machine type and disks ×
//! the autoscaler's minimum, Cloud SQL from its tier, disk and availability), nothing unpriced.

#[path = "support/cli.rs"]
mod cli;

use cli::Cli;

#[test]
fn a_gcp_deployment_plan_shows_what_each_stack_costs_per_month() {
    let cli = Cli::new();
    cli.run(&[
        "init",
        "--template",
        "gcp",
        "--org",
        "acme",
        "--project",
        "shop",
        "--id",
        "D9GCP01",
    ])
    .expect_code(0);
    let run = cli.run(&["plan", "D9GCP01", "dev"]);
    run.expect_code(0);
    let out = &run.stdout;
    let line = |stack: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(stack) && l.contains('→'))
            .unwrap_or_else(|| panic!("no cost line for {stack}:\n{out}"))
            .to_string()
    };
    // e2-small 0.016751/h × 730 h + 20 GB pd-balanced × 0.10 = 14.23
    assert!(line("gcp-compute").ends_with("+$14.23"), "{}", line("gcp-compute"));
    // db-f1-micro 0.0105/h × 730 h + 10 GB PD_SSD × 0.17 + one secret 0.06 = 9.43
    assert!(line("gcp-database").ends_with("+$9.43"), "{}", line("gcp-database"));
    assert!(line("gcp-network").ends_with("+$2.04"), "{}", line("gcp-network"));
    assert!(!out.to_lowercase().contains("unpriced"), "{out}");
    // The header names the region of the prices that applied: Google Cloud's, not AWS's.
    assert!(
        out.contains("Estimated monthly cost (USD, us-central1 prices of"),
        "{out}"
    );
    assert!(!out.contains("us-east-1"), "{out}");
}

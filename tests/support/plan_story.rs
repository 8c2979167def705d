//! The plan story every chat front end tells (`discord_e2e`, `slack_stories`): a first deploy of
//! network and dns plans to create everything, stack by stack in apply order; someone then
//! changes the zone's CAA issuer, and the next plan of dns updates the CAA record, old → new.
//! How a plan reaches the lobby's thread is each platform's own; what it says, and the change
//! between the two deploys, are the same everywhere and live here once.
#![allow(dead_code)]

use cloud_testkit::workspace::TempWorkspace;

/// The first plan (network and dns, nothing deployed yet): the stacks in apply order, their
/// changes creates.
#[track_caller]
pub fn assert_first_plan(text: &str) {
    let (network, dns) = (
        text.find("network: ").unwrap_or_else(|| panic!("{text}")),
        text.find("dns: ").unwrap_or_else(|| panic!("{text}")),
    );
    assert!(network < dns, "stacks in apply order: {text}");
    assert!(text.contains("+  create"), "{text}");
}

/// Someone changes the CAA issuer of the zone in the sample deployment's manifest.
#[track_caller]
pub fn change_the_caa_issuer(workspace: &TempWorkspace) {
    let manifest = workspace.path("deploy/D1BRV40-acme-corp-ecommerce/manifest.yaml");
    let yaml = std::fs::read_to_string(&manifest).unwrap();
    let changed = yaml.replace(
        "      domainName: \"{{env}}.shop.acme-corp.example.com\"\n",
        "      domainName: \"{{env}}.shop.acme-corp.example.com\"\n      caaIssuer: letsencrypt.org\n",
    );
    assert_ne!(
        yaml, changed,
        "the dns stack's configuration is where the test expects it"
    );
    std::fs::write(&manifest, changed).unwrap();
}

/// The plan of dns after [`change_the_caa_issuer`]: one update, the CAA record's old and new
/// values.
#[track_caller]
pub fn assert_second_plan(text: &str) {
    assert!(text.contains("dns: ") && text.contains("1 to update"), "{text}");
    assert!(text.contains("~  update"), "{text}");
    assert!(
        text.contains(r#"records: ["0 issue \"amazon.com\""] → ["0 issue \"letsencrypt.org\""]"#),
        "{text}"
    );
}

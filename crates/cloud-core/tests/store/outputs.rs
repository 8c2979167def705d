//! Stack outputs are kept per deployment, environment and stack: the last apply wins, a destroy
//! forgets them, and a project's outputs are read in one query.

use crate::store_in;
use cloud_domain::session::{SessionId, StackName};
use cloud_testkit::db::TestDatabase;

cloud_testkit::on_both_backends!(the_last_apply_of_a_stack_is_what_its_dependents_read);

async fn the_last_apply_of_a_stack_is_what_its_dependents_read(db: TestDatabase) {
    let store = store_in(&db).await;
    let network: StackName = "network".parse().unwrap();
    let security: StackName = "security".parse().unwrap();
    let empty = store.project_stack_outputs("ecommerce", "dev").await.unwrap();
    assert!(empty.is_empty(), "nothing applied yet: {empty:?}");

    let first = serde_json::json!({"vpcId": "vpc-1", "privateSubnetIds": ["subnet-a", "subnet-b"]});
    store
        .save_stack_outputs("D1BRV40", "dev", &network, &first, SessionId::new())
        .await
        .unwrap();
    let again = serde_json::json!({"vpcId": "vpc-2"});
    store
        .save_stack_outputs("D1BRV40", "dev", &network, &again, SessionId::new())
        .await
        .unwrap();
    let sg = serde_json::json!({"appSecurityGroupId": "sg-9"});
    store
        .save_stack_outputs("D1BRV40", "dev", &security, &sg, SessionId::new())
        .await
        .unwrap();
    // Another environment is another set.
    store
        .save_stack_outputs("D1BRV40", "prod", &network, &first, SessionId::new())
        .await
        .unwrap();

    let dev = store.project_stack_outputs("ecommerce", "dev").await.unwrap();
    assert_eq!(dev.len(), 1, "one deployment: {dev:?}");
    assert_eq!(dev["D1BRV40"][&network], again, "the last apply wins");
    assert_eq!(dev["D1BRV40"][&security], sg);
    assert!(store.project_stack_outputs("other", "dev").await.unwrap().is_empty());

    store.delete_stack_outputs("D1BRV40", "dev", &network).await.unwrap();
    let dev = store.project_stack_outputs("ecommerce", "dev").await.unwrap();
    assert_eq!(
        dev["D1BRV40"].keys().collect::<Vec<_>>(),
        [&security],
        "destroyed: forgotten"
    );
    let prod = store.project_stack_outputs("ecommerce", "prod").await.unwrap();
    assert_eq!(prod["D1BRV40"][&network], first);
}

//! docs/discord.md's command table names every command the bot registers (and no other).

#[test]
fn the_command_table_lists_every_registered_command() {
    let doc = include_str!("../../../docs/discord.md");
    let documented: std::collections::BTreeSet<String> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `/"))
        .filter_map(|l| l.split([' ', '`']).next())
        .map(str::to_string)
        .collect();
    let registered: std::collections::BTreeSet<String> = super::commands::all().into_iter().map(|c| c.name).collect();
    assert_eq!(
        documented, registered,
        "docs/discord.md's command table vs the registered commands"
    );
}

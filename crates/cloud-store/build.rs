// `sqlx::migrate!` embeds `migrations/` at compile time; this makes cargo notice a new or changed
// migration file and re-embed.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}

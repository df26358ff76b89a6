// The migrations are embedded at compile time (`sqlx::migrate!`): a new or
// changed file must rebuild the crate, or a binary would run without it.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}

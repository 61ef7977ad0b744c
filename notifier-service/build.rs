//! Rebuilds the crate when a migration is added: `sqlx::migrate!` embeds
//! the migrations directory, which cargo does not otherwise watch, so an
//! incremental build kept the old set.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}

//! Build the demo's redb cluster (three nodes, node 3 on redb 2.x) in a directory:
//!
//!     cargo run --example redb_demo_cluster -- DIR
//!
//! then `cutover inspect redb DIR` and `cutover run redb-to-sqlite --source DIR --target OUT`.

fn main() {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: redb_demo_cluster DIR");
        std::process::exit(2);
    };
    match cutover::demo_redb::build(std::path::Path::new(&dir)) {
        Ok(files) => {
            for f in files {
                println!("{}", cutover::display_path(&f));
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}

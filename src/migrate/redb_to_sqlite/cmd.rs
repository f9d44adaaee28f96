//! The headless commands of redb-to-sqlite: `cutover run redb-to-sqlite`,
//! `cutover verify redb-to-sqlite` and `cutover inspect redb`. Runs print
//! the engine's events like every kind, plus one line per table (pgloader's
//! summary: read, written, verified, errors, time) before each file's result.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand};
use tokio::sync::mpsc;

use super::check::TableResult;
use super::{RedbToSqlite, RedbToSqliteParams, Verify};
use crate::discover::redb as discover;
use crate::engine::{self, Event, RunOptions, EVENT_CAPACITY};
use crate::error::{Error, Result};
use crate::headless;
use crate::journal::Journal;
use crate::migrate::Migration;

/// Options of `cutover run redb-to-sqlite` and `cutover verify redb-to-sqlite`.
#[derive(Debug, Args, Clone)]
pub struct RedbArgs {
    /// A redb file, or a directory of node folders (`data/node-1/state.redb`).
    #[arg(long, value_name = "SRC")]
    pub source: PathBuf,
    /// The new SQLite file, or a directory that mirrors the node folders.
    #[arg(long, value_name = "DST")]
    pub target: PathBuf,
    /// `count`, `sample=N` (N keys per table chosen by the seed) or `full`.
    #[arg(long, default_value = "sample=100")]
    pub verify: String,
    /// Seed of the sample (printed, so a check can be rerun).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Only this node of a directory source (repeatable); default: every node.
    #[arg(long = "node", value_name = "NODE")]
    pub nodes: Vec<String>,
    /// Files migrated at once; 1 (the default) is a rolling migration, node by node.
    #[arg(long)]
    pub parallel: Option<usize>,
    /// Print every step; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// NDJSON events on stdout.
    #[arg(long)]
    pub json: bool,
}

impl RedbArgs {
    /// The job's parameters.
    pub fn params(&self) -> Result<RedbToSqliteParams> {
        // Absolute, so `cutover resume` works from any directory.
        let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        Ok(RedbToSqliteParams {
            source: absolute(&self.source),
            target: absolute(&self.target),
            verify: self.verify.parse::<Verify>()?,
            seed: self.seed.unwrap_or_else(crate::verify::fresh_seed),
            nodes: self.nodes.clone(),
        })
    }

    fn options(&self, verify_only: bool) -> Result<RunOptions> {
        if self.parallel == Some(0) {
            return Err(Error::bad("--parallel 0: give at least 1"));
        }
        Ok(RunOptions {
            parallel: self.parallel.unwrap_or(1),
            dry_run: self.dry_run,
            verify_only,
            ..RunOptions::default()
        })
    }
}

/// What `cutover inspect` looks at.
#[derive(Debug, Subcommand)]
pub enum InspectKind {
    /// A redb file (its format, tables, stored types, counts), or every redb file under a directory, by node.
    Redb(InspectArgs),
}

/// Options of `cutover inspect redb`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A redb file or a directory of node folders.
    pub path: PathBuf,
    /// One JSON object per file.
    #[arg(long)]
    pub json: bool,
}

/// `cutover run|verify redb-to-sqlite`: run the job to its end; the exit code.
pub async fn run(state: &Path, args: RedbArgs, verify_only: bool) -> Result<i32> {
    let params = args.params()?;
    let opts = args.options(verify_only)?;
    let job = Arc::new(if verify_only {
        RedbToSqlite::for_verification(params)
    } else {
        RedbToSqlite::new(params)
    });
    job.check()?;
    let journal = Arc::new(Journal::open(state)?);
    let migration: Arc<dyn Migration> = job.clone();
    let mut handle = engine::start(journal, migration, opts, None).await?;
    // Relay the events, printing each file's tables before its result.
    let (tx, rx) = mpsc::channel(EVENT_CAPACITY);
    let mut upstream = std::mem::replace(&mut handle.events, rx);
    let json = args.json;
    let relay = tokio::spawn(async move {
        let mut header = false;
        while let Some(event) = upstream.recv().await {
            if let Event::ItemVerified { item, .. } | Event::ItemFailed { item, .. } = &event {
                print_tables(&job.take_table_results(item), json, &mut header);
            }
            if tx.send(event).await.is_err() {
                break;
            }
        }
    });
    let summary = headless::follow(handle, json).await;
    relay.abort();
    Ok(headless::exit_code(&summary))
}

fn print_tables(results: &[TableResult], json: bool, header: &mut bool) {
    let mut out = std::io::stdout().lock();
    for r in results {
        if json {
            let mut value = serde_json::to_value(r).unwrap_or_default();
            if let Some(obj) = value.as_object_mut() {
                obj.insert("event".into(), "table".into());
            }
            let _ = writeln!(out, "{value}");
        } else {
            if !*header {
                let _ = writeln!(
                    out,
                    "  {:<24} {:>10} {:>10} {:>10} {:>6} {:>8}  checksum",
                    "table", "read", "written", "verified", "errors", "time"
                );
                *header = true;
            }
            let mark = match r.checksum_equal {
                Some(true) => "=",
                Some(false) => "*",
                None => "-",
            };
            let _ = writeln!(
                out,
                "  {:<24} {:>10} {:>10} {:>10} {:>6} {:>7.2}s  {mark}",
                r.table, r.read, r.written, r.verified, r.errors, r.elapsed_s
            );
        }
    }
    let _ = out.flush();
}

/// `cutover inspect redb PATH`: print what a file (or every file under a
/// directory) holds. Exit 0 when everything can be migrated, 1 otherwise.
pub fn inspect(kind: InspectKind) -> Result<i32> {
    let InspectKind::Redb(args) = kind;
    let path = &args.path;
    let md = std::fs::metadata(path).map_err(|e| {
        Error::bad(format!(
            "{} cannot be read ({e}); check the path",
            crate::display_path(path)
        ))
    })?;
    let files: Vec<(String, discover::RedbFile)> = if md.is_dir() {
        let nodes = discover::discover(path);
        if nodes.is_empty() {
            return Err(Error::bad(format!(
                "no redb files under {}",
                crate::display_path(path)
            )));
        }
        nodes
            .into_iter()
            .flat_map(|n| {
                let name = n.name;
                n.files.into_iter().map(move |f| (name.clone(), f))
            })
            .collect()
    } else {
        vec![(".".to_string(), discover::inspect(path))]
    };
    let mut out = std::io::stdout().lock();
    let mut last_node = None;
    for (node, file) in &files {
        if args.json {
            let mut value = serde_json::to_value(file).unwrap_or_default();
            if let Some(obj) = value.as_object_mut() {
                obj.insert("node".into(), node.as_str().into());
            }
            let _ = writeln!(out, "{value}");
        } else {
            if md.is_dir() && last_node.as_ref() != Some(node) {
                let _ = writeln!(out, "node {node}");
                last_node = Some(node.clone());
            }
            let _ = write!(out, "{}", discover::report(file));
        }
    }
    let _ = out.flush();
    Ok(if files.iter().any(|(_, f)| f.problem.is_some()) {
        1
    } else {
        0
    })
}

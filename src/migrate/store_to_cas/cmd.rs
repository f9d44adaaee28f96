//! The extra commands of store-to-cas: the phases under `cutover store`
//! (scan, status, cutover, cleanup, rollback). `cutover run store-to-cas`
//! is built by the kind (`kind.rs`).

use std::path::{Path, PathBuf};

use clap::Subcommand;
use humansize::{format_size, BINARY};

use crate::error::Result;
use crate::migrate::store_to_cas::phases::{self, PhaseResult, StoreStatus};
use crate::target::{LockMode, TargetLock};

/// `cutover store …`: the phases of a content-addressed store.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Read and hash the old store: how much deduplication will save (writes nothing).
    Scan {
        #[arg(long, value_name = "STORE")]
        source: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Totals, progress, space saved, dedup ratio, ETA and health.
    Status {
        #[arg(long, value_name = "CAS")]
        target: PathBuf,
        /// Re-hash every object and report corrupt ones.
        #[arg(long)]
        verify: bool,
        #[arg(long)]
        json: bool,
    },
    /// Re-verify every package and mark the store cut over.
    Cutover {
        #[arg(long, value_name = "CAS")]
        target: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Remove the old package directories, each after its check.
    Cleanup {
        #[arg(long, value_name = "STORE")]
        source: PathBuf,
        #[arg(long, value_name = "CAS")]
        target: PathBuf,
        /// Required: this removes the old store's packages.
        #[arg(long)]
        confirm: bool,
        #[arg(long)]
        json: bool,
    },
    /// Undo the migration before cleanup; the old store is intact.
    Rollback {
        #[arg(long, value_name = "CAS")]
        target: PathBuf,
        /// Also remove objects/ and packages/.
        #[arg(long)]
        remove_new: bool,
        #[arg(long)]
        json: bool,
    },
}

/// Print a phase's result; its exit code is the phase's, even when no
/// one reads standard output any more (the phase has happened).
fn print_phase(r: &PhaseResult, json: bool) -> i32 {
    let _ = print_phase_lines(r, json);
    if r.ok {
        0
    } else {
        1
    }
}

fn print_phase_lines(r: &PhaseResult, json: bool) -> crate::error::Result<()> {
    if json {
        crate::outln!("{}", serde_json::to_string(r).unwrap_or_default())?;
    } else {
        crate::outln!("{}", r.message)?;
        for p in &r.problems {
            crate::outln!("* {p}")?;
        }
    }
    Ok(())
}

/// Text lines of a store status.
pub fn status_lines(s: &StoreStatus) -> Vec<String> {
    let mut out = vec![
        format!(
            "packages {}: {} completed, {} failed, {} pending, {} in progress, {} rolled back",
            s.packages, s.completed, s.failed, s.pending, s.in_progress, s.rolled_back
        ),
        format!(
            "files {}, distinct objects {}, {} of files stored in {}",
            s.files,
            s.objects,
            format_size(s.logical_bytes, BINARY),
            format_size(s.stored_bytes, BINARY)
        ),
        format!(
            "space saved {} ({} bytes), dedup ratio {:.2}",
            format_size(s.space_saved, BINARY),
            s.space_saved,
            s.dedup_ratio
        ),
    ];
    if let Some(eta) = s.eta_s {
        out.push(format!("ETA {:.0}s at the rate of the last minute", eta));
    }
    let phase = if s.cleaned_up {
        "cut over and cleaned up"
    } else if s.cut_over {
        "cut over (old store kept until cleanup)"
    } else if s.rolled_back_store {
        "rolled back"
    } else {
        "dual mode (old store in use)"
    };
    out.push(format!("phase: {phase}"));
    for (p, why) in &s.failures {
        out.push(format!("* failed {p}: {why}"));
    }
    for w in &s.warnings {
        out.push(format!("! {w}"));
    }
    for d in &s.damaged_objects {
        let used = if d.packages.is_empty() {
            "used by no recorded package".to_string()
        } else {
            format!("used by {}", d.packages.join(", "))
        };
        out.push(format!("! object {} {}; {used}", d.object, d.problem));
    }
    out
}

/// Lock the store for a phase: exclusively for one that writes (cutover,
/// cleanup, rollback), shared for one that re-reads every object.
/// A path with no store.db is left to the phase, which says so plainly.
fn lock(target: &Path, mode: LockMode, state: &Path) -> Result<Option<TargetLock>> {
    if !crate::migrate::store_to_cas::layout::Layout::new(target)
        .db()
        .exists()
    {
        return Ok(None);
    }
    TargetLock::acquire(target, mode, state).map(Some)
}

/// Run a `cutover store …` command; returns the exit code. `state` is the
/// state directory, named in the target lock so a refused process can say
/// which cutover holds the store.
pub fn dispatch(cmd: StoreCommand, state: &Path) -> Result<i32> {
    match cmd {
        StoreCommand::Scan { source, json } => {
            let r = crate::migrate::store_to_cas::scan::scan(
                &source,
                crate::engine::default_parallel(),
            )?;
            if json {
                crate::outln!("{}", serde_json::to_string(&r).unwrap_or_default())?;
            } else {
                crate::outln!("{} files, {}", r.files, format_size(r.bytes, BINARY))?;
                crate::outln!(
                    "{} candidates after grouping by size ({})",
                    r.candidates,
                    format_size(r.candidate_bytes, BINARY)
                )?;
                crate::outln!(
                    "{} redundant files: {} ({} bytes) can be saved; {} files hashed in {:.2}s",
                    r.redundant_files,
                    format_size(r.reducible_bytes, BINARY),
                    r.reducible_bytes,
                    r.hashed,
                    r.elapsed_s
                )?;
            }
            Ok(0)
        }
        StoreCommand::Status {
            target,
            verify,
            json,
        } => {
            // A plain status reads store.db's committed state and may run
            // beside a migration (to watch it); re-reading every object
            // must not see one half-written, so it shares the lock.
            let _lock = if verify {
                lock(&target, LockMode::Shared, state)?
            } else {
                None
            };
            let s = phases::status(&target, verify)?;
            if json {
                crate::outln!("{}", serde_json::to_string(&s).unwrap_or_default())?;
            } else {
                for line in status_lines(&s) {
                    crate::outln!("{line}")?;
                }
            }
            Ok(if s.healthy() { 0 } else { 1 })
        }
        StoreCommand::Cutover { target, json } => {
            let _lock = lock(&target, LockMode::Exclusive, state)?;
            Ok(print_phase(&phases::cutover(&target)?, json))
        }
        StoreCommand::Cleanup {
            source,
            target,
            confirm,
            json,
        } => {
            let _lock = lock(&target, LockMode::Exclusive, state)?;
            Ok(print_phase(
                &phases::cleanup(&source, &target, confirm)?,
                json,
            ))
        }
        StoreCommand::Rollback {
            target,
            remove_new,
            json,
        } => {
            let _lock = lock(&target, LockMode::Exclusive, state)?;
            Ok(print_phase(&phases::rollback(&target, remove_new)?, json))
        }
    }
}

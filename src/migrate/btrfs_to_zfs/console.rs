//! The console's steps on a repository besides migrate and verify:
//! recreate, which destroys a dataset cutover created (with its snapshots)
//! so that the next migration rebuilds it from the first snapshot. It asks
//! first, and the dataset's name must be typed.

use std::path::Path;

use super::dataset;
use crate::error::{Error, Result};
use crate::job::console::{Source, Step};
use crate::job::{Change, Preview};
use crate::sys::zfs;
use crate::target::{LockMode, TargetLock};

/// The steps of a repository.
pub const STEPS: &[Step] = &[Step {
    key: 'R',
    name: "recreate",
    about: "destroy the dataset cutover created, with its snapshots, so the next migration rebuilds it from s1 (asks; type its name)",
}];

fn dataset_of(source: &Source) -> Result<String> {
    source
        .params
        .get("dataset")
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .ok_or_else(|| Error::bad(format!("{} has no target dataset", source.name)))
}

/// The dataset `source` goes to, if it exists and cutover created it;
/// otherwise the refusal.
fn destroyable(source: &Source) -> Result<(String, dataset::State)> {
    let ds = dataset_of(source)?;
    if let Err(why) = zfs::check_dataset(&ds) {
        return Err(Error::bad(format!(
            "the target of {} is not a ZFS dataset ({why}); give the repository a target POOL/NAME",
            source.name
        )));
    }
    let state = dataset::state(&ds)?;
    if !state.exists {
        return Err(Error::bad(format!(
            "{ds} does not exist: nothing to recreate; migrate (enter) creates it"
        )));
    }
    if state.created_by.is_none() {
        return Err(Error::bad(format!(
            "dataset {ds} was not created by cutover (no {} property); cutover never destroys it — give the repository another target",
            dataset::CREATED
        )));
    }
    Ok((ds, state))
}

/// What recreate destroys: the dataset and each of its snapshots.
pub fn step_preview(source: &Source, step: char) -> Result<Option<Preview>> {
    if step != 'R' {
        return Err(Error::bad(format!("a repository has no step '{step}'")));
    }
    let (ds, state) = destroyable(source)?;
    let mut destroy = Change::new("destroy");
    destroy.add(|| ds.clone());
    for s in &state.snapshots {
        destroy.add(|| format!("{ds}@{s}"));
    }
    Ok(Some(Preview {
        changes: vec![destroy],
        objection: Some(format!(
            "recreate destroys {ds} and its {} snapshots; the next migration copies every snapshot again",
            state.snapshots.len()
        )),
        name: Some(ds),
    }))
}

/// Destroy the dataset (under the target's lock); what was done, in a line.
pub fn run_step(source: &Source, step: char, state_dir: &Path) -> Result<String> {
    if step != 'R' {
        return Err(Error::bad(format!("a repository has no step '{step}'")));
    }
    let (ds, state) = destroyable(source)?;
    let at = match &state.mountpoint {
        Some(m) => m.clone(),
        None => dataset::expected_mountpoint(&ds)?,
    };
    let _lock = TargetLock::acquire(&at, LockMode::Exclusive, state_dir)?;
    zfs::destroy(&ds, true).map_err(dataset::bad)?;
    Ok(format!(
        "destroyed {ds} and {} snapshots; migrate (enter) rebuilds it from the first snapshot",
        state.snapshots.len()
    ))
}

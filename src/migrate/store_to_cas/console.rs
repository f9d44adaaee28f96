//! What the console shows of a package store: the numbers of its
//! content-addressed store as `cutover store status` reads them from
//! `store.db` — packages done / failed / pending, files, distinct objects,
//! space saved, dedup ratio, ETA, phase — with health levels.

use std::path::Path;

use super::db;
use super::discover::packages;
use super::layout::Layout;
use super::phases::{self, PhaseResult, StoreStatus};
use crate::error::{Error, Result};
use crate::fmt;
use crate::job::console::{Source, Step};
use crate::job::details::{Details, Field, Health, Section};
use crate::job::{Change, Preview};
use crate::names;
use crate::target::{LockMode, TargetLock};

/// The store's steps after its migration, as the console offers them.
pub const STEPS: &[Step] = &[
    Step {
        key: 'c',
        name: "cut over",
        about: "re-verify every package, flush, mark the store cut over (the old one stays)",
    },
    Step {
        key: 'x',
        name: "clean up",
        about: "remove the old package directories, each verified right before (asks)",
    },
    Step {
        key: 'b',
        name: "roll back",
        about: "before cleanup: go back to the old store (asks)",
    },
    Step {
        key: 'B',
        name: "roll back, remove the new store",
        about: "roll back and delete objects/ and packages/ (asks)",
    },
];

fn folder_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| names::display(p))
}

/// What a step would change, asked first (none: `c` runs at once).
pub fn step_preview(source: &Source, step: char) -> Result<Option<Preview>> {
    let target = &source.target;
    let s = phases::status(target, false)?;
    match step {
        'c' => {
            if s.cut_over {
                return Err(Error::bad(format!(
                    "{} is already cut over; clean up (x) removes the old store when you are sure",
                    source.name
                )));
            }
            Ok(None)
        }
        'x' => {
            if s.cleaned_up {
                return Err(Error::bad(format!("{} is already cleaned up", source.name)));
            }
            if !s.cut_over {
                return Err(Error::bad(format!(
                    "clean up refused: {} is not cut over; cut it over first (c)",
                    source.name
                )));
            }
            let conn = db::open_read_only(&Layout::new(target).db()).map_err(Error::bad)?;
            let mut delete = Change::new("delete");
            for p in db::packages_with(&conn, "completed").map_err(Error::bad)? {
                if db::cleaned(&conn, &p).map_err(Error::bad)?.as_deref() != Some("removed") {
                    delete.add(|| p.clone());
                }
            }
            Ok(Some(Preview {
                changes: vec![delete],
                objection: Some(format!(
                    "clean up removes the old store's package directories from {}; after it the new store is the only copy",
                    names::display(&source.source)
                )),
                name: Some(folder_name(&source.source)),
            }))
        }
        'b' | 'B' => {
            if s.cleaned_up {
                return Err(Error::bad(
                    "roll back refused: the old store was cleaned up; the new store is the only copy",
                ));
            }
            let mut back = Change::new("roll back");
            back.count = s.completed + s.failed + s.pending + s.in_progress;
            let mut changes = vec![back];
            let objection = (step == 'B').then(|| {
                let mut delete = Change::new("delete");
                delete.count = s.objects;
                delete.first = vec!["objects/".into(), "packages/".into()];
                changes.insert(0, delete);
                format!(
                    "this deletes the new store's objects and packages under {}; the old store stays",
                    names::display(target)
                )
            });
            Ok(Some(Preview {
                changes,
                objection,
                name: (step == 'B').then(|| folder_name(target)),
            }))
        }
        other => Err(Error::bad(format!("a package store has no step '{other}'"))),
    }
}

fn outcome(r: PhaseResult) -> Result<String> {
    if r.ok {
        return Ok(r.message);
    }
    let mut line = r.message;
    if let Some(first) = r.problems.first() {
        line.push_str(&format!(": {first}"));
        if r.problems.len() > 1 {
            line.push_str(&format!(" (and {} more)", r.problems.len() - 1));
        }
    }
    Err(Error::bad(line))
}

/// Run a step, holding the store's lock as `cutover store …` does.
pub fn run_step(source: &Source, step: char, state_dir: &Path) -> Result<String> {
    let target = &source.target;
    if !Layout::new(target).db().exists() {
        return Err(Error::bad(format!(
            "{}: nothing migrated yet; migrate it first (enter)",
            source.name
        )));
    }
    let _lock = TargetLock::acquire(target, LockMode::Exclusive, state_dir)?;
    match step {
        'c' => outcome(phases::cutover(target)?),
        'x' => outcome(phases::cleanup(&source.source, target, true)?),
        'b' => outcome(phases::rollback(target, false)?),
        'B' => outcome(phases::rollback(target, true)?),
        other => Err(Error::bad(format!("a package store has no step '{other}'"))),
    }
}

/// Read the store's numbers (blocking: it queries SQLite).
pub fn read(source: &Source) -> Result<Details, String> {
    if !Layout::new(&source.target).db().exists() {
        return Ok(not_migrated(source));
    }
    match phases::status(&source.target, false) {
        Ok(s) => Ok(numbers(s)),
        Err(e) => Err(format!("cannot read the store: {e}")),
    }
}

fn not_migrated(source: &Source) -> Details {
    Details {
        sections: vec![Section::new(
            "store",
            vec![
                Field::new(
                    "packages",
                    format!(
                        "{} in the old store · none migrated yet",
                        fmt::count(packages(source))
                    ),
                ),
                Field::new(
                    "",
                    "enter migrates the store (the old one is never modified).",
                ),
            ],
        )],
        tables: Vec::new(),
    }
}

fn phase(s: &StoreStatus) -> &'static str {
    if s.cleaned_up {
        "cut over and cleaned up"
    } else if s.cut_over {
        "cut over (old store kept until cleanup)"
    } else if s.rolled_back_store {
        "rolled back (old store in use)"
    } else {
        "dual mode (old store in use)"
    }
}

/// The numbers of a store as the details pane shows them.
pub fn numbers(s: StoreStatus) -> Details {
    let mut packages = format!(
        "{} · {} done · {} failed · {} pending",
        fmt::count(s.packages),
        fmt::count(s.completed),
        fmt::count(s.failed),
        fmt::count(s.pending)
    );
    if s.in_progress > 0 {
        packages.push_str(&format!(" · {} running", fmt::count(s.in_progress)));
    }
    if s.rolled_back > 0 {
        packages.push_str(&format!(" · {} rolled back", fmt::count(s.rolled_back)));
    }
    let packages_health = if s.failed > 0 {
        Health::Bad
    } else if s.rolled_back > 0 {
        Health::Warn
    } else if s.packages > 0 && s.completed == s.packages {
        Health::Good
    } else {
        Health::Plain
    };
    let saved_health = if s.space_saved > 0 {
        Health::Good
    } else {
        Health::Plain
    };
    let eta = match s.eta_s {
        Some(secs) => format!("{} (rate of the last minute)", fmt::eta(secs)),
        None if s.pending + s.in_progress == 0 => "—".to_string(),
        None => "unknown (nothing finished in the last minute)".to_string(),
    };
    let mut fields = vec![
        Field::with("packages", packages, packages_health),
        Field::new(
            "files",
            format!(
                "{} · {} distinct objects",
                fmt::count(s.files),
                fmt::count(s.objects)
            ),
        ),
        Field::with(
            "saved",
            format!(
                "{} · dedup {} · {} in {}",
                fmt::bytes(s.space_saved),
                fmt::ratio(s.dedup_ratio),
                fmt::bytes(s.logical_bytes),
                fmt::bytes(s.stored_bytes)
            ),
            saved_health,
        ),
        Field::new("ETA", eta),
    ];
    let mut warnings = s.warnings.clone();
    if !s.corrupt_objects.is_empty() && !warnings.iter().any(|w| w.contains("damaged")) {
        warnings.push(format!("{} damaged objects", s.corrupt_objects.len()));
    }
    if s.failed > 0 && warnings.is_empty() {
        warnings.push(format!("✗ {} packages failed", fmt::count(s.failed)));
    }
    if warnings.is_empty() {
        fields.push(Field::with("health", "ok", Health::Good));
    }
    for (i, w) in warnings.iter().enumerate() {
        let label = if i == 0 { "health" } else { "" };
        fields.push(Field::with(label, w.clone(), Health::Bad));
    }
    fields.push(Field::new("phase", phase(&s)));
    for (p, why) in &s.failures {
        fields.push(Field::with("failed", format!("{p}: {why}"), Health::Bad));
    }
    Details {
        sections: vec![Section::new("store", fields)],
        tables: Vec::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::job::Migration;
    use crate::migrate::store_to_cas::{StoreParams, StoreToCas};
    use crate::verify::VerifyMode;

    #[test]
    fn a_store_is_read_once_it_exists() {
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path().join("store");
        for p in ["aaa-zlib-1", "bbb-zlib-2"] {
            std::fs::create_dir_all(store.join(p)).unwrap();
            std::fs::write(store.join(p).join("LICENSE"), vec![b'x'; 4096]).unwrap();
        }
        let src = super::super::discover::describe("pkgs", &store, &tmp.path().join("cas"));
        let before = read(&src).unwrap();
        assert!(before.sections[0].fields[0]
            .value
            .contains("2 in the old store · none migrated yet"));
        let job = StoreToCas::new(StoreParams {
            source: store,
            target: tmp.path().join("cas"),
            verify: VerifyMode::Full,
            seed: 1,
        });
        let plan = job.plan().unwrap();
        job.prepare(&plan).unwrap();
        let after = read(&src).unwrap();
        let fields = &after.sections[0].fields;
        assert!(fields[0]
            .value
            .starts_with("2 · 0 done · 0 failed · 2 pending"));
        assert!(fields
            .iter()
            .any(|f| f.label == "phase" && f.value == "dual mode (old store in use)"));
    }
}

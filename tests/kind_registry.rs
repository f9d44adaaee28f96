//! A kind defined here, in the test crate, needs nothing of cutover but its
//! registration: `cutover run`, `jobs`, `resume` and the console know it
//! through the registry and its description alone (its name, arguments,
//! units, rows, run defaults, sources, console runs and details).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{ArgMatches, Args, Parser};
use cutover::cli::Cli;
use cutover::error::{Error, Result};
use cutover::job::console::{RunMode, Settings, Source};
use cutover::job::details::{Column, Details, Field, Health, Section, Table, TableRow};
use cutover::job::event::{Event, ItemReport, Row, Summary};
use cutover::job::kind::{typed, Built, CommonArgs};
use cutover::job::{
    Item, ItemCtx, ItemError, Kind, Memo, Migration, Plan, RunDefaults, Units, Written,
};
use cutover::journal::{JobStatus, Journal};
use cutover::ui::{render, update, Msg, State, StateConfig};
use serde::{Deserialize, Serialize};

const NAME: &str = "fake-steps";
const UNITS: Units = Units {
    item: "step",
    entries: "ticks",
    written: "ticks stamped",
};

/// Writes one file per step into its target; fails step 3 once while a
/// marker file exists (removing it), so a resume has something to redo.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StepParams {
    steps: usize,
    target: PathBuf,
    fail_once: Option<PathBuf>,
}

struct Steps(StepParams);

impl Migration for Steps {
    fn kind(&self) -> &'static str {
        NAME
    }
    fn units(&self) -> Units {
        UNITS
    }
    fn params(&self) -> serde_json::Value {
        serde_json::to_value(&self.0).unwrap()
    }
    fn check(&self) -> Result<()> {
        Ok(())
    }
    fn plan(&self) -> Result<Plan> {
        let items: Vec<Item> = (0..self.0.steps)
            .map(|i| Item {
                key: format!("step-{i:02}"),
                files: 2,
                bytes: 10,
            })
            .collect();
        Ok(Plan {
            files_total: 2 * items.len() as u64,
            bytes_total: 10 * items.len() as u64,
            items,
            ..Plan::default()
        })
    }
    fn prepare(&self, _plan: &Plan) -> Result<()> {
        std::fs::create_dir_all(&self.0.target).map_err(|e| Error::bad(e.to_string()))
    }
    fn describe_item(&self, item: &Item) -> Vec<String> {
        vec![format!("stamp {}", item.key)]
    }
    fn run_item(&self, item: &Item, _ctx: &ItemCtx) -> std::result::Result<Written, ItemError> {
        if item.key == "step-03" {
            if let Some(flag) = &self.0.fail_once {
                if std::fs::remove_file(flag).is_ok() {
                    return Err(ItemError("scripted failure".into()));
                }
            }
        }
        std::fs::write(self.0.target.join(&item.key), b"stamped")
            .map_err(|e| ItemError(e.to_string()))?;
        Ok(Written {
            report: ItemReport {
                files: 2,
                files_transferred: 2,
                ..Default::default()
            },
            memo: None,
        })
    }
    fn verify_item(
        &self,
        item: &Item,
        _ctx: &ItemCtx,
        _memo: Option<&Memo>,
        report: &mut ItemReport,
    ) -> std::result::Result<(), ItemError> {
        let ok = std::fs::read(self.0.target.join(&item.key)).is_ok_and(|b| b == b"stamped");
        report.rows.push(Row::of(
            "tick",
            &serde_json::json!({ "step": item.key, "ok": ok }),
        ));
        if ok {
            Ok(())
        } else {
            Err(ItemError(format!("{} missing in target", item.key)))
        }
    }
    fn verify_label(&self) -> String {
        "full".into()
    }
    fn rollback(&self) -> Result<String> {
        Ok("nothing".into())
    }
}

#[derive(Debug, Args)]
struct StepArgs {
    #[arg(long)]
    steps: usize,
    #[arg(long)]
    target: PathBuf,
    #[arg(long)]
    fail_once: Option<PathBuf>,
}

struct StepsKind;

impl Kind for StepsKind {
    fn name(&self) -> &'static str {
        NAME
    }
    fn about(&self) -> &'static str {
        "Stamp one file per step (a test kind)"
    }
    fn units(&self) -> Units {
        UNITS
    }
    fn run_defaults(&self) -> RunDefaults {
        RunDefaults {
            parallel: Some(2),
            batch: Some(3),
        }
    }
    fn verifies(&self) -> bool {
        false
    }
    fn args(&self, cmd: clap::Command) -> clap::Command {
        StepArgs::augment_args(cmd)
    }
    fn build(&self, args: &ArgMatches, _common: &CommonArgs, _v: bool) -> Result<Built> {
        let a: StepArgs = typed(args)?;
        Ok(Built {
            migration: Box::new(Steps(StepParams {
                steps: a.steps,
                target: a.target,
                fail_once: a.fail_once,
            })),
            defaults: self.run_defaults(),
        })
    }
    fn rebuild(&self, params: &serde_json::Value) -> Result<Box<dyn Migration>> {
        let p: StepParams = cutover::job::journalled_params(NAME, params)?;
        Ok(Box::new(Steps(p)))
    }
    fn sources(&self, name: &str, path: &Path, target: &Path) -> Vec<Source> {
        let mut s = Source::new(NAME, name, path.to_path_buf(), target.to_path_buf());
        s.entries = 12;
        s.bytes = 60;
        s.count = "6 steps".into();
        s.live = true;
        s.details = Details {
            sections: Vec::new(),
            tables: vec![Table {
                title: "plan".into(),
                columns: vec![Column::text("step"), Column::number("ticks")],
                rows: (0..6)
                    .map(|i| TableRow {
                        cells: vec![format!("step-{i:02}"), "2".into()],
                        health: Health::Plain,
                    })
                    .collect(),
            }],
        };
        vec![s]
    }
    fn modes(&self) -> &'static [RunMode] {
        &[RunMode::Migrate, RunMode::Verify]
    }
    fn console_job(&self, picked: &[&Source], mode: RunMode, _set: &Settings) -> Result<Built> {
        let [one] = picked else {
            return Err(Error::bad("one source at a time"));
        };
        assert_eq!(mode, RunMode::Migrate);
        Ok(Built {
            migration: Box::new(Steps(StepParams {
                steps: 6,
                target: one.target.clone(),
                fail_once: None,
            })),
            defaults: self.run_defaults(),
        })
    }
    fn read_details(&self, source: &Source) -> std::result::Result<Details, String> {
        let stamped = std::fs::read_dir(&source.target).map_or(0, |d| d.count());
        Ok(Details {
            sections: vec![Section::new(
                "stamps",
                vec![Field::with(
                    "stamped",
                    format!("{stamped} of 6"),
                    if stamped == 6 {
                        Health::Good
                    } else {
                        Health::Warn
                    },
                )],
            )],
            tables: Vec::new(),
        })
    }
}

static KIND: StepsKind = StepsKind;

fn register() {
    // Several tests of this file may register it; the first one does.
    let _ = cutover::kinds::register(&KIND);
}

fn dispatch(state: &Path, args: &[&str]) -> i32 {
    let mut argv = vec!["cutover", "--state-dir", state.to_str().unwrap()];
    argv.extend_from_slice(args);
    let cli = Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{e}"));
    let command = cli.command.expect("a command");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime
        .block_on(cutover::cli::dispatch(Some(state.to_path_buf()), command))
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_registered_kind_runs_lists_and_resumes() {
    register();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let target = dir.path().join("stamps");
    let flag = dir.path().join("fail-once");
    std::fs::write(&flag, b"").unwrap();
    let (t, f) = (target.to_str().unwrap(), flag.to_str().unwrap());
    let run = [
        "run",
        NAME,
        "--steps",
        "6",
        "--target",
        t,
        "--fail-once",
        f,
        "--json",
    ];
    assert_eq!(dispatch(&state, &run), 1, "step-03 fails once");

    let jobs = Journal::list(&state).unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].kind, NAME);
    assert_eq!(jobs[0].status, JobStatus::Failed);
    assert_eq!((jobs[0].items_verified, jobs[0].items_failed), (5, 1));

    let id = jobs[0].job.to_string();
    assert_eq!(dispatch(&state, &["resume", id.as_str()]), 0);
    let jobs = Journal::list(&state).unwrap();
    assert_eq!(jobs[0].status, JobStatus::Completed);
    assert_eq!(std::fs::read_dir(&target).unwrap().count(), 6);
}

#[test]
fn an_unknown_kind_is_refused_naming_the_known_ones() {
    register();
    let err = cutover::kinds::find("no-such-kind")
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("tree-sync") && err.contains(NAME), "{err}");
    let again = cutover::kinds::register(&KIND).err().unwrap().to_string();
    assert!(again.contains("already registered"), "{again}");
}

#[test]
fn the_console_model_shows_a_registered_kind_in_its_own_units() {
    register();
    let t0 = Instant::now();
    let source = &KIND.sources("a", Path::new("/srv/a"), Path::new("/mnt/a"))[0];
    let mut s = State::new(
        StateConfig {
            title: "test".into(),
            sources: vec![cutover::ui::kinds::view(source)],
            verify: "full".into(),
            parallel: 2,
        },
        t0,
    );
    update(&mut s, Msg::Jobs(Vec::new()));
    update(&mut s, Msg::ch(' '));
    update(&mut s, Msg::key(crossterm::event::KeyCode::Enter));
    update(&mut s, Msg::JobSpawned { job: 7 });
    let at = |ms| t0 + Duration::from_millis(ms);
    let mut send = |ms, event| {
        update(&mut s, Msg::Engine { event, at: at(ms) });
    };
    send(
        10,
        Event::JobStarted {
            job: 7,
            kind: NAME.into(),
            items_total: 6,
            items_skipped: 0,
            files_total: 12,
            bytes_total: 60,
            verify: "full".into(),
            dry_run: false,
            units: UNITS,
        },
    );
    send(
        20,
        Event::Summary(Summary {
            job: 7,
            kind: NAME.into(),
            items_total: 6,
            items_verified: 6,
            files: 12,
            files_transferred: 12,
            ..Default::default()
        }),
    );
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 40)).unwrap();
    terminal.draw(|f| render(f, &s)).unwrap();
    let screen = terminal.backend().to_string();
    // The metrics and items panes count in the kind's words, not in files.
    assert!(screen.contains("ticks    12 / 12 (100%)"), "{screen}");
    assert!(screen.contains("written  12 ticks stamped"), "{screen}");
    assert!(screen.contains("6 items · 12 ticks"), "{screen}");
}

#[test]
fn the_console_offers_a_registered_kind_builds_its_jobs_and_shows_its_details() {
    register();
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("stamps");
    std::fs::create_dir(&target).unwrap();
    let all = KIND.sources("steps", tmp.path(), &target);
    let view = cutover::ui::kinds::view(&all[0]);
    assert_eq!(view.kind, NAME);
    assert_eq!(view.modes, vec![RunMode::Migrate, RunMode::Verify]);
    let set = Settings {
        parallel: 8,
        verify: cutover::verify::VerifyMode::Full,
        seed: 1,
        force: false,
    };
    // The kind builds the job; its run defaults decide how it runs.
    let job = cutover::ui::kinds::build(&all, &[0], RunMode::Migrate, &set).unwrap();
    assert_eq!(job.migration.kind(), NAME);
    assert_eq!((job.opts.parallel, job.opts.batch), (2, Some(3)));
    let err = cutover::ui::kinds::build(&all, &[0], RunMode::Final, &set)
        .err()
        .unwrap();
    assert!(err.contains("offers no final sync"), "{err}");
    // A journalled job maps back to its source through the kind.
    let row = cutover::ui::kinds::job_row(
        &cutover::journal::JobInfo {
            job: 3,
            kind: NAME.into(),
            status: JobStatus::Interrupted,
            items_total: 6,
            items_verified: 2,
            items_failed: 0,
            params: serde_json::json!({"source": tmp.path().to_str().unwrap()}),
            created_unix: 0,
            updated_unix: 0,
        },
        "migrate",
        &all,
    );
    assert_eq!(
        (row.label.as_str(), row.sources.clone()),
        ("steps (migrate)", vec![0])
    );

    // The details pane draws the kind's table, then its live reading.
    let t0 = Instant::now();
    let mut s = State::new(
        StateConfig {
            title: "test".into(),
            sources: vec![view],
            verify: "full".into(),
            parallel: 2,
        },
        t0,
    );
    let draw = |s: &State| {
        let mut terminal =
            ratatui::Terminal::new(ratatui::backend::TestBackend::new(100, 30)).unwrap();
        terminal.draw(|f| render(f, s)).unwrap();
        terminal.backend().to_string()
    };
    let before = draw(&s);
    assert!(before.contains("6 steps"), "{before}");
    assert!(before.contains("step-02"), "{before}");
    std::fs::write(target.join("x"), b"1").unwrap();
    let reading = cutover::ui::kinds::read_details(&all[0]);
    update(&mut s, Msg::Details { source: 0, reading });
    let after = draw(&s);
    assert!(after.contains("stamped   1 of 6"), "{after}");
}

//! Starting jobs: what the selection runs (each source's own runs), the
//! queue that runs them one at a time (rolling), redb nodes of one cluster
//! grouped into one job when the operator asked for them together, and
//! resuming a journalled job.

use crate::ui::model::{JobMetrics, Outcome, Pane, RunMode, SourceView};

use super::details::ask_details;
use super::{quit, Command, QueuedRun, State};

/// Start the selection: `asked` is the run the key asked for, or `None` for
/// each source's first run (`enter`: bulk copy a tree, migrate a store or a
/// redb node). Sources that do not offer the run are skipped, and the
/// footer says so.
pub(super) fn start_selection(state: &mut State, asked: Option<RunMode>) -> Vec<Command> {
    if state.previewing || state.dialog.is_some() {
        state.status = Some("a run is waiting for your answer: y or n first".into());
        return Vec::new();
    }
    if let Some(job) = state.active_job() {
        state.status = Some(format!(
            "{} is running: wait for it, or c to cancel it",
            job.title()
        ));
        return Vec::new();
    }
    let selected = state.selected();
    if selected.is_empty() {
        state.status = Some("nothing selected: move to a source and press space".into());
        return Vec::new();
    }
    let mut runs: Vec<QueuedRun> = Vec::new();
    // Skipped sources, and the runs each skipped kind offers.
    let mut skipped: Vec<(String, String, Vec<RunMode>)> = Vec::new();
    for i in selected {
        let Some(src) = state.sources.get(i) else {
            continue;
        };
        let mode = match asked {
            None => match src.modes.first() {
                Some(&m) => m,
                None => {
                    skipped.push((src.name.clone(), src.kind.clone(), Vec::new()));
                    continue;
                }
            },
            Some(m) if src.offers(m) => m,
            Some(_) => {
                skipped.push((src.name.clone(), src.kind.clone(), src.modes.clone()));
                continue;
            }
        };
        if (state.together || src.joint) && src.group.is_some() {
            let same = runs.iter_mut().find(|r| {
                r.mode == mode
                    && r.sources
                        .first()
                        .and_then(|&j| state.sources.get(j))
                        .is_some_and(|s| s.kind == src.kind && runs_with(s, src))
            });
            if let Some(run) = same {
                run.sources.push(i);
                continue;
            }
        }
        runs.push(QueuedRun {
            mode,
            confirmed: false,
            force: false,
            sources: vec![i],
        });
    }
    let skipped_note = |what: &str| -> String {
        let names: Vec<&str> = skipped.iter().map(|(n, _, _)| n.as_str()).collect();
        let mut offers: Vec<String> = Vec::new();
        for (_, kind, modes) in &skipped {
            let modes: Vec<&str> = modes.iter().map(|m| m.label()).collect();
            let line = if modes.is_empty() {
                format!("{kind} offers no run here")
            } else {
                format!("{kind} offers {}", modes.join(", "))
            };
            if !offers.contains(&line) {
                offers.push(line);
            }
        }
        format!("{} {what}: {}", names.join(", "), offers.join("; "))
    };
    if runs.is_empty() {
        let mode = asked.map(RunMode::label).unwrap_or("run");
        state.status = Some(skipped_note(&format!("cannot {mode}")));
        return Vec::new();
    }
    state.queue = runs.into();
    state.batch_done = 0;
    state.batch_failed = 0;
    let cmds = next_in_queue(state);
    if !skipped.is_empty() {
        let mode = asked.map(RunMode::label).unwrap_or("run");
        let note = skipped_note(&format!("skipped (no {mode})"));
        tracing::warn!("{note}");
        state.status = Some(note);
        state.status_sticky = true;
    }
    cmds
}

/// The name of a job on `sources`: one source's name, or the first node's
/// name followed by the other nodes (`cluster/node-1, node-2`).
/// Whether `src` joins the run that `first` opened: one group (a cluster,
/// a node's stack), or node services going to one picked node — the
/// services of several nodes then move as one job.
fn runs_with(first: &SourceView, src: &SourceView) -> bool {
    first.group == src.group || (src.joint && src.to_node.is_some() && first.to_node == src.to_node)
}

pub(super) fn job_name(state: &State, sources: &[usize]) -> String {
    let names: Vec<&str> = sources
        .iter()
        .filter_map(|&i| state.sources.get(i))
        .map(|s| s.name.as_str())
        .collect();
    crate::ui::kinds::joined_names(&names)
}

/// Start the next queued job, if any.
pub(super) fn next_in_queue(state: &mut State) -> Vec<Command> {
    let Some(run) = state.queue.pop_front() else {
        return Vec::new();
    };
    let name = job_name(state, &run.sources);
    // A run that asks first shows what it would change before it starts.
    let asks = run.sources.iter().any(|&i| {
        state
            .sources
            .get(i)
            .is_some_and(|s| s.asks_first.contains(&run.mode))
    });
    if asks && !run.confirmed {
        state.status = Some(format!(
            "{} of {name}: working out what it would change…",
            run.mode.label()
        ));
        state.previewing = true;
        let cmd = Command::Preview {
            sources: run.sources.clone(),
            mode: run.mode,
        };
        state.queue.push_front(run);
        return vec![cmd];
    }
    for &i in &run.sources {
        if let Some(src) = state.sources.get_mut(i) {
            if let Some(slot) = src.runs.slot(run.mode) {
                *slot = Some(Outcome::Running);
            }
            // The table rows shown are those of the last job.
            src.results.clear();
        }
    }
    let mut metrics = JobMetrics::new(run.mode, run.sources.clone(), name, state.now);
    metrics.verify = state.verify.clone();
    state.job = Some(metrics);
    vec![Command::StartJob {
        sources: run.sources,
        mode: run.mode,
        force: run.force,
    }]
}

/// `r` in the jobs pane: resume the job under the cursor.
pub(super) fn resume(state: &mut State) -> Vec<Command> {
    if state.focus != Pane::Jobs {
        state.status = Some("r resumes the job under the cursor in the Jobs pane".into());
        return Vec::new();
    }
    if let Some(job) = state.active_job() {
        state.status = Some(format!("{} is running: wait for it", job.title()));
        return Vec::new();
    }
    let Some(row) = state.jobs.get(state.cursor.jobs).cloned() else {
        state.status = Some("no job to resume".into());
        return Vec::new();
    };
    if !row.resumable() {
        state.status = Some(if row.mode == "verify" {
            format!(
                "job #{} is a verification: select its sources and press v to verify again",
                row.job
            )
        } else {
            format!("job #{} is completed; nothing to resume", row.job)
        });
        return Vec::new();
    }
    state.batch_done = 0;
    state.batch_failed = 0;
    let mut metrics = JobMetrics::new(
        RunMode::Resume,
        row.sources.clone(),
        row.label.clone(),
        state.now,
    );
    metrics.job = Some(row.job);
    metrics.kind = row.kind.clone();
    metrics.resumed = match row.mode.as_str() {
        "bulk" => Some(RunMode::Bulk),
        "final" => Some(RunMode::Final),
        "verify" => Some(RunMode::Verify),
        "migrate" => Some(RunMode::Migrate),
        _ => None,
    };
    state.job = Some(metrics);
    vec![Command::ResumeJob {
        job: row.job,
        kind: row.kind,
        params: row.params,
    }]
}

/// After a job ended: read the numbers of the stores it wrote, then quit
/// if asked, else start the next queued job.
pub(super) fn after_job(state: &mut State) -> Vec<Command> {
    let mut cmds = vec![Command::RefreshJobs];
    // "cancelling…" is stale once the job stopped.
    if state
        .status
        .as_deref()
        .is_some_and(|s| s.starts_with("cancelling"))
    {
        state.status = None;
    }
    let ended: Vec<usize> = state
        .job
        .as_ref()
        .map(|m| m.sources.clone())
        .unwrap_or_default();
    cmds.extend(ended.into_iter().filter_map(|i| ask_details(state, i)));
    if state.quitting {
        cmds.extend(quit(state));
        return cmds;
    }
    cmds.extend(next_in_queue(state));
    cmds
}

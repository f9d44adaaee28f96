//! A runbook file (TOML, see `docs/runbooks.md`): phases of steps, each
//! with an `id` and a `kind` (`manual`, `command`, `cutover`, `wait`), and
//! `[vars]` filled into strings as `{name}`. Loading checks everything an
//! operator can get wrong — unknown keys, missing fields, duplicate ids, an
//! unknown `{name}` — and names the line.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::error::{Error, Result};
use crate::names;

/// A loaded runbook, variables filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Runbook {
    /// Its name.
    pub name: String,
    /// Its phases, in order.
    pub phases: Vec<Phase>,
}

/// One phase: steps in order, and the steps that undo it.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    /// Its name (`window`).
    pub name: String,
    /// Its steps.
    pub steps: Vec<Step>,
    /// What undoes it (`cutover runbook rollback --phase NAME`).
    pub rollback: Vec<Step>,
}

/// One step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Unique in the runbook.
    pub id: String,
    /// What it does.
    pub action: Action,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// The operator does something and confirms it (typing `confirm` when set).
    Manual {
        /// What to do.
        text: String,
        /// The word to type for a dangerous step.
        confirm: Option<String>,
    },
    /// A command on a node; passes on the expected exit (and output).
    Command {
        /// The argument list (never a shell string).
        run: Vec<String>,
        /// Where it runs (`local`).
        node: String,
        /// The exit code that passes.
        expect_exit: i32,
        /// A substring the output must hold.
        expect_output: Option<String>,
    },
    /// A cutover command line run in-process; passes when its job verified every item.
    Cutover {
        /// `["run", "tree-sync", "--source", …]`.
        args: Vec<String>,
    },
    /// A watch window, ended early only by the operator.
    Wait {
        /// How long.
        minutes: f64,
    },
}

impl Action {
    /// `manual`, `command`, `cutover`, `wait`.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Manual { .. } => "manual",
            Action::Command { .. } => "command",
            Action::Cutover { .. } => "cutover",
            Action::Wait { .. } => "wait",
        }
    }

    /// One line on what it does, for listings.
    pub fn describe(&self) -> String {
        match self {
            Action::Manual { text, .. } => text.clone(),
            Action::Command { run, node, .. } => format!("on {node}: {}", run.join(" ")),
            Action::Cutover { args } => format!("cutover {}", args.join(" ")),
            Action::Wait { minutes } => format!("watch for {minutes} min"),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBook {
    name: String,
    #[serde(default)]
    vars: BTreeMap<String, String>,
    #[serde(default, rename = "phase")]
    phases: Vec<RawPhase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPhase {
    name: Spanned<String>,
    #[serde(default, rename = "step")]
    steps: Vec<RawStep>,
    #[serde(default)]
    rollback: Vec<RawStep>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    id: Spanned<String>,
    kind: Spanned<String>,
    text: Option<Spanned<String>>,
    confirm: Option<Spanned<String>>,
    run: Option<Vec<Spanned<String>>>,
    node: Option<Spanned<String>>,
    expect_exit: Option<i32>,
    expect_output: Option<Spanned<String>>,
    args: Option<Vec<Spanned<String>>>,
    minutes: Option<f64>,
}

/// Turns spans into line numbers and fills in variables.
struct Filler<'a> {
    file: &'a str,
    text: &'a str,
    vars: &'a BTreeMap<String, String>,
}

impl Filler<'_> {
    fn line(&self, at: usize) -> usize {
        self.text[..at.min(self.text.len())].matches('\n').count() + 1
    }

    fn bad(&self, at: usize, what: impl std::fmt::Display) -> Error {
        Error::bad(format!("{}, line {}: {what}", self.file, self.line(at)))
    }

    /// `s` with every `{name}` replaced; an unknown name is an error.
    fn fill(&self, s: &Spanned<String>) -> Result<String> {
        let raw = s.get_ref();
        let mut out = String::with_capacity(raw.len());
        let mut rest = raw.as_str();
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                return Err(self.bad(s.span().start, format!("'{{' without '}}' in \"{raw}\"")));
            };
            let name = &after[..close];
            match self.vars.get(name) {
                Some(v) => out.push_str(v),
                None => {
                    return Err(self.bad(
                        s.span().start,
                        format!(
                            "unknown variable {{{name}}}: define it in [vars] or pass --var {name}=VALUE"
                        ),
                    ))
                }
            }
            rest = &after[close + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn fill_all(&self, list: &[Spanned<String>]) -> Result<Vec<String>> {
        list.iter().map(|s| self.fill(s)).collect()
    }

    fn step(&self, raw: &RawStep) -> Result<Step> {
        let at = raw.id.span().start;
        let need = |what: &str| {
            self.bad(
                at,
                format!(
                    "step '{}' ({}) needs `{what}`",
                    raw.id.get_ref(),
                    raw.kind.get_ref()
                ),
            )
        };
        let action = match raw.kind.get_ref().as_str() {
            "manual" => Action::Manual {
                text: self.fill(raw.text.as_ref().ok_or_else(|| need("text"))?)?,
                confirm: raw.confirm.as_ref().map(|c| self.fill(c)).transpose()?,
            },
            "command" => {
                let run = self.fill_all(raw.run.as_ref().ok_or_else(|| need("run"))?)?;
                if run.is_empty() {
                    return Err(need("run (a non-empty list)"));
                }
                Action::Command {
                    run,
                    node: match &raw.node {
                        Some(n) => self.fill(n)?,
                        None => "local".to_string(),
                    },
                    expect_exit: raw.expect_exit.unwrap_or(0),
                    expect_output: raw
                        .expect_output
                        .as_ref()
                        .map(|o| self.fill(o))
                        .transpose()?,
                }
            }
            "cutover" => {
                let args = self.fill_all(raw.args.as_ref().ok_or_else(|| need("args"))?)?;
                if args.is_empty() {
                    return Err(need("args (a cutover command line)"));
                }
                Action::Cutover { args }
            }
            "wait" => {
                let minutes = raw.minutes.ok_or_else(|| need("minutes"))?;
                if minutes.is_nan() || minutes < 0.0 {
                    return Err(self.bad(at, "minutes must be 0 or more"));
                }
                Action::Wait { minutes }
            }
            other => {
                return Err(self.bad(
                    raw.kind.span().start,
                    format!("unknown step kind '{other}': use manual, command, cutover or wait"),
                ))
            }
        };
        Ok(Step {
            id: raw.id.get_ref().clone(),
            action,
        })
    }
}

/// Parse `text` (read from `file`) with `overrides` (`--var k=v`) over its `[vars]`.
pub fn parse(file: &str, text: &str, overrides: &[(String, String)]) -> Result<Runbook> {
    let raw: RawBook = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        match line {
            Some(l) => Error::bad(format!("{file}, line {l}: {}", e.message())),
            None => Error::bad(format!("{file}: {}", e.message())),
        }
    })?;
    let mut vars = raw.vars.clone();
    for (k, v) in overrides {
        vars.insert(k.clone(), v.clone());
    }
    let filler = Filler {
        file,
        text,
        vars: &vars,
    };
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut phases = Vec::with_capacity(raw.phases.len());
    for p in &raw.phases {
        let mut steps = Vec::new();
        let mut rollback = Vec::new();
        for (raw_steps, out) in [(&p.steps, &mut steps), (&p.rollback, &mut rollback)] {
            for s in raw_steps {
                let at = s.id.span().start;
                if let Some(first) = seen.insert(s.id.get_ref().clone(), at) {
                    return Err(filler.bad(
                        at,
                        format!(
                            "step id '{}' is used twice (first at line {}): ids must be unique",
                            s.id.get_ref(),
                            filler.line(first)
                        ),
                    ));
                }
                out.push(filler.step(s)?);
            }
        }
        phases.push(Phase {
            name: p.name.get_ref().clone(),
            steps,
            rollback,
        });
    }
    if phases.iter().all(|p| p.steps.is_empty()) {
        return Err(Error::bad(format!("{file}: the runbook has no steps")));
    }
    Ok(Runbook {
        name: raw.name,
        phases,
    })
}

/// Load a runbook file.
pub fn load(path: &Path, overrides: &[(String, String)]) -> Result<Runbook> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::bad(format!(
            "runbook {} cannot be read ({e}); check the path",
            names::display(path)
        ))
    })?;
    parse(&names::display(path), &text, overrides)
}

/// `k=v` from `--var`.
pub fn parse_var(s: &str) -> std::result::Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("--var {s}: give NAME=VALUE")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../assets/runbooks/tree-cutover.toml");

    #[test]
    fn the_issue_example_loads_with_vars_filled_and_overridden() {
        let book = parse("book.toml", EXAMPLE, &[("dst".into(), "/mnt/x".into())]).unwrap();
        assert_eq!(book.name, "tree cutover");
        assert_eq!(book.phases.len(), 2);
        assert_eq!(
            book.phases[0].steps[0].action,
            Action::Command {
                run: vec!["test".into(), "-d".into(), "/mnt/x".into()],
                node: "local".into(),
                expect_exit: 0,
                expect_output: None,
            }
        );
        assert_eq!(book.phases[1].rollback[0].id, "resume-writers");
        assert_eq!(
            book.phases[1].steps[0].action.describe(),
            "Pause every writer of /srv/data"
        );
    }

    #[test]
    fn mistakes_name_the_line() {
        let unknown_var = EXAMPLE.replace("Pause every writer of {src}", "Pause {writers}");
        let e = parse("book.toml", &unknown_var, &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("book.toml, line 25: unknown variable {writers}"),
            "{e}"
        );
        let unknown_key = EXAMPLE.replace("kind = \"manual\"\ntext", "kind = \"manual\"\ntxet");
        let e = parse("book.toml", &unknown_key, &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("book.toml, line 25: unknown field `txet`"),
            "{e}"
        );
        let twice = EXAMPLE.replace("id = \"final\"", "id = \"space\"");
        let e = parse("book.toml", &twice, &[]).unwrap_err().to_string();
        assert!(
            e.contains("line 27: step id 'space' is used twice (first at line 12)"),
            "{e}"
        );
        let no_text = EXAMPLE.replace("text = \"Pause every writer of {src}\"\n", "");
        let e = parse("book.toml", &no_text, &[]).unwrap_err().to_string();
        assert!(
            e.contains("line 23: step 'pause-writers' (manual) needs `text`"),
            "{e}"
        );
        let kind = EXAMPLE.replace("kind = \"command\"", "kind = \"shell\"");
        let e = parse("book.toml", &kind, &[]).unwrap_err().to_string();
        assert!(e.contains("line 13: unknown step kind 'shell'"), "{e}");
        assert!(parse_var("a=b=c").unwrap() == ("a".into(), "b=c".into()));
        assert!(parse_var("=x").is_err());
    }
}

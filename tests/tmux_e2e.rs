//! The console end to end: the built binary runs `demo` in a detached tmux
//! session (100x30) and the key lines of `demo.tape` after `Show` are
//! replayed in it, so the recorded demo and this test cannot drift apart.
//! `# expect: TEXT` comments in the tape are waited for on screen
//! (`tmux capture-pane -p`). Afterwards the test checks that the process
//! ended, the terminal left the alternate screen and raw mode, and the
//! journal in the isolated state directory recorded the jobs of every kind
//! the tape runs (tree-sync, store-to-cas, redb-to-sqlite).
//!
//! Without tmux the test prints `skipped: tmux not installed`, unless
//! `CUTOVER_REQUIRE_REAL_FS=1`, where it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::tmux::{tmux_installed, Tmux};

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const WIDTH: &str = "100";
const HEIGHT: &str = "30";
/// How long one `# expect:` may take (debug builds on a loaded CI machine).
const EXPECT_TIMEOUT: Duration = Duration::from_secs(120);
/// The tape's paths, replaced by the test's own.
const TAPE_BINARY: &str = "target/release/cutover";
const TAPE_DIR: &str = "/tmp/cutover-demo";

/// One step of the tape.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    /// Type this text literally.
    Type(String),
    /// Press a key (tmux key name) this many times.
    Key(String, usize),
    /// Wait.
    Sleep(Duration),
    /// Wait until the text is on screen.
    Expect(String),
}

fn parse_duration(s: &str) -> Duration {
    let s = s.trim();
    if let Some(ms) = s.strip_suffix("ms") {
        Duration::from_millis(ms.parse().unwrap_or_else(|_| panic!("bad Sleep {s}")))
    } else if let Some(m) = s.strip_suffix('m') {
        Duration::from_secs_f64(m.parse::<f64>().unwrap_or_else(|_| panic!("bad Sleep {s}")) * 60.0)
    } else {
        let secs = s.strip_suffix('s').unwrap_or(s);
        Duration::from_secs_f64(secs.parse().unwrap_or_else(|_| panic!("bad Sleep {s}")))
    }
}

/// The text of a VHS string: "…", '…' or `…`.
fn unquote(s: &str) -> String {
    let s = s.trim();
    let mut chars = s.chars();
    let (Some(open), Some(close)) = (chars.next(), s.chars().last()) else {
        panic!("empty string in tape");
    };
    assert!(
        s.len() >= 2 && open == close && matches!(open, '"' | '\'' | '`'),
        "tape string not quoted: {s}"
    );
    s[1..s.len() - 1].replace("\\\"", "\"")
}

/// The tmux name of a VHS key.
fn tmux_key(vhs: &str) -> Option<String> {
    let key = match vhs {
        "Enter" => "Enter",
        "Space" => "Space",
        "Tab" => "Tab",
        "Backspace" => "BSpace",
        "Escape" => "Escape",
        "Up" => "Up",
        "Down" => "Down",
        "Left" => "Left",
        "Right" => "Right",
        "PageUp" => "PPage",
        "PageDown" => "NPage",
        "Home" => "Home",
        "End" => "End",
        _ => {
            let c = vhs.strip_prefix("Ctrl+")?;
            return Some(format!("C-{}", c.to_lowercase()));
        }
    };
    Some(key.to_string())
}

/// The steps after `Show`, with paths replaced.
fn parse_tape(tape: &str, binary: &str, dir: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut shown = false;
    for line in tape.lines().map(str::trim) {
        if line == "Show" {
            shown = true;
            continue;
        }
        if !shown || line.is_empty() {
            continue;
        }
        if let Some(text) = line.strip_prefix("# expect:") {
            steps.push(Step::Expect(text.trim().to_string()));
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        // `Type@50ms "x"`, `Down@100ms 3`: the speed does not matter here.
        let word = word.split('@').next().unwrap_or(word);
        match word {
            "Type" => steps.push(Step::Type(
                unquote(rest)
                    .replace(TAPE_BINARY, binary)
                    .replace(TAPE_DIR, dir),
            )),
            "Sleep" => steps.push(Step::Sleep(parse_duration(rest))),
            "Hide" | "Show" | "Screenshot" => {}
            key => {
                let name = tmux_key(key)
                    .unwrap_or_else(|| panic!("demo.tape: the test cannot replay `{line}`"));
                let count = if rest.trim().is_empty() {
                    1
                } else {
                    rest.trim()
                        .parse()
                        .unwrap_or_else(|_| panic!("demo.tape: bad count in `{line}`"))
                };
                steps.push(Step::Key(name, count));
            }
        }
    }
    assert!(shown, "demo.tape has no `Show` line");
    steps
}

/// A tmux server of our own (its socket in the test's temporary
/// directory), killed when dropped.
fn quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

#[test]
fn tape_lines_parse_into_steps() {
    let tape = "Hide\nType \"cargo build\"\nShow\n# a comment\n\
                Type \"target/release/cutover demo --dir /tmp/cutover-demo\"\nEnter\n\
                # expect: Sources\nDown 3\nSleep 500ms\nSleep 2s\nType@80ms 'q'\nCtrl+C\n";
    assert_eq!(
        parse_tape(tape, "BIN", "DIR"),
        vec![
            Step::Type("BIN demo --dir DIR".into()),
            Step::Key("Enter".into(), 1),
            Step::Expect("Sources".into()),
            Step::Key("Down".into(), 3),
            Step::Sleep(Duration::from_millis(500)),
            Step::Sleep(Duration::from_secs(2)),
            Step::Type("q".into()),
            Step::Key("C-c".into(), 1),
        ]
    );
}

#[test]
fn demo_tape_in_tmux() {
    if !tmux_installed() {
        if std::env::var("CUTOVER_REQUIRE_REAL_FS").as_deref() == Ok("1") {
            panic!("tmux not installed and CUTOVER_REQUIRE_REAL_FS=1");
        }
        println!("skipped: tmux not installed");
        return;
    }
    let tape_path = concat!(env!("CARGO_MANIFEST_DIR"), "/demo.tape");
    let tape = std::fs::read_to_string(tape_path).expect("read demo.tape");
    let tmp = tempfile::tempdir().expect("tempdir");
    let sandbox = tmp.path().join("demo");
    let state = tmp.path().join("state");
    let bin = Path::new(env!("CARGO_BIN_EXE_cutover"));
    let launch = format!("{} --state-dir {}", quote(bin), quote(&state));
    let steps = parse_tape(&tape, &launch, &sandbox.display().to_string());
    assert!(
        steps
            .iter()
            .any(|s| matches!(s, Step::Type(t) if t.contains("demo --dir"))),
        "demo.tape does not start `cutover demo --dir …` after Show"
    );

    let tmux = Tmux::new(tmp.path().join("tmux.sock"), "e2e");
    tmux.ok(&[
        "-f",
        "/dev/null",
        "new-session",
        "-d",
        "-x",
        WIDTH,
        "-y",
        HEIGHT,
        "-s",
        "e2e",
        "bash --noprofile --norc",
    ]);
    tmux.wait_for("the shell", Duration::from_secs(10), |t| {
        t.display("#{pane_current_command}") == "bash"
    });

    for step in &steps {
        eprintln!("tape: {step:?}");
        match step {
            Step::Type(text) => tmux.ok(&["send-keys", "-t", "e2e", "-l", text]),
            Step::Key(key, n) => {
                for _ in 0..*n {
                    tmux.ok(&["send-keys", "-t", "e2e", key]);
                }
            }
            Step::Sleep(d) => std::thread::sleep(*d),
            Step::Expect(text) => {
                let since = Instant::now();
                tmux.wait_for(&format!("`{text}`"), EXPECT_TIMEOUT, |t| {
                    if t.screen().contains(text.as_str()) {
                        return true;
                    }
                    // Every expectation comes after the launch: the shell
                    // back in front means the console is gone.
                    assert!(
                        since.elapsed() < Duration::from_secs(5)
                            || t.display("#{pane_current_command}") != "bash",
                        "the console exited while waiting for `{text}`; the screen:\n{}",
                        t.screen()
                    );
                    false
                })
            }
        }
    }

    // The tape ends with q; if a job were still running the console asks.
    tmux.wait_for("the console to exit", Duration::from_secs(30), |t| {
        if t.screen().contains("Cancel it and quit?") {
            let _ = t.cmd(&["send-keys", "-t", "e2e", "y"]);
        }
        t.display("#{pane_current_command}") == "bash"
    });
    // The terminal is restored: normal screen, visible cursor, cooked mode.
    tmux.wait_for("the normal screen", Duration::from_secs(5), |t| {
        t.display("#{alternate_on}") == "0"
    });
    assert_eq!(tmux.display("#{cursor_flag}"), "1", "cursor left hidden");
    tmux.ok(&[
        "send-keys",
        "-t",
        "e2e",
        "-l",
        "stty -a; echo stty-\"\"done",
    ]);
    tmux.ok(&["send-keys", "-t", "e2e", "Enter"]);
    tmux.wait_for("stty", Duration::from_secs(10), |t| {
        t.screen().lines().any(|l| l.trim() == "stty-done")
    });
    let screen = tmux.screen();
    let words: Vec<&str> = screen.split_whitespace().collect();
    for flag in ["icanon", "echo", "isig"] {
        assert!(
            words.contains(&flag) && !words.contains(&format!("-{flag}").as_str()),
            "terminal not restored ({flag}):\n{screen}"
        );
    }

    // The jobs ran against the isolated state directory.
    let jobs = Command::new(bin)
        .arg("--state-dir")
        .arg(&state)
        .arg("jobs")
        .output()
        .expect("run cutover jobs");
    let listing = String::from_utf8_lossy(&jobs.stdout);
    assert!(jobs.status.success(), "cutover jobs failed: {listing}");
    // The bulk copy races the demo's writer; the final sync must be exact.
    let rows: Vec<&str> = listing
        .lines()
        .filter(|l| l.contains("tree-sync"))
        .collect();
    assert!(
        rows.len() >= 2 && rows.iter().any(|l| l.contains("completed")),
        "expected the bulk copy and a completed final sync in the journal:\n{listing}"
    );
    // The package store and the redb node were migrated from the console too.
    for kind in ["store-to-cas", "redb-to-sqlite"] {
        assert!(
            listing
                .lines()
                .any(|l| l.contains(kind) && l.contains("completed")),
            "expected a completed {kind} job in the journal:\n{listing}"
        );
    }
    assert!(
        sandbox.join("cas/store.db").is_file()
            && sandbox
                .join("cluster-sqlite/node-1/state-machine.sqlite")
                .is_file(),
        "the store and the node's SQLite file were not written"
    );
}

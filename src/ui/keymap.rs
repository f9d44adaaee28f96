//! The one key map of the console. Key handling, the help overlay and the
//! key table of `docs/operator-guide.md` are all derived from [`KEYMAP`].

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::Action;

/// One key: a key code, with or without Ctrl.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// The key code (`Char('j')`, `Down`, …).
    pub code: KeyCode,
    /// Whether Ctrl must be held.
    pub ctrl: bool,
}

impl Key {
    const fn plain(code: KeyCode) -> Key {
        Key { code, ctrl: false }
    }

    const fn ch(c: char) -> Key {
        Key::plain(KeyCode::Char(c))
    }

    const fn ctrl(c: char) -> Key {
        Key {
            code: KeyCode::Char(c),
            ctrl: true,
        }
    }

    /// The name shown to the operator (`j`, `↓`, `space`, `ctrl-c`).
    pub fn name(&self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Down => "↓".to_string(),
            KeyCode::Up => "↑".to_string(),
            KeyCode::Left => "←".to_string(),
            KeyCode::Right => "→".to_string(),
            KeyCode::Home => "home".to_string(),
            KeyCode::End => "end".to_string(),
            KeyCode::PageDown => "pgdn".to_string(),
            KeyCode::PageUp => "pgup".to_string(),
            KeyCode::Tab => "tab".to_string(),
            KeyCode::BackTab => "shift-tab".to_string(),
            KeyCode::Enter => "enter".to_string(),
            KeyCode::Esc => "esc".to_string(),
            other => format!("{other:?}").to_lowercase(),
        };
        if self.ctrl {
            format!("ctrl-{base}")
        } else {
            base
        }
    }

    /// Whether a key event from the terminal is this key. Shift is ignored
    /// for characters (terminals differ on reporting it for `G` or `?`).
    pub fn matches(&self, ev: &KeyEvent) -> bool {
        let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl != self.ctrl {
            return false;
        }
        match (self.code, ev.code) {
            (KeyCode::Char(a), KeyCode::Char(b)) => a == b,
            (a, b) => a == b,
        }
    }
}

/// One row of the key map: the keys, what they do, and the text for humans.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    /// Keys that trigger the action (all equivalent).
    pub keys: &'static [Key],
    /// The action triggered.
    pub action: Action,
    /// One line for the help overlay and the operator guide.
    pub description: &'static str,
}

impl Binding {
    /// The keys joined for display: `j / ↓`.
    pub fn key_names(&self) -> String {
        self.keys
            .iter()
            .map(Key::name)
            .collect::<Vec<_>>()
            .join(" / ")
    }
}

/// Every key the console knows, in the order the help overlay lists them.
pub const KEYMAP: &[Binding] = &[
    Binding {
        keys: &[Key::ch('j'), Key::plain(KeyCode::Down)],
        action: Action::Down,
        description: "move down / scroll the stream",
    },
    Binding {
        keys: &[Key::ch('k'), Key::plain(KeyCode::Up)],
        action: Action::Up,
        description: "move up / scroll the stream back",
    },
    Binding {
        keys: &[Key::ch('g'), Key::plain(KeyCode::Home)],
        action: Action::Top,
        description: "first row",
    },
    Binding {
        keys: &[Key::ch('G'), Key::plain(KeyCode::End)],
        action: Action::Bottom,
        description: "last row; the stream follows again",
    },
    Binding {
        keys: &[Key::plain(KeyCode::PageDown), Key::plain(KeyCode::PageUp)],
        action: Action::PageDown,
        description: "page down / page up",
    },
    Binding {
        keys: &[Key::ch(' ')],
        action: Action::Select,
        description: "select / unselect the source under the cursor",
    },
    Binding {
        keys: &[Key::ch('a')],
        action: Action::SelectAll,
        description: "select every usable source (again: none)",
    },
    Binding {
        keys: &[Key::ch('w')],
        action: Action::SelectGroup,
        description: "select the whole group at the cursor: a stack, a cluster",
    },
    Binding {
        keys: &[Key::plain(KeyCode::Tab), Key::plain(KeyCode::BackTab)],
        action: Action::NextPane,
        description: "next / previous pane",
    },
    Binding {
        keys: &[Key::plain(KeyCode::Enter)],
        action: Action::Run,
        description: "run the selection; Jobs: open a report; Checklist: the step",
    },
    Binding {
        keys: &[Key::ch('f')],
        action: Action::FinalSync,
        description: "final sync of the selected trees (shows what goes, asks)",
    },
    Binding {
        keys: &[Key::ch('v')],
        action: Action::Verify,
        description: "verify the selection only (writes nothing)",
    },
    Binding {
        keys: &[Key::ch('p')],
        action: Action::Together,
        description: "redb nodes: rolling (default) or together",
    },
    Binding {
        keys: &[Key::ch('r')],
        action: Action::Resume,
        description: "resume the job under the cursor (jobs pane)",
    },
    Binding {
        keys: &[Key::ch('c')],
        action: Action::Cancel,
        description: "cancel the running job (asks; resumable)",
    },
    Binding {
        keys: &[Key::ch('z')],
        action: Action::Zoom,
        description: "zoom the focused pane (again: back)",
    },
    Binding {
        keys: &[Key::ch('?')],
        action: Action::Help,
        description: "this help",
    },
    Binding {
        keys: &[Key::plain(KeyCode::Esc)],
        action: Action::Back,
        description: "close help, zoom or question",
    },
    Binding {
        keys: &[Key::ch('t')],
        action: Action::SetTarget,
        description: "target of the source under the cursor; a service: its node",
    },
    Binding {
        keys: &[Key::ch('d')],
        action: Action::Forget,
        description: "forget the source under the cursor (asks; data stays)",
    },
    Binding {
        keys: &[Key::ch('/')],
        action: Action::Filter,
        description: "filter the stream and the lists by text (esc clears)",
    },
    Binding {
        keys: &[Key::ch('N')],
        action: Action::PrevMatch,
        description: "Items: previous failure or warning (n: next)",
    },
    Binding {
        keys: &[Key::ch('s')],
        action: Action::Steps,
        description: "steps of the source: a store's cut over, clean up, roll back",
    },
    Binding {
        keys: &[Key::ch('x')],
        action: Action::Rollback,
        description: "roll back: Jobs, the job; Checklist, the phase (asks)",
    },
    Binding {
        keys: &[Key::ch('m')],
        action: Action::VerifyMode,
        description: "verify mode: full, sample=100, sample=1000 (new seed)",
    },
    Binding {
        keys: &[Key::ch('+'), Key::ch('-')],
        action: Action::MoreParallel,
        description: "items at once: one more / one less",
    },
    Binding {
        keys: &[Key::ch('['), Key::ch(']')],
        action: Action::LowerRate,
        description: "rate limit of the running transfer: half / double",
    },
    Binding {
        keys: &[Key::ch('y'), Key::ch('n')],
        action: Action::Yes,
        description: "answer yes / no; n: Items next failure, elsewhere add a source",
    },
    Binding {
        keys: &[Key::ch('q'), Key::ctrl('c')],
        action: Action::Quit,
        description: "quit (asks while a job runs)",
    },
];

/// The action a key event triggers, if any. A few rows hold two opposite
/// actions (`pgdn` / `pgup`, `tab` / `shift-tab`, `y` / `n`): the second key
/// gives the opposite action.
pub fn action_for(ev: &KeyEvent) -> Option<Action> {
    for binding in KEYMAP {
        for (i, key) in binding.keys.iter().enumerate() {
            if key.matches(ev) {
                return Some(match (binding.action, i) {
                    (Action::PageDown, 1) => Action::PageUp,
                    (Action::NextPane, 1) => Action::PrevPane,
                    (Action::Yes, 1) => Action::No,
                    (Action::MoreParallel, 1) => Action::LessParallel,
                    (Action::LowerRate, 1) => Action::RaiseRate,
                    (action, _) => action,
                });
            }
        }
    }
    None
}

/// The key table of the operator guide, generated from [`KEYMAP`].
pub fn markdown_table() -> String {
    let mut out = String::from("| key | what it does |\n|---|---|\n");
    for b in KEYMAP {
        let keys = b
            .keys
            .iter()
            .map(|k| format!("`{}`", k.name()))
            .collect::<Vec<_>>()
            .join(" / ");
        out.push_str(&format!("| {keys} | {} |\n", b.description));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const BEGIN: &str = "<!-- keys:begin (generated from src/ui/keymap.rs) -->\n";
    const END: &str = "<!-- keys:end -->";

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn keys_map_to_actions() {
        assert_eq!(action_for(&key(KeyCode::Char('j'))), Some(Action::Down));
        assert_eq!(action_for(&key(KeyCode::Down)), Some(Action::Down));
        assert_eq!(action_for(&key(KeyCode::Char(' '))), Some(Action::Select));
        assert_eq!(action_for(&key(KeyCode::BackTab)), Some(Action::PrevPane));
        assert_eq!(action_for(&key(KeyCode::PageUp)), Some(Action::PageUp));
        assert_eq!(action_for(&key(KeyCode::Char('n'))), Some(Action::No));
        let shifted = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(action_for(&shifted), Some(Action::Bottom));
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(action_for(&ctrl_c), Some(Action::Quit));
        assert_eq!(action_for(&key(KeyCode::Char('c'))), Some(Action::Cancel));
        assert_eq!(action_for(&key(KeyCode::Char('x'))), Some(Action::Rollback));
        assert_eq!(
            action_for(&key(KeyCode::Char('-'))),
            Some(Action::LessParallel)
        );
        assert_eq!(
            action_for(&key(KeyCode::Char('['))),
            Some(Action::LowerRate)
        );
        assert_eq!(
            action_for(&key(KeyCode::Char(']'))),
            Some(Action::RaiseRate)
        );
        assert_eq!(
            action_for(&key(KeyCode::Char('w'))),
            Some(Action::SelectGroup)
        );
        assert_eq!(action_for(&key(KeyCode::Char('W'))), None);
    }

    #[test]
    fn no_key_is_bound_twice() {
        let mut seen: Vec<String> = Vec::new();
        for b in KEYMAP {
            for k in b.keys {
                let name = k.name();
                assert!(!seen.contains(&name), "{name} bound twice");
                seen.push(name);
            }
        }
    }

    /// The operator guide carries the generated key table verbatim, so every
    /// key of the map is documented. `CUTOVER_UPDATE_DOCS=1` rewrites it.
    #[test]
    fn operator_guide_lists_every_key() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operator-guide.md");
        let doc = std::fs::read_to_string(path).unwrap_or_default();
        let table = markdown_table();
        let expected = format!("{BEGIN}{table}{END}");
        if std::env::var_os("CUTOVER_UPDATE_DOCS").is_some() {
            if let (Some(a), Some(b)) = (doc.find(BEGIN), doc.find(END)) {
                let updated = format!("{}{}{}", &doc[..a], expected, &doc[b + END.len()..]);
                std::fs::write(path, updated).unwrap();
                return;
            }
        }
        assert!(
            doc.contains(&expected),
            "docs/operator-guide.md must contain the key table generated from the key map \
             (run with CUTOVER_UPDATE_DOCS=1 to rewrite it):\n{expected}"
        );
        for b in KEYMAP {
            for k in b.keys {
                assert!(
                    doc.contains(&format!("`{}`", k.name())),
                    "{} undocumented",
                    k.name()
                );
            }
        }
    }
}

//! The nodes inventory (`--nodes FILE`, else `nodes.toml` in the state
//! directory): the machines cutover works on. The local machine is always a
//! node named `local`; a `[[node]]` named `local` (without `ssh`) may set
//! its `appdata` and `dataset`. Unknown keys and missing ones are errors
//! naming the line.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::error::{Error, Result};
use crate::names;

/// The name of the machine cutover runs on.
pub const LOCAL: &str = "local";

/// One node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Its name (`alpha`).
    pub name: String,
    /// How to reach it; none: this machine.
    pub ssh: Option<Ssh>,
    /// The directory holding one directory per service.
    pub appdata: Option<PathBuf>,
    /// The parent dataset of the services (none: no ZFS).
    pub dataset: Option<String>,
}

/// How to reach a node over SSH. Host keys are checked as the operator's
/// SSH configuration says: cutover never turns checking off by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ssh {
    /// `user@host`.
    pub destination: String,
    /// The port, when not 22.
    pub port: Option<u16>,
    /// The identity file (`-i`).
    pub identity: Option<PathBuf>,
    /// `-o` options, the operator's own choice.
    pub options: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    node: Vec<RawNode>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    name: Option<Spanned<String>>,
    ssh: Option<Spanned<String>>,
    port: Option<u16>,
    identity: Option<PathBuf>,
    #[serde(default)]
    options: Vec<String>,
    appdata: Option<PathBuf>,
    dataset: Option<String>,
}

/// The nodes of `text` (read from `file`), `local` first.
pub fn parse(file: &str, text: &str) -> Result<Vec<Node>> {
    let line = |at: usize| text[..at.min(text.len())].matches('\n').count() + 1;
    let raw: RawFile = toml::from_str(text).map_err(|e| match e.span() {
        Some(s) => Error::bad(format!("{file}, line {}: {}", line(s.start), e.message())),
        None => Error::bad(format!("{file}: {}", e.message())),
    })?;
    let mut nodes = vec![Node {
        name: LOCAL.to_string(),
        ssh: None,
        appdata: None,
        dataset: None,
    }];
    for (i, n) in raw.node.into_iter().enumerate() {
        let Some(name) = n.name else {
            return Err(Error::bad(format!(
                "{file}: [[node]] number {} has no `name`",
                i + 1
            )));
        };
        let at = line(name.span().start);
        let name_str = name.into_inner();
        if name_str.is_empty() || name_str.contains(['/', ' ', '\n']) {
            return Err(Error::bad(format!(
                "{file}, line {at}: node name '{name_str}': use letters, digits, '-' or '_'"
            )));
        }
        let ssh = match n.ssh {
            Some(dest) => {
                let d = dest.get_ref();
                if d.is_empty() || d.starts_with('-') || d.contains(char::is_whitespace) {
                    return Err(Error::bad(format!(
                        "{file}, line {}: ssh = \"{d}\": give user@host",
                        line(dest.span().start)
                    )));
                }
                Some(Ssh {
                    destination: dest.into_inner(),
                    port: n.port,
                    identity: n.identity,
                    options: n.options,
                })
            }
            None if n.port.is_some() || n.identity.is_some() || !n.options.is_empty() => {
                return Err(Error::bad(format!(
                    "{file}, line {at}: node '{name_str}' has SSH settings but no `ssh = \"user@host\"`"
                )))
            }
            None => None,
        };
        let node = Node {
            name: name_str.clone(),
            ssh,
            appdata: n.appdata,
            dataset: n.dataset,
        };
        if name_str == LOCAL {
            if node.ssh.is_some() {
                return Err(Error::bad(format!(
                    "{file}, line {at}: the node named 'local' is this machine: it takes no `ssh`"
                )));
            }
            nodes[0] = node;
            continue;
        }
        if nodes.iter().any(|x| x.name == name_str) {
            return Err(Error::bad(format!(
                "{file}, line {at}: node '{name_str}' is defined twice"
            )));
        }
        nodes.push(node);
    }
    Ok(nodes)
}

/// The nodes file: `--nodes FILE`, else `nodes.toml` in the state directory.
pub fn path(flag: Option<&Path>, state_dir: &Path) -> PathBuf {
    flag.map(Path::to_path_buf)
        .unwrap_or_else(|| state_dir.join("nodes.toml"))
}

/// Load the nodes (only `local` when the default file does not exist; a
/// file given with `--nodes` must exist).
pub fn load(flag: Option<&Path>, state_dir: &Path) -> Result<Vec<Node>> {
    let file = path(flag, state_dir);
    match std::fs::read_to_string(&file) {
        Ok(text) => parse(&names::display(&file), &text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && flag.is_none() => parse("", ""),
        Err(e) => Err(Error::bad(format!(
            "nodes file {} cannot be read ({e}); check the path",
            names::display(&file)
        ))),
    }
}

/// The `[[node]]` tables of `text`, each with its own text (comments
/// before the first table are left out), parsed one by one.
fn blocks(file: &str, text: &str) -> Result<Vec<(Node, String)>> {
    let mut starts: Vec<usize> = Vec::new();
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if line.trim() == "[[node]]" {
            starts.push(at);
        }
        at += line.len();
    }
    let mut out = Vec::new();
    for (i, &from) in starts.iter().enumerate() {
        let to = starts.get(i + 1).copied().unwrap_or(text.len());
        let block = &text[from..to];
        let parsed = parse(file, block)?;
        // A block holds one node: `local` replaces the first, others follow it.
        let node = parsed
            .get(1)
            .or_else(|| parsed.first())
            .cloned()
            .ok_or_else(|| Error::bad(format!("{file}: a [[node]] without a node")))?;
        out.push((node, block.to_string()));
    }
    Ok(out)
}

/// What adding a nodes file to the inventory did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    /// The inventory's new text.
    pub text: String,
    /// Nodes added.
    pub added: Vec<String>,
    /// Nodes it had already, the same.
    pub same: Vec<String>,
}

/// The nodes of `new` (read from `file`) added to the inventory's text
/// `old` (none: no inventory yet), each `[[node]]` with its own text; a
/// node the inventory has with other settings is refused (never replaced).
pub fn merge(old: Option<&str>, inventory: &str, new: &str, file: &str) -> Result<Merged> {
    parse(file, new)?;
    let theirs = blocks(file, new)?;
    if theirs.is_empty() {
        return Err(Error::bad(format!(
            "{file} holds no [[node]]: a nodes file has one [[node]] table per node (see `cutover nodes`)"
        )));
    }
    let old_text = old.unwrap_or_default();
    parse(inventory, old_text)?;
    let ours = blocks(inventory, old_text)?;
    let mut text = old_text.to_string();
    let (mut added, mut same) = (Vec::new(), Vec::new());
    for (node, block) in theirs {
        match ours.iter().find(|(n, _)| n.name == node.name) {
            Some((n, _)) if *n == node => same.push(node.name),
            Some(_) => {
                return Err(Error::bad(format!(
                    "node '{}' of {file} is in {inventory} with other settings: edit {inventory} (cutover never replaces a node)",
                    node.name
                )))
            }
            None => {
                if !text.is_empty() && !text.ends_with('\n') {
                    text.push('\n');
                }
                if !text.is_empty() && !text.ends_with("\n\n") {
                    text.push('\n');
                }
                text.push_str(block.trim_end());
                text.push('\n');
                added.push(node.name);
            }
        }
    }
    parse(inventory, &text)?;
    Ok(Merged { text, added, same })
}

/// The node called `name`.
pub fn find<'a>(nodes: &'a [Node], name: &str) -> Result<&'a Node> {
    nodes.iter().find(|n| n.name == name).ok_or_else(|| {
        Error::bad(format!(
            "no node '{name}'; the nodes: {} (add it to nodes.toml)",
            nodes
                .iter()
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_nodes_file_is_merged_node_by_node_and_never_replaces_one() {
        let first = "# mine\n[[node]]\nname = \"alpha\"\nappdata = \"/srv/a\"\n";
        let m = merge(None, "nodes.toml", first, "new.toml").unwrap();
        assert_eq!(
            (m.added.clone(), m.text.as_str()),
            (
                vec!["alpha".to_string()],
                "[[node]]\nname = \"alpha\"\nappdata = \"/srv/a\"\n"
            )
        );
        let more = format!("{first}\n[[node]]\nname = \"beta\" # over ssh\nssh = \"root@b\"\n");
        let m2 = merge(Some(&m.text), "nodes.toml", &more, "more.toml").unwrap();
        assert_eq!(
            (m2.added.clone(), m2.same.clone()),
            (vec!["beta".to_string()], vec!["alpha".to_string()])
        );
        assert!(
            m2.text.contains("name = \"beta\" # over ssh"),
            "{}",
            m2.text
        );
        assert_eq!(parse("x", &m2.text).unwrap().len(), 3);
        let other = "[[node]]\nname = \"alpha\"\nappdata = \"/elsewhere\"\n";
        let err = merge(Some(&m2.text), "nodes.toml", other, "o.toml")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "node 'alpha' of o.toml is in nodes.toml with other settings: edit nodes.toml (cutover never replaces a node)");
        assert!(merge(None, "nodes.toml", "# nothing\n", "e.toml")
            .unwrap_err()
            .to_string()
            .contains("holds no [[node]]"));
        assert!(merge(None, "nodes.toml", "[[node]]\nname = 3\n", "bad.toml").is_err());
    }

    const EXAMPLE: &str = r#"[[node]]
name = "alpha"                  # no ssh: this machine
appdata = "/srv/alpha/appdata"  # one directory per service
dataset = "alpha/appdata"       # parent dataset; absent = no ZFS

[[node]]
name = "beta"
ssh = "root@127.0.0.1"          # user@host
port = 2222
identity = "/root/.ssh/beta_key"
options = ["StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null"]
appdata = "/srv/beta/appdata"
dataset = "beta/appdata"
"#;

    #[test]
    fn the_issue_example_parses() {
        let nodes = parse("nodes.toml", EXAMPLE).unwrap();
        let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, vec!["local", "alpha", "beta"]);
        assert_eq!(nodes[1].ssh, None);
        assert_eq!(nodes[1].dataset.as_deref(), Some("alpha/appdata"));
        let ssh = nodes[2].ssh.as_ref().unwrap();
        assert_eq!(
            (ssh.destination.as_str(), ssh.port),
            ("root@127.0.0.1", Some(2222))
        );
        assert_eq!(ssh.options.len(), 2);
    }

    #[test]
    fn mistakes_name_the_line() {
        let e = parse("n.toml", &EXAMPLE.replace("port = 2222", "prot = 2222"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("n.toml, line 9: unknown field `prot`"), "{e}");
        let e = parse("n.toml", &EXAMPLE.replace("name = \"beta\"\n", ""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("[[node]] number 2 has no `name`"), "{e}");
        let e = parse("n.toml", &EXAMPLE.replace("\"beta\"", "\"alpha\""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 7: node 'alpha' is defined twice"), "{e}");
        let e = parse("n.toml", "[[node]]\nname = \"local\"\nssh = \"r@h\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 2: the node named 'local' is this machine"),
            "{e}"
        );
        let local = parse("n.toml", "[[node]]\nname = \"local\"\nappdata = \"/srv\"\n").unwrap();
        assert_eq!(
            (local.len(), local[0].appdata.clone()),
            (1, Some("/srv".into()))
        );
        let e = parse("n.toml", "[[node]]\nname = \"x\"\nport = 22\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("has SSH settings but no `ssh"), "{e}");
        assert!(find(&local, "nope").is_err());
    }
}

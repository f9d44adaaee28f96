//! A node's services: each directory under its appdata, a ZFS dataset of
//! its own or a plain directory, with its size and file count; and stacks —
//! services that move together — grouped by shared prefix (`authelia`,
//! `authelia-mariadb`, `authelia-redis`).

use serde::Serialize;

/// One service of a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Service {
    /// Its directory's name.
    pub name: String,
    /// The dataset mounted on it, when it is one.
    pub dataset: Option<String>,
    /// Bytes it uses.
    pub bytes: Option<u64>,
    /// Files (inodes) under it.
    pub files: Option<u64>,
}

/// Services that move together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stack {
    /// The stack's name: its shortest service name.
    pub name: String,
    /// Its services, in name order.
    pub services: Vec<String>,
}

/// Stacks of `names`: a service `name` and every `name-…` go together; a
/// service that is nobody's prefix stands alone.
pub fn stacks(names: &[String]) -> Vec<Stack> {
    let mut sorted: Vec<&String> = names.iter().collect();
    sorted.sort();
    let mut out: Vec<Stack> = Vec::new();
    for name in sorted {
        match out
            .iter_mut()
            .find(|s| name.starts_with(&format!("{}-", s.name)))
        {
            Some(stack) => stack.services.push(name.clone()),
            None => out.push(Stack {
                name: name.clone(),
                services: vec![name.clone()],
            }),
        }
    }
    out
}

/// The dataset mounted on `dir`, from `zfs list -H -o name,mountpoint` output.
pub fn dataset_at(zfs_list: &str, dir: &str) -> Option<String> {
    zfs_list.lines().find_map(|l| {
        let (name, mountpoint) = l.split_once('\t')?;
        (mountpoint.trim_end_matches('/') == dir.trim_end_matches('/')).then(|| name.to_string())
    })
}

/// The first number of `du -s` output.
pub fn du_number(out: &str) -> Option<u64> {
    out.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_group_by_shared_prefix() {
        let names: Vec<String> = [
            "authelia-redis",
            "traefik",
            "authelia",
            "authelia-mariadb",
            "auth",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let got = stacks(&names);
        let as_pairs: Vec<(&str, Vec<&str>)> = got
            .iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    s.services.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            as_pairs,
            vec![
                ("auth", vec!["auth"]),
                (
                    "authelia",
                    vec!["authelia", "authelia-mariadb", "authelia-redis"]
                ),
                ("traefik", vec!["traefik"]),
            ]
        );
        let list = "tank/appdata\t/srv/appdata\ntank/appdata/authelia\t/srv/appdata/authelia\n";
        assert_eq!(
            dataset_at(list, "/srv/appdata/authelia/").as_deref(),
            Some("tank/appdata/authelia")
        );
        assert_eq!(dataset_at(list, "/srv/appdata/traefik"), None);
        assert_eq!(du_number("4096\t/srv/x\n"), Some(4096));
    }
}

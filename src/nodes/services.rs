//! A node's services: each directory under its appdata, a ZFS dataset of
//! its own or a plain directory, with its size and file count; and stacks —
//! services that move together — grouped by shared prefix (`authelia`,
//! `authelia-mariadb`, `authelia-redis`) or by a compose file in one
//! service's directory naming others (`mariadb-auth` as a compose service
//! or in a volume path).

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
    /// The stack's name: its first service in name order that no prefix
    /// rule put under another (`authelia` for `authelia-redis`).
    pub name: String,
    /// Its services, in name order.
    pub services: Vec<String>,
}

/// Stacks of `names`: a service `name` and every `name-…` go together, and
/// so do the services a compose file names together with the service whose
/// directory holds it (`composed`: pairs of names, see [`compose_links`]);
/// a service in no such relation stands alone.
pub fn stacks(names: &[String], composed: &[(String, String)]) -> Vec<Stack> {
    let mut sorted: Vec<&String> = names.iter().collect();
    sorted.sort();
    sorted.dedup();
    // Each service's group, by index into `sorted` (union-find).
    let mut parent: Vec<usize> = (0..sorted.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let index = |name: &str| sorted.binary_search_by(|n| n.as_str().cmp(name)).ok();
    let join = |parent: &mut Vec<usize>, a: usize, b: usize| {
        let (ra, rb) = (root(parent, a), root(parent, b));
        // The smaller index (earlier in name order) leads.
        parent[ra.max(rb)] = ra.min(rb);
    };
    // Prefix: `name-…` joins the first `name` before it that is a root.
    let mut roots: Vec<usize> = Vec::new();
    for (i, name) in sorted.iter().enumerate() {
        match roots
            .iter()
            .find(|&&r| name.starts_with(&format!("{}-", sorted[r])))
        {
            Some(&r) => join(&mut parent, r, i),
            None => roots.push(i),
        }
    }
    for (a, b) in composed {
        if let (Some(a), Some(b)) = (index(a), index(b)) {
            join(&mut parent, a, b);
        }
    }
    let mut out: Vec<Stack> = Vec::new();
    let mut slot: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
    for i in 0..sorted.len() {
        let r = root(&mut parent, i);
        match slot.get(&r) {
            Some(&k) => out[k].services.push(sorted[i].clone()),
            None => {
                slot.insert(r, out.len());
                out.push(Stack {
                    name: sorted[r].clone(),
                    services: vec![sorted[i].clone()],
                });
            }
        }
    }
    out
}

/// Compose files a service's directory may hold (read by [`COMPOSE_SCRIPT`]).
pub const COMPOSE_FILES: [&str; 4] = [
    "docker-compose.yml",
    "docker-compose.yaml",
    "compose.yml",
    "compose.yaml",
];

/// Prints, for each compose file directly in a service directory under
/// `$1`, its path relative to `$1`, a NUL, its first 64 KiB, a NUL. A fixed
/// text: the appdata path is its one positional argument.
pub const COMPOSE_SCRIPT: &str = r#"cd -- "$1" 2>/dev/null || exit 0
for f in */docker-compose.yml */docker-compose.yaml */compose.yml */compose.yaml; do
  [ -f "$f" ] && [ ! -L "$f" ] || continue
  printf '%s\0' "$f"; head -c 65536 -- "$f"; printf '\0'
done"#;

/// Pairs (owner, other) of services that move together because the compose
/// file in `owner`'s directory names `other`: as a compose service
/// (`  other:` at the start of a line) or as a path component of a volume
/// (`/other:`, `/other/`, `../other`). `listing` is [`COMPOSE_SCRIPT`]'s
/// output; `names` the node's services.
pub fn compose_links(listing: &str, names: &[String]) -> Vec<(String, String)> {
    let mut parts = listing.split('\0');
    let mut out = Vec::new();
    while let (Some(path), Some(text)) = (parts.next(), parts.next()) {
        let Some((owner, file)) = path.split_once('/') else {
            continue;
        };
        if !COMPOSE_FILES.contains(&file) || !names.iter().any(|n| n == owner) {
            continue;
        }
        for other in names.iter().filter(|n| *n != owner) {
            if names_service(text, other) {
                out.push((owner.to_string(), other.clone()));
            }
        }
    }
    out
}

/// Whether compose text `text` names service directory `name`.
fn names_service(text: &str, name: &str) -> bool {
    text.lines().any(|line| {
        let l = line.split(" #").next().unwrap_or(line);
        let key = l.trim_start();
        let is_key = key
            .strip_prefix(name)
            .is_some_and(|rest| rest.trim_end() == ":");
        let in_path = [format!("/{name}:"), format!("/{name}/")]
            .iter()
            .any(|p| l.contains(p.as_str()))
            || l.trim_end()
                .trim_end_matches(['"', '\''])
                .ends_with(&format!("/{name}"));
        is_key || in_path
    })
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

/// Prints, for each directory directly under `$1` (not a symlink; hidden
/// ones too), its name, its bytes (`du -s -B1`) and its files (`du -s
/// --inodes`), each followed by a NUL: a name may hold a newline. A fixed
/// text: the appdata path is its one positional argument.
pub const SERVICES_SCRIPT: &str = r#"cd -- "$1" || exit 1
for d in */ .[!.]*/ ..?*/; do
  n=${d%/}
  [ -d "$n" ] && [ ! -L "$n" ] || continue
  b=$(du -s -B1 -- "$n" 2>/dev/null | cut -f1)
  i=$(du -s --inodes -- "$n" 2>/dev/null | cut -f1)
  printf '%s\0%s\0%s\0' "$n" "$b" "$i"
done"#;

/// [`SERVICES_SCRIPT`]'s output: (name, bytes, files), in name order.
pub fn parse_services(out: &str) -> Vec<(String, Option<u64>, Option<u64>)> {
    let fields: Vec<&str> = out.split('\0').collect();
    let mut rows: Vec<(String, Option<u64>, Option<u64>)> = fields
        .chunks_exact(3)
        .filter(|c| !c[0].is_empty())
        .map(|c| (c[0].to_string(), du_number(c[1]), du_number(c[2])))
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
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
        let got = stacks(&names, &[]);
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
        assert_eq!(
            parse_services("zz\x0012\x003\x00odd\nname\x00\x00\x00"),
            vec![
                ("odd\nname".to_string(), None, None),
                ("zz".to_string(), Some(12), Some(3))
            ]
        );
    }

    fn owned(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_compose_file_joins_the_services_it_names() {
        let names = owned(&[
            "auth",
            "mariadb-auth",
            "redis-cache",
            "traefik",
            "nginx",
            "unrelated",
        ]);
        let compose = "services:\n  auth:\n    image: authelia/authelia\n    volumes:\n      - /srv/appdata/auth:/config\n  db:\n    volumes:\n      - ../mariadb-auth:/var/lib/mysql\n  redis-cache:   # a service key\n    image: redis\n";
        let proxy =
            "services:\n  traefik:\n    volumes:\n      - \"/srv/appdata/nginx/conf:/etc/nginx\"\n";
        let listing = format!(
            "auth/docker-compose.yml\0{compose}\0traefik/compose.yaml\0{proxy}\0unrelated/notes.yml\0services:\n  nginx:\n\0"
        );
        let links = compose_links(&listing, &names);
        assert_eq!(
            links,
            vec![
                ("auth".to_string(), "mariadb-auth".to_string()),
                ("auth".to_string(), "redis-cache".to_string()),
                ("traefik".to_string(), "nginx".to_string()),
            ]
        );
        let got: Vec<Vec<String>> = stacks(&names, &links)
            .into_iter()
            .map(|s| s.services)
            .collect();
        assert_eq!(
            got,
            vec![
                owned(&["auth", "mariadb-auth", "redis-cache"]),
                owned(&["nginx", "traefik"]),
                owned(&["unrelated"]),
            ]
        );
        // Prefix and compose together; a name in a comment or a longer
        // name does not count.
        let names = owned(&["app", "app-db", "cache", "cache2"]);
        let listing = "app-db/compose.yml\0x:\n  volumes: [\"/srv/cache2:/c\"]\n  # cache:\n\0";
        let links = compose_links(listing, &names);
        assert_eq!(links, vec![("app-db".to_string(), "cache2".to_string())]);
        let got = stacks(&names, &links);
        assert_eq!(got[0].name, "app");
        assert_eq!(got[0].services, owned(&["app", "app-db", "cache2"]));
        assert_eq!(got[1].services, owned(&["cache"]));
    }
}

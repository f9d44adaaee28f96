//! A dry run's words: what an item would do on its node from where it
//! stands, command by command, and who holds files open.

use super::place::{self, Next};
use super::{steps, DirToDataset};
use crate::job::Item;

impl DirToDataset {
    /// The steps `run_item` would take on `item` now, for a dry run.
    pub(super) fn describe(&self, item: &Item) -> Vec<String> {
        let runner = self.runner();
        let place = self.place(&item.key);
        let next = match self.next(&runner, &place) {
            Ok((_, next)) => next,
            Err(e) => return vec![format!("cannot look at the service: {e}")],
        };
        let p = &place;
        let mut out = Vec::new();
        let copy_steps = |out: &mut Vec<String>| {
            let mp = if self.explicit_mountpoint.get().copied().unwrap_or(true) {
                format!(" -o mountpoint={}", p.dir)
            } else {
                String::new()
            };
            out.push(format!(
                "zfs create -o {}={}{mp} {}",
                place::CREATED,
                self.params.token,
                p.dataset
            ));
            out.push(format!(
                "rsync {} {}/ {}/",
                steps::RSYNC.join(" "),
                p.aside,
                p.dir
            ));
            out.push(format!(
                "sync -f {}; sync; zfs snapshot {}@{} and destroy it (waits for the data to reach the disks)",
                p.dir,
                p.dataset,
                steps::flush_snapshot(&self.params.token)
            ));
            out.push(format!(
                "compare {} with {} (every file hashed); on any difference or failure: zfs destroy {}, mv -T {} {}",
                p.aside, p.dir, p.dataset, p.aside, p.dir
            ));
            out.push(format!(
                "mv -T {} {}; rm -rf {}",
                p.aside, p.removing, p.removing
            ));
        };
        if matches!(next, Next::Start | Next::Create | Next::Redo) {
            match self.busy(&runner, p) {
                Ok(h) if !h.is_empty() => out.push(format!(
                    "open files under {}: {}; {}",
                    p.dir,
                    steps::show_holders(&h),
                    if self.params.force {
                        "--force: converted anyway"
                    } else {
                        "refused unless --force"
                    }
                )),
                Ok(_) => out.push(format!("no process holds files open under {}", p.dir)),
                Err(e) => out.push(format!("cannot list open files: {e}")),
            }
        }
        match next {
            Next::AlreadyDataset(ds) => out.push(format!(
                "{} already is dataset {ds}'s mountpoint: nothing to do",
                p.dir
            )),
            Next::Done => out.push(format!(
                "converted by this job already (dataset {}): nothing to do",
                p.dataset
            )),
            Next::FinishRemoval => out.push(format!("rm -rf {} (verified earlier)", p.removing)),
            Next::Start => {
                out.push(format!("mv -T {} {}", p.dir, p.aside));
                copy_steps(&mut out);
            }
            Next::Create => copy_steps(&mut out),
            Next::Redo => {
                out.push(format!(
                    "zfs destroy {} (made by this job, copy unverified)",
                    p.dataset
                ));
                copy_steps(&mut out);
            }
            Next::Refuse(why) => out.push(format!("refused: {why}")),
        }
        out
    }
}

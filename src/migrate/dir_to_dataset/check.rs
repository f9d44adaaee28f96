//! An item's verification: the aside copy compared with the dataset on the
//! node (`nodes::tree`, every file hashed), and what `cutover verify` checks.

use std::path::Path;

use super::place::{Next, Place};
use super::DirToDataset;
use crate::job::event::ItemReport;
use crate::job::ItemError;
use crate::nodes::runner::NodeRunner;
use crate::nodes::tree;

impl DirToDataset {
    /// Compare the aside copy with the dataset, every file hashed.
    pub(super) fn compare(
        &self,
        runner: &NodeRunner,
        place: &Place,
        report: &mut ItemReport,
    ) -> Result<(), String> {
        let c = tree::compare(
            (runner, Path::new(&place.aside)),
            (runner, Path::new(&place.dir)),
            &self.params.verify,
            self.params.seed,
        )?;
        report.files = c.entries;
        report.bytes = c.bytes;
        report.files_hashed = c.hashed;
        report.warnings.extend(
            c.notes
                .iter()
                .map(|n| format!("service {}: not compared: {n}", place.name)),
        );
        if c.equal() {
            return Ok(());
        }
        Err(format!(
            "{} (aside copy) and dataset {} differ: {}",
            place.aside,
            place.dataset,
            c.summary()
        ))
    }

    /// `cutover verify`: each service is a dataset mounted at its path (the
    /// aside copy a conversion compares with is gone once it verified).
    pub(super) fn verify_only_item(
        &self,
        runner: &NodeRunner,
        place: &Place,
        report: &mut ItemReport,
    ) -> Result<(), ItemError> {
        let (_, next) = self.next(runner, place).map_err(ItemError)?;
        match next {
            Next::AlreadyDataset(ds) => {
                self.row(report, place, &ds, "is a dataset");
                Ok(())
            }
            Next::Done | Next::FinishRemoval => {
                self.row(report, place, &place.dataset, "is a dataset");
                Ok(())
            }
            Next::Refuse(why) => Err(ItemError(why)),
            _ => Err(ItemError(format!(
                "service {}: {} is not a dataset yet",
                place.name, place.dir
            ))),
        }
    }
}

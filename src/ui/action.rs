//! What a key press means to the console, independent of which key it was.
//! The key map ([`crate::ui::keymap`]) turns keys into these; `update` acts on them.

/// Something the operator asked the console to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Move the cursor down (or scroll the focused stream).
    Down,
    /// Move the cursor up (or scroll the focused stream back).
    Up,
    /// Jump to the first row.
    Top,
    /// Jump to the last row; in the item stream, follow new lines again.
    Bottom,
    /// Move a page down.
    PageDown,
    /// Move a page up.
    PageUp,
    /// Select or unselect the source under the cursor.
    Select,
    /// Select every usable source (or unselect all when all are selected).
    SelectAll,
    /// Select every usable source of the group at the cursor (a stack's
    /// services, a cluster's nodes), or unselect them when all are.
    SelectGroup,
    /// Focus the next pane.
    NextPane,
    /// Focus the previous pane.
    PrevPane,
    /// Run the selected sources, each its own way: bulk copy a tree,
    /// migrate a store or a redb node.
    Run,
    /// Final delta sync of the selected trees (with deletions on the target).
    FinalSync,
    /// Verify the selected sources' targets without writing.
    Verify,
    /// Run selected redb nodes of one cluster together (one job) or rolling
    /// (one at a time, the default).
    Together,
    /// Resume the job under the cursor in the jobs pane.
    Resume,
    /// Set the target of the source under the cursor.
    SetTarget,
    /// Forget the source under the cursor (asks; its data stays).
    Forget,
    /// Cancel the running job (asks first).
    Cancel,
    /// The steps the kind offers on the source under the cursor (a store's
    /// cut over, clean up, roll back).
    Steps,
    /// Roll back the job under the cursor in the jobs pane (asks first).
    Rollback,
    /// Filter the item stream and the lists by text.
    Filter,
    /// The previous failure or warning in the item stream (`n` goes to the next).
    PrevMatch,
    /// Next verification mode for the jobs to come.
    VerifyMode,
    /// One more item at once for the jobs to come.
    MoreParallel,
    /// One item fewer at once for the jobs to come.
    LessParallel,
    /// Halve the running job's rate limit (a transfer's bandwidth).
    LowerRate,
    /// Double the running job's rate limit.
    RaiseRate,
    /// Show the focused pane over the whole body, or go back.
    Zoom,
    /// Show or hide the help overlay.
    Help,
    /// Close the help overlay, the zoom or a question.
    Back,
    /// Answer yes to the question on screen.
    Yes,
    /// Answer no to the question on screen.
    No,
    /// Quit (asks while a job runs).
    Quit,
}

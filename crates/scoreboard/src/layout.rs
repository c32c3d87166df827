//! Where each board is in the shared memory, computed the same way by every process from the
//! groups' shapes (so only the descriptor crosses to a worker, not a map of offsets).

use std::mem::size_of;

use crate::board::{ThreadBoard, WorkerBoard};

/// What a process group needs on the scoreboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupShape {
    /// The group's name, as metrics label it.
    pub name: String,
    /// Its worker processes.
    pub processes: usize,
    /// Python threads per worker.
    pub threads: usize,
}

impl GroupShape {
    /// Boards kept for the group: its processes, their replacements, and workers still
    /// draining after being replaced — more than can be in use at once in practice. The
    /// memory is sparse: boards never used take no memory.
    pub fn boards(&self) -> usize {
        (self.processes * 4).max(8)
    }
}

/// The scoreboard's layout: a header page, then each group's boards, each board a
/// [`WorkerBoard`] followed by its threads' [`ThreadBoard`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub(crate) groups: Vec<GroupShape>,
    /// Where each group's first board starts.
    offsets: Vec<usize>,
    len: usize,
}

/// The header's size: a page, so boards start aligned.
pub(crate) const HEADER: usize = 4096;

/// Boards start on cache lines of their own: two workers never write one line.
const ALIGN: usize = 128;

impl Layout {
    /// The layout for these groups.
    pub fn new(groups: Vec<GroupShape>) -> Layout {
        let mut offsets = Vec::with_capacity(groups.len());
        let mut at = HEADER;
        for group in &groups {
            offsets.push(at);
            at += board_size(group.threads) * group.boards();
        }
        Layout {
            groups,
            offsets,
            len: at,
        }
    }

    /// The groups, in order.
    pub fn groups(&self) -> &[GroupShape] {
        &self.groups
    }

    /// The bytes the scoreboard takes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it has no groups.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Where board `board` of `group` starts.
    pub(crate) fn board_offset(&self, group: usize, board: usize) -> usize {
        self.offsets[group] + board * board_size(self.groups[group].threads)
    }

    /// Where thread `thread` of that board starts.
    pub(crate) fn thread_offset(&self, group: usize, board: usize, thread: usize) -> usize {
        self.board_offset(group, board)
            + size_of::<WorkerBoard>().next_multiple_of(ALIGN)
            + thread * size_of::<ThreadBoard>()
    }

    /// A number that differs between layouts, checked by a worker against the header.
    pub(crate) fn fingerprint(&self) -> u64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut mix = |value: u64| {
            hash ^= value;
            hash = hash.wrapping_mul(0x100_0000_01b3);
        };
        mix(size_of::<WorkerBoard>() as u64);
        mix(size_of::<ThreadBoard>() as u64);
        for group in &self.groups {
            mix(group.threads as u64);
            mix(group.boards() as u64);
        }
        hash
    }
}

fn board_size(threads: usize) -> usize {
    (size_of::<WorkerBoard>().next_multiple_of(ALIGN) + threads * size_of::<ThreadBoard>())
        .next_multiple_of(ALIGN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boards_do_not_overlap_and_fit() {
        let layout = Layout::new(vec![
            GroupShape {
                name: "a".into(),
                processes: 2,
                threads: 3,
            },
            GroupShape {
                name: "b".into(),
                processes: 1,
                threads: 100,
            },
        ]);
        let last_a = layout.thread_offset(0, 7, 2) + size_of::<ThreadBoard>();
        assert!(last_a <= layout.board_offset(1, 0));
        let last_b = layout.thread_offset(1, 7, 99) + size_of::<ThreadBoard>();
        assert!(last_b <= layout.len());
        assert_eq!(layout.board_offset(0, 1) % ALIGN, 0);
    }
}

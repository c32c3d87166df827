//! The shared memory itself: a `memfd` the supervisor creates and every worker maps.

use std::fs::File;
use std::mem::size_of;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::{MmapOptions, MmapRaw};

use crate::board::{BoardState, ThreadBoard, WorkerBoard};
use crate::layout::{HEADER, Layout};

const MAGIC: u64 = u64::from_be_bytes(*b"oxwsgiSB");

/// The scoreboard could not be made or opened.
#[derive(Debug, thiserror::Error)]
pub enum ScoreboardError {
    /// The memory could not be created or sized.
    #[error("cannot create the scoreboard's shared memory: {0}")]
    Create(#[source] std::io::Error),
    /// The memory could not be mapped.
    #[error("cannot map the scoreboard's shared memory: {0}")]
    Map(#[source] std::io::Error),
    /// The memory is not a scoreboard of this layout (another oxwsgi version's).
    #[error("the scoreboard's shared memory is not laid out as this oxwsgi expects")]
    Mismatch,
}

/// The scoreboard: every group's boards in one shared mapping.
#[derive(Debug)]
pub struct Scoreboard {
    map: MmapRaw,
    file: File,
    layout: Layout,
}

// SAFETY of the views below: the mapping is `layout.len()` bytes, page aligned, zeroed when
// created (a memfd reads as zeros), and lives as long as `self`; every offset the layout gives
// is inside it and a multiple of 8, and all-zero bytes are a valid `AtomicU64`. Boards are only
// ever accessed through atomics, from any process, so shared references to them are sound.
impl Scoreboard {
    /// Creates the memory for `layout` (in the supervisor).
    pub fn create(layout: Layout) -> Result<Scoreboard, ScoreboardError> {
        let fd = rustix::fs::memfd_create("oxwsgi-scoreboard", rustix::fs::MemfdFlags::CLOEXEC)
            .map_err(|e| ScoreboardError::Create(e.into()))?;
        let file = File::from(fd);
        file.set_len(layout.len() as u64)
            .map_err(ScoreboardError::Create)?;
        let scoreboard = Scoreboard::map(file, layout)?;
        scoreboard.word(0).store(MAGIC, Ordering::Relaxed);
        scoreboard
            .word(8)
            .store(scoreboard.layout.fingerprint(), Ordering::Release);
        Ok(scoreboard)
    }

    /// Maps the memory the supervisor created (in a worker), checking it has `layout`.
    pub fn open(fd: OwnedFd, layout: Layout) -> Result<Scoreboard, ScoreboardError> {
        let scoreboard = Scoreboard::map(File::from(fd), layout)?;
        if scoreboard.word(0).load(Ordering::Relaxed) != MAGIC
            || scoreboard.word(8).load(Ordering::Acquire) != scoreboard.layout.fingerprint()
        {
            return Err(ScoreboardError::Mismatch);
        }
        Ok(scoreboard)
    }

    fn map(file: File, layout: Layout) -> Result<Scoreboard, ScoreboardError> {
        let len = file.metadata().map_err(ScoreboardError::Map)?.len();
        if len < layout.len() as u64 {
            return Err(ScoreboardError::Mismatch);
        }
        let map = MmapOptions::new()
            .len(layout.len())
            .map_raw(&file)
            .map_err(ScoreboardError::Map)?;
        Ok(Scoreboard { map, file, layout })
    }

    /// The descriptor, for a worker to inherit.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }

    /// The layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    #[allow(unsafe_code)]
    fn word(&self, offset: usize) -> &AtomicU64 {
        assert!(offset + 8 <= HEADER);
        // SAFETY: see the impl's comment; the header is inside the mapping.
        unsafe { &*(self.map.as_ptr().add(offset) as *const AtomicU64) }
    }

    /// Board `board` of `group`.
    #[allow(unsafe_code)]
    pub fn worker(&self, group: usize, board: usize) -> &WorkerBoard {
        assert!(board < self.layout.groups[group].boards());
        let offset = self.layout.board_offset(group, board);
        debug_assert!(offset + size_of::<WorkerBoard>() <= self.layout.len());
        // SAFETY: see the impl's comment.
        unsafe { &*(self.map.as_ptr().add(offset) as *const WorkerBoard) }
    }

    /// Thread `thread` of board `board` of `group`.
    #[allow(unsafe_code)]
    pub fn thread(&self, group: usize, board: usize, thread: usize) -> &ThreadBoard {
        assert!(thread < self.layout.groups[group].threads);
        assert!(board < self.layout.groups[group].boards());
        let offset = self.layout.thread_offset(group, board, thread);
        debug_assert!(offset + size_of::<ThreadBoard>() <= self.layout.len());
        // SAFETY: see the impl's comment.
        unsafe { &*(self.map.as_ptr().add(offset) as *const ThreadBoard) }
    }

    /// Gives a free board of `group` to a new worker, its worker `slot` (in the supervisor,
    /// which alone hands boards out). `None` when all are in use, which the layout's margin
    /// makes unlikely: that worker's numbers are then not counted.
    pub fn take(&self, group: usize, slot: usize) -> Option<usize> {
        let boards = self.layout.groups[group].boards();
        let board = (0..boards).find(|&b| {
            BoardState::from_u64(self.worker(group, b).state.load(Ordering::Acquire))
                == BoardState::Free
        })?;
        self.worker(group, board).take(slot);
        for thread in 0..self.layout.groups[group].threads {
            self.thread(group, board, thread).reset();
        }
        Some(board)
    }

    /// Notes the pid of the worker a board was given to.
    pub fn started(&self, group: usize, board: usize, pid: u32) {
        self.worker(group, board).set_pid(pid);
    }

    /// Notes where a board's worker is in its life.
    pub fn set_state(&self, group: usize, board: usize, state: BoardState) {
        self.worker(group, board).set_state(state);
    }

    /// Frees a board whose worker has exited; its counters stay for the next one.
    pub fn release(&self, group: usize, board: usize) {
        let worker = self.worker(group, board);
        for gauge in [
            &worker.connections_open,
            &worker.in_flight,
            &worker.busy_threads,
        ] {
            gauge.store(0, Ordering::Relaxed);
        }
        worker.set_state(BoardState::Free);
    }

    /// A worker's own view: its board, shared by its threads.
    pub fn into_board(self: Arc<Self>, group: usize, board: usize) -> Board {
        assert!(board < self.layout.groups[group].boards());
        Board {
            scoreboard: self,
            group,
            board,
        }
    }

    /// A scoreboard of one group and one board not shared with anyone: for a server run
    /// without a supervisor (tests, benchmarks).
    pub fn private(threads: usize) -> Board {
        let layout = Layout::new(vec![crate::GroupShape {
            name: "private".into(),
            processes: 1,
            threads,
        }]);
        let scoreboard = Arc::new(Scoreboard::create(layout).expect("a memfd can be created"));
        scoreboard.take(0, 1);
        scoreboard.into_board(0, 0)
    }
}

/// One worker's board and the scoreboard it is on.
#[derive(Debug, Clone)]
pub struct Board {
    scoreboard: Arc<Scoreboard>,
    group: usize,
    board: usize,
}

impl Board {
    /// The worker's counters.
    pub fn counters(&self) -> &WorkerBoard {
        self.scoreboard.worker(self.group, self.board)
    }

    /// Python thread `index`'s board.
    pub fn thread(&self, index: usize) -> &ThreadBoard {
        self.scoreboard.thread(self.group, self.board, index)
    }

    /// The whole scoreboard (for pages that show every worker).
    pub fn scoreboard(&self) -> &Scoreboard {
        &self.scoreboard
    }

    /// The group and board this worker has.
    pub fn position(&self) -> (usize, usize) {
        (self.group, self.board)
    }
}

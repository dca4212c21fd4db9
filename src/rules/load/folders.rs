//! The templates folder as the loader keeps it: each template compiled once per shape, and
//! each problem in a template file reported once, however many rules use it.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use super::Shape;
use crate::config::names::Needs;
use crate::render::message::MessageTemplate;

/// A template compiled for a destination kind, and the enriched names it reads.
pub(super) type Compiled = (Arc<MessageTemplate>, Needs);

/// A problem found in a template file, reported once however many rules use the file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Reported {
    pub(super) file: PathBuf,
    pub(super) line: u64,
    pub(super) column: u64,
    pub(super) message: String,
}

/// The templates folder: each template compiled once per shape and shared by the actions that
/// use it; each problem in a template file reported once.
pub(super) struct Folders {
    pub(super) dir: PathBuf,
    pub(super) compiled: HashMap<(String, Shape), Option<Compiled>>,
    pub(super) reported: HashSet<Reported>,
}

impl Folders {
    pub(super) fn new(dir: PathBuf) -> Folders {
        Folders {
            dir,
            compiled: HashMap::new(),
            reported: HashSet::new(),
        }
    }
}

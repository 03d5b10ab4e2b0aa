//! `topology`: the node's agents and their connections (`axon graph`).

use axon_runtime::Value;

use super::Server;
use crate::registry::Refusal;
use crate::requests::to_value;

impl Server {
    /// `topology`: agents in `ps` order, links resolved through the records and the journals.
    pub(super) fn topology(&mut self) -> Result<Value, Refusal> {
        let journals = self
            .supervision
            .children()
            .map(|c| (c.name.as_str(), c.journal.entries()));
        let topology =
            crate::topology::build(self.ps_lines(false), self.records.agents(), journals);
        to_value(&topology)
    }
}

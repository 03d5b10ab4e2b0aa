//! Counting what a message came to: the agent's total and its socket's own
//! counter move together, in one call.

use std::collections::BTreeMap;

use super::Sockets;
use crate::net::Role;
use crate::stats::{Count, SocketStats};

impl Sockets {
    /// Counts `c` for the agent and for the socket being served (if the
    /// message came from one); returns the agent's new total.
    #[inline]
    pub(crate) fn count(&mut self, c: Count) -> u64 {
        self.count_on(self.serving, c)
    }

    /// Counts `c` for the agent and for the socket at `index` (if it is open); returns the agent's new total.
    #[inline]
    pub(crate) fn count_on(&mut self, index: Option<usize>, c: Count) -> u64 {
        if let Some(slot) = index
            .and_then(|i| self.slots.get_mut(i))
            .and_then(Option::as_mut)
        {
            slot.counts.bump(c);
        }
        self.stats.bump(c)
    }

    /// Every open socket's counters by alias, a SYNC pair's hidden side added to its alias.
    pub(crate) fn socket_stats(&self) -> BTreeMap<String, SocketStats> {
        self.aliases
            .iter()
            .filter_map(|(alias, &i)| {
                let slot = self.slots[i].as_ref()?;
                let (mut counts, mut backlog) = (slot.counts, slot.socket.backlog_len());
                let hidden = slot.partner.and_then(|p| self.slots.get(p)?.as_ref());
                if let Some(side) = hidden.filter(|s| s.companion) {
                    counts.add(&side.counts);
                    backlog += side.socket.backlog_len();
                }
                let a = &slot.address;
                let bound = a.role == Role::Server;
                let report = counts.report(a.kind.as_str(), bound, &a.endpoint, backlog);
                Some((alias.to_string(), report))
            })
            .collect()
    }
}

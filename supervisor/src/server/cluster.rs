//! The node's side of cluster membership: fencing. A node that cannot renew
//! its lease stops every agent before the lease can expire, so that no agent
//! name is ever served by two processes at once (the leader restarts them
//! elsewhere once the lease is gone). When it rejoins, it runs only what it
//! is given again.

use actix::prelude::*;
use axon_runtime::launch::Signal;

use super::Server;
use crate::cluster::Fencing;

impl StreamHandler<Fencing> for Server {
    fn handle(&mut self, fencing: Fencing, _: &mut Context<Self>) {
        match fencing {
            Fencing::Fence => self.fence(),
            Fencing::Rejoined => {
                tracing::warn!("rejoined the cluster; this node runs agents again");
                self.fenced = false;
            }
        }
    }

    /// The lease task ended (the System is stopping): nothing to do.
    fn finished(&mut self, _: &mut Context<Self>) {}
}

impl Server {
    /// Stops every agent at once (SIGKILL: certain, and fast enough to beat the lease).
    fn fence(&mut self) {
        self.fenced = true;
        let children: Vec<(u32, String)> = self
            .children
            .iter()
            .map(|(pid, name)| (*pid, name.clone()))
            .collect();
        tracing::error!(
            agents = children.len(),
            "fenced: stopping every agent of this node"
        );
        for (pid, name) in children {
            // Stopped for good here: not restarted by this supervisor.
            self.supervision.stopping(&name);
            if let Some(child) = self.supervision.incarnation(&name, pid) {
                child.kill_reason = Some("fenced: the node lost etcd".into());
            }
            // Already gone is fine.
            let _ = self.signal_child(pid, Signal::Kill);
        }
        self.save_changes();
    }
}

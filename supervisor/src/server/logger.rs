//! The logger agent: once it binds its socket, the name server and every
//! agent (and every later spawn) publish their log events to it.

use std::collections::BTreeMap;

use actix::prelude::*;
use axon_runtime::Value;

use super::{Server, LOGGER_ALIAS, LOGGER_KIND};
use crate::methods::SetAddr;
use crate::registry::Refusal;

impl Server {
    pub(super) fn set_addr(
        &mut self,
        a: SetAddr,
        ctx: &mut Context<Self>,
    ) -> Result<Value, Refusal> {
        self.note_logger(&a, ctx);
        self.records.set_addr(&a.name, a.alias, a.address)?;
        Ok(Value::Null)
    }

    /// When the logger binds its socket, every agent (and every later spawn) publishes its log events there.
    fn note_logger(&mut self, a: &SetAddr, ctx: &mut Context<Self>) {
        let is_logger = self
            .records
            .info(&a.name)
            .is_ok_and(|i| i.kind == LOGGER_KIND);
        if !is_logger || a.alias != LOGGER_ALIAS {
            return;
        }
        tracing::info!(logger = %a.name, endpoint = %a.address.endpoint, "logger available");
        self.logger = Some(a.address.endpoint.clone());
        if let Err(e) = axon_runtime::logging::connect(&a.address.endpoint) {
            tracing::warn!(error = %e, "name server events will not reach the logger");
        }
        let others: Vec<(String, String)> = self
            .records
            .agents()
            .filter(|i| i.name != a.name)
            .map(|i| (i.name.clone(), i.control.clone()))
            .collect();
        for (name, control) in others {
            self.point_at_logger(name, control, ctx);
        }
        // Started but not registered yet: their spawn gave them no logger, and they cannot be told yet.
        let registered = |name: &String| self.records.info(name).is_ok();
        self.owed_logger = self
            .children
            .values()
            .filter(|name| **name != a.name && !registered(name))
            .cloned()
            .collect();
    }

    /// Tells agent `name` (at `control`) to publish its log events to the logger.
    pub(super) fn point_at_logger(
        &mut self,
        name: String,
        control: String,
        ctx: &mut Context<Self>,
    ) {
        let Some(endpoint) = self.logger.clone() else {
            return;
        };
        let args = BTreeMap::from([("endpoint", endpoint)]);
        let tell = async move {
            axon_runtime::client::call::oneway(&control, &name, "set_logger", &args).await
        };
        ctx.spawn(tell.into_actor(self).map(|res, _, _| {
            if let Err(e) = res {
                tracing::warn!(error = %e, "could not point an agent at the logger");
            }
        }));
    }
}

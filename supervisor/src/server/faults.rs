//! Test only (feature `fault-injection`): requests that make the name server
//! panic on purpose, inside a request and outside one, so that tests can
//! check what `guard` promises. Never enable the feature in a deployment.

use std::time::Duration;

use actix::prelude::*;
use axon_runtime::Value;

use super::Server;
use crate::registry::Refusal;

impl Server {
    /// `fault_panic`: panics inside the request. `fault_panic_later`: answers, then panics
    /// outside any request (in a timer of the actor).
    pub(super) fn fault(
        &mut self,
        method: &str,
        ctx: &mut Context<Self>,
    ) -> Option<Result<Value, Refusal>> {
        if method == "fault_panic" {
            panic!("fault injected: a panic inside a request");
        }
        ctx.run_later(Duration::ZERO, |_, _| {
            panic!("fault injected: a panic outside any request")
        });
        Some(Ok(Value::Null))
    }
}

//! `Link`: what a handler's [`Ctx`] asks of the host (the `Hosting` trait),
//! carried out on the actor.

use std::rc::Rc;
use std::time::Duration;

use actix::prelude::*;

use super::{drain, requests, timers::Action, Host, HostState};
use crate::agent::{Agent, CodeFn, Ctx, Hosting};
use crate::codec::Value;
use crate::error::{Error, Result};
use crate::sockets::Sockets;

/// The host's side of a [`Ctx`]: the actor's context and the host's state.
pub(super) struct Link<'a, A: Agent> {
    pub(super) actor: &'a mut Context<Host<A>>,
    pub(super) state: &'a mut HostState<A>,
}

impl<A: Agent> Hosting<A> for Link<'_, A> {
    fn flush(&mut self, sockets: &mut Sockets, index: usize) {
        drain::start_flush(sockets, self.actor, index);
    }

    fn serve(&mut self, sockets: &mut Sockets, index: usize, generation: u64) {
        self.state
            .serve_socket(sockets, self.actor, index, generation);
    }

    fn expire_request(&mut self, sockets: &Sockets, alias: &str, id: u64, wait: Duration) {
        requests::expire_after(sockets, self.actor, alias, id, wait);
    }

    fn run_soon(&mut self, f: Rc<CodeFn<A>>) {
        let soon = actix::fut::ready(()).map(move |(), host: &mut Host<A>, actor| {
            host.run_code(&*f, actor);
        });
        self.actor.spawn(soon);
    }

    fn when_drained(&mut self, index: usize, generation: u64, f: Rc<CodeFn<A>>) {
        self.state.timers.when_drained(index, generation, f);
    }

    fn start_timer(
        &mut self,
        alias: Option<String>,
        delay: Duration,
        period: Option<Duration>,
        f: Rc<CodeFn<A>>,
    ) -> String {
        self.state
            .timers
            .start(self.actor, alias, delay, period, Action::Code(f))
    }

    fn stop_timer(&mut self, alias: &str) -> bool {
        self.state.timers.stop(self.actor, alias)
    }

    fn stop_all_timers(&mut self) {
        self.state.timers.stop_all(self.actor);
    }

    fn timers(&self) -> Vec<String> {
        self.state.timers.aliases()
    }

    fn stop(&mut self) {
        self.actor.stop();
    }

    fn ask_nameserver(
        &mut self,
        method: &str,
        args: Value,
        then: Box<dyn FnOnce(&mut A, &mut Ctx<'_, A>, Result<Value>)>,
    ) -> Result<()> {
        let Some(ns) = self.state.nameserver.as_ref() else {
            return Err(Error::Config(format!(
                "this agent has no name server to ask {method:?}"
            )));
        };
        let answer = ns.call(method, args);
        let answered = actix::fut::wrap_future::<_, Host<A>>(answer).map(
            move |answer, host: &mut Host<A>, actor| {
                host.with_ctx(actor, |agent, ctx| then(agent, ctx, answer));
            },
        );
        self.actor.spawn(answered);
        Ok(())
    }

    fn load_script(&mut self, name: Option<&str>, source: &str) -> Result<Vec<String>> {
        let scripts = &mut self.state.scripts;
        let loaded = match name {
            Some(name) => scripts.define(name, source),
            None => scripts.load(source),
        };
        let what = name.unwrap_or("script");
        loaded
            .map(|defined| defined.iter().map(ToString::to_string).collect())
            .map_err(|e| Error::invalid("script", what, e.to_string()))
    }
}

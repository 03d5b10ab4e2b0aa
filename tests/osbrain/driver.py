"""Drives one osBrain 0.6.5 agent for tests/osbrain.rs.

Started by the test in a process group of its own. It runs an osBrain name
server (Pyro4) and one agent, `py`, then answers one JSON command per stdin
line with one JSON line on stdout:

  {"op": "bind", "kind": "PUB", "alias": "a", "serializer": "raw", "handler": "record"}
      -> {"addr": "tcp://127.0.0.1:PORT"}
  {"op": "connect", "kind": "PUB", "addr": "tcp://...", "alias": "a", "serializer": "json",
   "handler": "record", "topics": ["t"]}       (kind: the bound side's)   -> {"ok": true}
  {"op": "send", "alias": "a", "msg": M, "topic": "t"}                   -> {"ok": true}
  {"op": "request", "alias": "a", "msg": M}                              -> {"reply": R}
  {"op": "received"}                                  -> {"records": [[topic, M], ...]}

A message M is a JSON value, or {"bytes": "text"} for raw bytes (UTF-8).
On end of input it shuts osBrain down; past DEADLINE seconds it kills its
whole process group (name server and agent included), so it never lingers.
"""

import json
import os
import signal
import sys

DEADLINE = 120


def give_up(*_):
    os.killpg(0, signal.SIGKILL)


def to_wire(value):
    """A JSON value from the test, with {"bytes": ...} as bytes."""
    if isinstance(value, dict) and set(value) == {"bytes"}:
        return value["bytes"].encode()
    return value


def from_wire(value):
    """What osBrain handed over, as JSON (bytes as {"bytes": ...})."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"bytes": bytes(value).decode("utf-8", "backslashreplace")}
    return value


# Handlers run in the agent's process; cloudpickle sends them there by value.
def record(agent, message):
    agent.received.append((None, bytes(message) if isinstance(message, memoryview) else message))


def record_topic(agent, message, topic):
    agent.received.append((topic, bytes(message) if isinstance(message, memoryview) else message))


def upper(agent, message):
    return message.upper()


HANDLERS = {"record": record, "upper": upper, None: None}


def run(agent, command):
    from osbrain import AgentAddress

    op = command["op"]
    if op == "bind":
        address = agent.bind(command["kind"], alias=command["alias"], transport="tcp",
                             serializer=command["serializer"],
                             handler=HANDLERS[command.get("handler")])
        return {"addr": "tcp://%s:%d" % (address.address.host, address.address.port)}
    if op == "connect":
        at = command["addr"][len("tcp://"):]
        server = AgentAddress("tcp", at, command["kind"], "server", command["serializer"])
        topics = command.get("topics")
        if topics is not None:
            handler = {t: record_topic for t in topics}
        else:
            handler = HANDLERS[command.get("handler")]
        agent.connect(server, alias=command["alias"], handler=handler)
        return {"ok": True}
    if op == "send":
        agent.send(command["alias"], to_wire(command["msg"]), topic=command.get("topic"))
        return {"ok": True}
    if op == "request":
        reply = agent.send_recv(command["alias"], to_wire(command["msg"]))
        return {"reply": from_wire(reply)}
    if op == "received":
        got = agent.get_attr("received")
        return {"records": [[from_wire(t), from_wire(m)] for t, m in got]}
    raise ValueError("unknown op %r" % op)


def main():
    signal.signal(signal.SIGALRM, give_up)
    signal.alarm(DEADLINE)
    # Answers go to the original stdout; whatever osBrain and Pyro4 print
    # (the name server announces itself there) goes to stderr.
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    from osbrain import run_agent, run_nameserver

    ns = run_nameserver()
    try:
        agent = run_agent("py")
        agent.set_attr(received=[])
        print(json.dumps({"ready": True}), file=answers, flush=True)
        for line in sys.stdin:
            try:
                answer = run(agent, json.loads(line))
            except Exception as e:  # the test reads the error and fails there
                answer = {"error": "%s: %s" % (type(e).__name__, e)}
            print(json.dumps(answer), file=answers, flush=True)
    finally:
        ns.shutdown(timeout=10.)


if __name__ == "__main__":
    main()

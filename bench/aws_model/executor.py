"""One executor invocation: a batch of up to 10 occurrences, as chalicelib.engine.batch runs it.

Claim the batch (one TransactWriteItems), hold until the instant, read the jobs (one
BatchGetItem), deliver each occurrence on its own thread (the agent sees it: lateness), wait for
the agent's answer, write each outcome (one TransactWriteItems each); then the event source
deletes the batch. A cold environment first pays its start.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .profile import Latency, Profile
from .resources import Capacity, FifoServer, Interpreter, chain
from .sim import Command, Process, Sim, join, sleep, until

# DynamoDB units per call (items <= 1 KB; a transaction bills 2 units per item): a claim puts the
# run and updates the job, an outcome updates both; the read at the instant is consistent.
CLAIM_WCU, OUTCOME_WCU, READ_RCU = 4, 4, 1
DELIVERY_STEPS = 2  # I/O steps before the agent has the request: connect, send


@dataclass
class Ledger:
    """What the invocations did: lateness per occurrence, and what Lambda, SQS and DynamoDB bill."""

    lateness_ms: list[float] = field(default_factory=list)
    late_instants: list[int] = field(default_factory=list)  # the instant of each lateness_ms
    invocations: int = 0
    cold_starts: int = 0
    billed_ms: float = 0.0
    receives: int = 0
    deletes: int = 0
    wcu: float = 0.0
    rcu: float = 0.0
    started_at: list[float] = field(default_factory=list)
    arrived_ms: list[float] = field(default_factory=list)  # invocation start minus instant, per record


class Platform:
    """The shared state an invocation runs against: resources, warm environments, the ledger."""

    def __init__(self, sim: Sim, profile: Profile) -> None:
        self.sim, self.profile, self.ledger = sim, profile, Ledger()
        # Locally every Lambda is a thread of one interpreter; its GIL goes to any waiting thread
        self.cpu = Interpreter(pick_any=True) if profile.shared_cpu else None
        self.server = FifoServer() if profile.server_ms else None
        self.sqs_server = FifoServer() if profile.server_ms else None
        self.writes = Capacity(profile.wcu_per_s, 1.0, profile.throttle_retry_ms) if profile.wcu_per_s else None
        self.reads = Capacity(profile.rcu_per_s, 1.0, profile.throttle_retry_ms) if profile.rcu_per_s else None
        self.warm = profile.warm
        self.agent = Interpreter() if profile.shared_cpu else None  # the test agent's own process

    def call(self, kind: str, latency: Latency, share: float = 1.0, wcu: float = 0.0, rcu: float = 0.0) -> Process:
        """One AWS call: throttled by the table's capacity, then its latency (AWS); or the
        interpreter's CPU and moto's serialized server (local). ``share``: the call's size
        relative to the measured one (a claim of 10 runs is 10 claims' work locally)."""
        self.ledger.wcu += wcu
        self.ledger.rcu += rcu
        if self.writes is not None and wcu:
            yield self.writes.use(wcu)
        if self.reads is not None and rcu:
            yield self.reads.use(rcu)
        fixed = (self.profile.server_ms or {}).get(f"{kind}_call", 0.0)  # the per-call part, if priced apart
        cpu = (self.profile.cpu_ms.get(kind, 0.0) * share + self.profile.cpu_ms.get(f"{kind}_call", 0.0)
               if self.cpu is not None and self.profile.cpu_ms else 0.0)
        if cpu and self.cpu is not None:  # build, serialize and sign the request
            yield self.cpu.use(cpu / 2)
        if self.server is not None and self.profile.server_ms and kind in self.profile.server_ms:
            yield self.server.use(self.profile.server_ms[kind] * share + fixed)
        yield sleep(latency.sample(self.sim.rng))
        if cpu and self.cpu is not None:  # parse the answer (a new turn for the GIL)
            yield self.cpu.use(cpu / 2)


def invocation(platform: Platform, instants: list[int]) -> Process:
    """Run one batch; the slot is free when this process ends (the delete follows it)."""
    sim, profile, ledger = platform.sim, platform.profile, platform.ledger
    began = sim.now
    ledger.invocations += 1
    ledger.started_at.append(began)
    ledger.arrived_ms.extend(began - t for t in instants)
    if platform.warm > 0:
        platform.warm -= 1
    else:
        ledger.cold_starts += 1
        yield sleep(profile.cold_ms)
    n = len(instants)
    yield from platform.call("claim", profile.claim, share=n, wcu=CLAIM_WCU * n)
    for instant in sorted(set(instants)):
        group = [t for t in instants if t == instant]
        yield until(instant)
        yield from platform.call("read", profile.read, share=len(group) / 10, rcu=READ_RCU * len(group))
        yield join(sim, [_attempt(platform, instant) for _ in group])
    ledger.billed_ms += sim.now - began
    platform.warm += 1
    ledger.deletes += 1


def _attempt(platform: Platform, instant: int) -> Process:
    """Deliver one occurrence, wait for the agent, write its outcome."""
    sim, profile = platform.sim, platform.profile
    cpu = profile.cpu_ms["delivery"] if platform.cpu is not None and profile.cpu_ms else 0.0
    for _ in range(DELIVERY_STEPS):  # connect, send: each step a turn for the GIL
        if platform.cpu is not None and cpu:
            yield platform.cpu.use(cpu / (DELIVERY_STEPS + 1))
        yield sleep(profile.delivery.sample(sim.rng) / DELIVERY_STEPS)
    if platform.agent is not None and profile.cpu_ms:  # the agent process parses the request
        yield platform.agent.use(profile.cpu_ms.get("agent", 0.0))
    platform.ledger.lateness_ms.append(sim.now - instant)
    platform.ledger.late_instants.append(instant)
    yield sleep(profile.answer.sample(sim.rng))
    if platform.cpu is not None and cpu:  # read the answer
        yield platform.cpu.use(cpu / (DELIVERY_STEPS + 1))
    yield from platform.call("outcome", profile.outcome, wcu=OUTCOME_WCU)


def delete(platform: Platform) -> Command:
    """The event source's DeleteMessageBatch after the invocation (locally on moto's SQS lock)."""
    if platform.sqs_server is not None and platform.profile.server_ms and platform.cpu is not None:
        cpu = platform.profile.cpu_ms["get"] if platform.profile.cpu_ms else 0.0
        return chain(platform.cpu.use(cpu / 2), platform.sqs_server.use(platform.profile.server_ms["delete"]),
                     platform.cpu.use(cpu / 2))
    return sleep(0.0)

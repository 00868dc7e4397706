"""The Lua scripts the store runs atomically, their arguments and replies. Pure: no I/O.

Each script touches only keys that share one hash tag, so the same scripts
run on Redis Cluster: the job scripts touch ``corral:{<id>}:*``, the index
script touches ``corral:{index}:*``.

The vocabulary the scripts decide with (which statuses are final, the
status ranks, the controller's name, the order key of a controller's
cancel) is generated from ``common/`` into the script text, so the Lua and
the Python that decide how a job ends cannot disagree on it. The scripts
are run by SHA (:data:`SCRIPTS`, :mod:`controller.store.redis`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from string import Template
from typing import Any

import msgspec

from common import messages
from common.fold import order_key, terminal_order
from common.job import CONTROLLER, FINAL_STATUSES, JOB_STATUSES, STATUS_RANK
from common.messages import ENCODER, Event, event_kind
from controller.store.keys import INDEX_KEYS, events_key, job_key


def _lua_table(entries: dict[str, str]) -> str:
    return "{" + ", ".join(f"['{name}'] = {value}" for name, value in sorted(entries.items())) + "}"


_CANCEL_TIER, _CANCEL_RANK = terminal_order("cancelled")
# Generated from common/: see the module docstring.
_VOCABULARY = {
    "FINAL": _lua_table(dict.fromkeys(FINAL_STATUSES, "true")),
    "RANK": _lua_table({name: str(rank) for name, rank in STATUS_RANK.items()}),
    "CONTROLLER": f"'{CONTROLLER}'",
    # A controller's cancel: attempt 0, so any real answer of the agent beats it.
    "CANCEL_HEAD": f"'{_CANCEL_TIER}|0|{_CANCEL_RANK}|'",
    "STOP": "stop",
}
# A rollout's claim of a host it will never send the job to (controller/store/rollouts.py).
ROLLOUT_STOP = _VOCABULARY["STOP"]


def _script(text: str) -> str:
    return Template(text).substitute(_VOCABULARY)


# Order keys of terminal events, as common.fold.order_key makes them:
# "tier|attempt|rank|timestamp|kind|event_id". parse_head returns nil for a
# value in another format (one an older controller wrote): the caller then
# leaves the decision to the Python finalize.
_HEADS = """
local FINAL = $FINAL
local function parse_head(h)
  local tier, attempt, rank, ts, kind, id =
    string.match(h, '^(%d+)|(-?%d+)|(%d+)|([^|]+)|(%a+)|(.*)$$')
  if not tier then return nil end
  return {tonumber(tier), tonumber(attempt), tonumber(rank), tonumber(ts), kind, id}
end
-- Appends ids to a list in slices: unpack() of thousands of values would
-- overflow Lua's stack.
local function append_order(key, ids)
  for first = 1, #ids, 1000 do
    redis.call('RPUSH', key, unpack(ids, first, math.min(first + 999, #ids)))
  end
end
-- The fold breaks a tie on (tier, attempt, rank, timestamp) by event id; two
-- such heads have the same rank, hence the same kind and the same answer, so
-- which of them is kept cannot change a status: the first one stays.
local function head_greater(a, b)
  for i = 1, 4 do
    if a[i] ~= b[i] then return a[i] > b[i] end
  end
  return false
end
"""

# KEYS: job hash, events hash, terminal-agents hash, expected-agents hash,
# arrival-order list.
# ARGV[1]: a MessagePack array of repeated (event_id, hostname, terminal or
# "", timestamp as text), where terminal is "tier|attempt|rank|kind" for a
# terminal event; ARGV[2..]: the encoded events, in the same order.
# (Redis 6's cmsgpack reads no bin type, so the events stay apart.)
# A record only takes what was asked: an event from an agent the job does
# not expect is rejected (not stored, counted); a job with no expected set
# (_any) belongs to the first agent heard from (``owner``), and once it is
# final another agent's events are rejected too. The controller's own
# events are always taken.
# Stores each event once (HSETNX: the first copy wins, for the job's whole
# life) and appends its id to the arrival order; for each agent counts the
# first terminal event once in ``done`` and
# keeps in the terminal hash the head of its terminal events (the greatest
# order key, as the fold's agent state); moves the job from submitted to
# processing, keeps updated = max(timestamp).
# When done reaches expected_n on a job not yet final, it writes the final
# status here, exactly as controller.upkeep.finalize.decide_status decides
# it from the fold of the stored events (an answer is the head's kind: _any
# takes the greatest head of any agent; the controller's own events are no
# agent's).
# Returns {status, done, expected_n, new_events, flag, rejected, operation,
# created, started}: flag 1 when this call gave the job its final status, 2
# when the job is due but the script could not decide (terminal values in an
# older format): finalize it in Python; started 1 when this call moved the
# job out of submitted (its first agent event: time to first answer).
APPLY_EVENTS = _script(
    _HEADS
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unknown', 0, 0, 0, 0, 0, '', '0', 0} end
local new = 0
local newest = 0
local counted = 0
local rejected = 0
local anyone = redis.call('EXISTS', KEYS[4]) == 0
local before = redis.call('HMGET', KEYS[1], 'status', 'owner')
local was_final = FINAL[before[1]]
local owner = before[2]
local function asked(host)
  if host == $CONTROLLER then return true end
  if not anyone then return redis.call('HEXISTS', KEYS[4], host) == 1 end
  if not owner then
    owner = host
    redis.call('HSET', KEYS[1], 'owner', host)
    return true
  end
  return owner == host or not was_final
end
local args = cmsgpack.unpack(ARGV[1])
local fresh = {}
for i = 1, #args, 4 do
  local host = args[i + 1]
  if not asked(host) then
    rejected = rejected + 1
  elseif redis.call('HSETNX', KEYS[2], args[i], ARGV[(i + 3) / 4 + 1]) == 1 then
    new = new + 1
    fresh[new] = args[i]
    local term = args[i + 2]
    if term ~= '' then
      local tier, attempt, rank, kind = string.match(term, '^(%d+)|(-?%d+)|(%d+)|(%a+)$$')
      local head = tier .. '|' .. attempt .. '|' .. rank .. '|' .. args[i + 3] .. '|'
        .. kind .. '|' .. args[i]
      if redis.call('HSETNX', KEYS[3], host, head) == 1 then
        counted = counted + 1
      else
        local current = parse_head(redis.call('HGET', KEYS[3], host))
        if current and head_greater(parse_head(head), current) then
          redis.call('HSET', KEYS[3], host, head)
        end
      end
    end
    local ts = tonumber(args[i + 3])
    if ts > newest then newest = ts end
  end
end
if counted > 0 then redis.call('HINCRBY', KEYS[1], 'done', counted) end
local job = redis.call(
  'HMGET', KEYS[1], 'status', 'done', 'expected_n', 'updated', 'expire_at', 'op', 'created')
local status = job[1]
local done = tonumber(job[2] or '0')
local expected_n = tonumber(job[3] or '0')
local flag = 0
if new > 0 then
  if status == 'submitted' then status = 'processing' end
  if newest > tonumber(job[4] or '0') then redis.call('HSET', KEYS[1], 'updated', newest) end
  append_order(KEYS[5], fresh)
  redis.call('EXPIREAT', KEYS[2], job[5])
  redis.call('EXPIREAT', KEYS[3], job[5])
  redis.call('EXPIREAT', KEYS[5], job[5])
end
if not FINAL[status] and expected_n > 0 and done >= expected_n then
  local heads = redis.call('HGETALL', KEYS[3])
  local best = nil
  local ok = 0
  local skipped = 0
  for i = 1, #heads, 2 do
    local head = parse_head(heads[i + 1])
    if not head then
      flag = 2
      break
    end
    if heads[i] ~= $CONTROLLER then
      if head[5] == 'completed' then ok = ok + 1 end
      if head[5] == 'skipped' then skipped = skipped + 1 end
      if best == nil or head_greater(head, best) then best = head end
    end
  end
  if flag == 0 then
    if anyone then
      if best ~= nil and best[5] == 'completed' then status = 'completed' else status = 'failed' end
    elseif ok >= expected_n - skipped and skipped < expected_n then
      status = 'completed'
    elseif ok == 0 then
      status = 'failed'
    else
      status = 'partial_failure'
    end
    flag = 1
  end
end
if status ~= job[1] then redis.call('HSET', KEYS[1], 'status', status) end
local started = 0
if job[1] == 'submitted' and status ~= 'submitted' then started = 1 end
return {status, done, expected_n, new, flag, rejected, job[6] or '', job[7] or '0', started}
"""
)

# KEYS: job hash. ARGV: the new status.
# Moves the status forward only; returns the status the job ends with.
SET_FINAL_STATUS = _script(
    """
local RANK = $RANK
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return false end
if (RANK[current] or 0) < RANK[ARGV[1]] then
  redis.call('HSET', KEYS[1], 'status', ARGV[1])
  return ARGV[1]
end
return current
"""
)

# KEYS: rank hash, then one sorted set per status (in JOB_STATUSES order),
# then the open-jobs (deadline) set. ARGV: job id, status index (1-based
# into the status sets), rank, created score (0: keep the score it is filed
# under). Re-files a job under its status, forward only, so two controllers
# racing on one job cannot move it backwards in the listing.
INDEX_STATUS = """
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')
local rank = tonumber(ARGV[3])
if current >= rank then return 0 end
local target = tonumber(ARGV[2]) + 1
-- A score of 0 means "unknown": keep the creation time it was filed under.
local score = ARGV[4]
if tonumber(score) == 0 then
  for i = 2, #KEYS - 1 do
    local known = redis.call('ZSCORE', KEYS[i], ARGV[1])
    if known then score = known break end
  end
end
for i = 2, #KEYS - 1 do
  if i ~= target then redis.call('ZREM', KEYS[i], ARGV[1]) end
end
redis.call('ZADD', KEYS[target], score, ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], rank)
if rank >= 2 then redis.call('ZREM', KEYS[#KEYS], ARGV[1]) end
return 1
"""

# KEYS: job hash. ARGV: stream sequence of the published job.
# Marks a job dispatched (its publish was acknowledged) without recreating a
# job whose key was deleted or expired meanwhile.
MARK_DISPATCHED = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'dispatched', 1, 'seq', ARGV[1])
return 1
"""

# KEYS: job hash, events hash, terminal-agents hash, arrival-order list.
# ARGV: the request time, then repeated (event_id, encoded Cancelled event,
# terminal hostname or "").
# Cancels a job unless it is already final, atomically with respect to the
# collector's finalize: stores the cancel events (first copy wins), counts
# each agent's first terminal once, sets the status to cancelled. The cancel
# events are the controller's (attempt 0, stamped with the request time), so
# their head in the terminal hash is written here as APPLY_EVENTS would.
# Returns "cancelled", "final:<status>" if it already had a final status, or "unknown".
CANCEL_JOB = _script(
    """
local FINAL = $FINAL
if redis.call('EXISTS', KEYS[1]) == 0 then return 'unknown' end
local status = redis.call('HGET', KEYS[1], 'status')
if FINAL[status] then return 'final:' .. status end
for i = 2, #ARGV, 3 do
  if redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1]) == 1 then
    redis.call('RPUSH', KEYS[4], ARGV[i])
    local head = $CANCEL_HEAD .. ARGV[1] .. '|cancelled|' .. ARGV[i]
    if ARGV[i + 2] ~= '' and redis.call('HSETNX', KEYS[3], ARGV[i + 2], head) == 1 then
      redis.call('HINCRBY', KEYS[1], 'done', 1)
    end
  end
end
redis.call('HSET', KEYS[1], 'status', 'cancelled', 'updated', ARGV[1])
local expire_at = redis.call('HGET', KEYS[1], 'expire_at')
if expire_at then
  redis.call('EXPIREAT', KEYS[2], expire_at)
  redis.call('EXPIREAT', KEYS[3], expire_at)
  redis.call('EXPIREAT', KEYS[4], expire_at)
end
return 'cancelled'
"""
)


# KEYS: job hash, rollout hash. ARGV: mode ("batch": start batch n; "more":
# further hosts of batch n; "stop"), n (for "stop": the failures counted),
# claimer, now, then the hosts. Returns the hosts this call claimed: none if
# the job is final or gone, or another claimed the batch first.
ROLLOUT_CLAIM = _script(
    """
local FINAL = $FINAL
local status = redis.call('HGET', KEYS[1], 'status')
if not status or FINAL[status] then return {} end
local mode, n = ARGV[1], ARGV[2]
local value = n .. '|' .. ARGV[4]
if mode == 'batch' then
  if redis.call('HSETNX', KEYS[2], 'batch:' .. n, ARGV[3]) == 0 then return {} end
  redis.call('HSET', KEYS[2], 'batch', n)
elseif mode == 'stop' then
  redis.call('HSETNX', KEYS[2], 'stopped', n)
  value = '$STOP'
end
local claimed = {}
for i = 5, #ARGV do
  if redis.call('HSETNX', KEYS[2], 'host:' .. ARGV[i], value) == 1 then
    claimed[#claimed + 1] = ARGV[i]
  end
end
local expire_at = redis.call('HGET', KEYS[1], 'expire_at')
if expire_at then redis.call('EXPIREAT', KEYS[2], expire_at) end
return claimed
"""
)


# A job's detail as stored (controller/store/read_cache.py): its meta, status,
# ``updated`` and every event, in one atomic read; false where missing. With
# ARGV[1] = "final", an empty reply unless the job is final: a waited job read
# back with each batch of its events costs its events once, not once a batch.
DETAIL_SNAPSHOT = _script(
    """
local FINAL = $FINAL
local job = redis.call('HMGET', KEYS[1], 'meta', 'status', 'updated')
if ARGV[1] == 'final' and not (job[2] and FINAL[job[2]]) then return {} end
return {job[1], job[2], job[3], redis.call('HVALS', KEYS[2])}
"""
)


# By name, run by SHA (controller/store/redis.py ``execute``).
SCRIPTS: dict[str, str] = {
    "apply": APPLY_EVENTS,
    "set_final": SET_FINAL_STATUS,
    "index": INDEX_STATUS,
    "mark": MARK_DISPATCHED,
    "cancel": CANCEL_JOB,
    "rollout_claim": ROLLOUT_CLAIM,
    "snapshot": DETAIL_SNAPSHOT,
}
SHAS = {
    name: hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()
    for name, text in SCRIPTS.items()
}

# APPLY_EVENTS's last reply element.
FINISHED = 1  # this call wrote the job's final status
UNDECIDED = 2  # due, but the script could not decide: finalize in Python


class Applied(msgspec.Struct, frozen=True):
    """What one batch did to one job."""

    status: str
    done: int
    expected: int
    new_events: int
    flag: int = 0
    rejected: int = 0  # events from agents the job did not ask
    operation: str = ""  # for metrics, from the job hash
    created: float = 0.0
    started: bool = False  # this batch moved the job out of ``submitted``

    @property
    def unknown(self) -> bool:
        return self.status == "unknown"

    @property
    def finished(self) -> bool:
        """This batch gave the job its final status."""
        return self.flag == FINISHED

    @property
    def ready_to_finalize(self) -> bool:
        """Due for a final status the script left to Python (controller/upkeep/finalize.py)."""
        return self.flag == UNDECIDED


_TERMINAL = frozenset(messages.TERMINAL_EVENTS)


def apply_args(events: Iterable[tuple[Event, bytes]]) -> list[bytes]:
    """APPLY_EVENTS's ARGV: (id, host, terminal or "", timestamp) per event in one array,
    then the blobs."""
    args: list[str] = []
    blobs: list[bytes] = []
    for event, blob in events:
        kind = event_kind(event)
        if kind in _TERMINAL:
            tier, attempt, rank, _, _ = order_key(event)
            term = f"{tier}|{attempt}|{rank}|{kind}"
        else:
            term = ""
        args += (event.event_id, event.hostname, term, repr(event.timestamp))
        blobs.append(blob)
    return [ENCODER.encode(args), *blobs]


def index_command(job_id: str, status: str, created: float) -> tuple[Any, ...]:
    """INDEX_STATUS as a raw EVALSHA, for :func:`~controller.store.redis.execute`."""
    where = (JOB_STATUSES.index(status) + 1, STATUS_RANK[status], created)
    return ("EVALSHA", SHAS["index"], len(INDEX_KEYS), *INDEX_KEYS, job_id, *where)


def snapshot_command(job_id: str, *, final_only: bool = False) -> tuple[Any, ...]:
    """DETAIL_SNAPSHOT as a raw EVALSHA; its reply is ``[meta, status, updated, blobs]``
    (``[]`` if ``final_only`` and the job is not final)."""
    mode = "final" if final_only else "any"
    return ("EVALSHA", SHAS["snapshot"], 2, job_key(job_id), events_key(job_id), mode)

"""Lua scripts the store runs atomically in Redis. No I/O here: just their text.

Each script touches only keys that share one hash tag, so the same scripts
run on Redis Cluster: the job scripts touch ``corral:{<id>}:*``, the index
script touches ``corral:{index}:*``.
"""

from __future__ import annotations

# KEYS: job hash, events hash, terminal-agents hash, expected-agents hash.
# ARGV: repeated (event_id, encoded event, terminal hostname or "", timestamp).
# Stores each event once (HSETNX: the first copy wins, for the job's whole
# life), counts each agent's first terminal event once (only agents the job
# expects, when it has an expected set: a stranger cannot finish a job),
# moves the job from submitted to processing, keeps updated = max(timestamp).
# Returns {status, done, expected_n, new_events} or {"unknown"}.
APPLY_EVENTS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unknown', 0, 0, 0} end
local new = 0
local newest = 0
local anyone = redis.call('EXISTS', KEYS[4]) == 0
for i = 1, #ARGV, 4 do
  if redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1]) == 1 then
    new = new + 1
    local host = ARGV[i + 2]
    if host ~= '' and (anyone or redis.call('HEXISTS', KEYS[4], host) == 1)
       and redis.call('HSETNX', KEYS[3], host, ARGV[i]) == 1 then
      redis.call('HINCRBY', KEYS[1], 'done', 1)
    end
    local ts = tonumber(ARGV[i + 3])
    if ts > newest then newest = ts end
  end
end
local job = redis.call('HMGET', KEYS[1], 'status', 'done', 'expected_n', 'updated', 'expire_at')
local status = job[1]
if new > 0 then
  if status == 'submitted' then
    status = 'processing'
    redis.call('HSET', KEYS[1], 'status', status)
  end
  if newest > tonumber(job[4] or '0') then redis.call('HSET', KEYS[1], 'updated', newest) end
  redis.call('EXPIREAT', KEYS[2], job[5])
  redis.call('EXPIREAT', KEYS[3], job[5])
end
return {status, tonumber(job[2] or '0'), tonumber(job[3] or '0'), new}
"""

# KEYS: job hash. ARGV: new status, its rank, rank table as "status=rank,...".
# Moves the status forward only; returns the status the job ends with.
SET_FINAL_STATUS = """
local ranks = {}
for pair in string.gmatch(ARGV[3], '([^,]+)') do
  local name, rank = string.match(pair, '([^=]+)=(%d+)')
  ranks[name] = tonumber(rank)
end
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return false end
if (ranks[current] or 0) < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'status', ARGV[1])
  return ARGV[1]
end
return current
"""

# KEYS: rank hash, then one sorted set per status (in STATUS order), then the
# open-jobs (deadline) set. ARGV: job id, status index (1-based into the
# status sets), rank, created score (0: keep the score it is filed under).
# Re-files a job under its status, forward only, so two controllers racing
# on one job cannot move it backwards in the listing.
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

# KEYS: job hash, events hash, terminal-agents hash.
# ARGV: final statuses as "a,b,c", the request time, then repeated
# (event_id, encoded Cancelled event, terminal hostname or "").
# Cancels a job unless it is already final, atomically with respect to the
# collector's finalize: stores the cancel events (first copy wins), counts
# each agent's first terminal once, sets the status to cancelled.
# Returns "cancelled", "final:<status>" if it already had a final status, or "unknown".
CANCEL_JOB = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'unknown' end
local status = redis.call('HGET', KEYS[1], 'status')
for final in string.gmatch(ARGV[1], '([^,]+)') do
  if status == final then return 'final:' .. status end
end
for i = 3, #ARGV, 3 do
  if redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1]) == 1 and ARGV[i + 2] ~= ''
     and redis.call('HSETNX', KEYS[3], ARGV[i + 2], ARGV[i]) == 1 then
    redis.call('HINCRBY', KEYS[1], 'done', 1)
  end
end
redis.call('HSET', KEYS[1], 'status', 'cancelled', 'updated', ARGV[2])
local expire_at = redis.call('HGET', KEYS[1], 'expire_at')
if expire_at then
  redis.call('EXPIREAT', KEYS[2], expire_at)
  redis.call('EXPIREAT', KEYS[3], expire_at)
end
return 'cancelled'
"""

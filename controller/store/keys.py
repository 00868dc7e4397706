"""Redis keys of job records and their indexes. Pure: names only.

Key schema (every key of one job shares the hash tag ``{<id>}``, so the job
scripts run unchanged on Redis Cluster)::

    corral:{<id>}:job       hash   meta (msgpack JobMeta, secrets redacted), status,
                                   done, expected_n, updated, expire_at,
                                   dispatched (0 until the publish is acked),
                                   seq (CORRAL_JOBS stream sequence), sealed
                                   (the real operation, AES-GCM, if redacted)
    corral:{<id>}:events    hash   event_id -> msgpack Event; first copy wins
    corral:{<id>}:terminal  hash   hostname -> head of its terminal events, as
                                   "tier|attempt|rank|timestamp|kind|event_id" (the
                                   fold's order key): one field per agent that is done
    corral:{<id>}:expected  hash   hostname -> 1 for each agent a host/label/_all job
                                   expects (absent for _any): only they count as done
                                   (the job hash also keeps ``owner``: an _any job's first agent)
    corral:{<id>}:order     list   event ids in the order they were stored: a watcher's
                                   position in the job (SSE event ids, resumable)
    corral:{<id>}:rollout   hash   a rolling rollout's claims and progress
                                   (controller/store/rollouts.py)
    corral:{index}:all      zset   job id scored by creation time (listing)
    corral:{index}:status:<s> zset job id scored by creation time, per status
    corral:{index}:rank     hash   job id -> status rank (forward-only index)
    corral:{index}:open     zset   unfinished job id scored by its deadline
    corral:{index}:undispatched zset job id scored by creation, until its publish is acked
    corral:{index}:cancelling zset cancelled job id scored by request time, until
                                   agents were told (controller/store/control.py)
    corral:{index}:rollouts zset   unfinished rollout's job id scored by when it
                                   next needs a look (controller/jobs/rollout.py)
    corral:agents           hash   hostname -> msgpack AgentRecord (controller/store/agents.py)
    corral:drained          hash   hostname -> when it was drained (controller/store/agents.py)
    corral:audit            stream one entry per mutating API call or refused key,
                                   trimmed to about audit_max_entries (controller/store/audit.py)
    corral:idem:{<digest>}  string an Idempotency-Key's claim (controller/api/idempotency.py)
    corral:console:session:<digest>  string  a console session (controller/console/sessions.py)

On Redis Cluster no command or script crosses slots: each script's keys share
one tag, and the keys without a tag are only ever used one per command
(docs/architecture.md, "Redis layout on a cluster").
"""

from __future__ import annotations

from common.job import JOB_STATUSES

INDEX_ALL = "corral:{index}:all"
INDEX_RANK = "corral:{index}:rank"
INDEX_OPEN = "corral:{index}:open"
INDEX_UNDISPATCHED = "corral:{index}:undispatched"
INDEX_CANCELLING = "corral:{index}:cancelling"
INDEX_ROLLOUTS = "corral:{index}:rollouts"
AUDIT = "corral:audit"


def job_key(job_id: str) -> str:
    return f"corral:{{{job_id}}}:job"


def events_key(job_id: str) -> str:
    return f"corral:{{{job_id}}}:events"


def terminal_key(job_id: str) -> str:
    return f"corral:{{{job_id}}}:terminal"


def expected_key(job_id: str) -> str:
    return f"corral:{{{job_id}}}:expected"


def order_key(job_id: str) -> str:
    return f"corral:{{{job_id}}}:order"


def rollout_key(job_id: str) -> str:
    return f"corral:{{{job_id}}}:rollout"


def status_key(status: str) -> str:
    return f"corral:{{index}}:status:{status}"


INDEX_KEYS = [INDEX_RANK, *(status_key(s) for s in JOB_STATUSES), INDEX_OPEN]

"""Size and depth limits the controller and the agents must agree on. Constants only.

NATS refuses a message over the server's ``max_payload`` (1 MiB in
deploy/nats and by default), headers included, so:

- a job is refused at submit (413) when its signed message would not fit,
  rather than accepted and then never published (controller/api/bodies.py);
- an agent event is capped well below that: the collector drops anything
  larger as ``oversized`` (controller/collect/collector.py), and an agent whose
  terminal event would be larger sends a ``failed`` "result too large"
  instead (agent/events.py), so a job never ends ``timeout`` for it.
"""

from __future__ import annotations

# deploy/nats/*.conf ``max_payload: 1MB``, also nats-server's default.
NATS_MAX_PAYLOAD = 1024 * 1024
# Headers count toward max_payload: the NATS/1.0 line and Nats-Msg-Id.
HEADERS_ROOM = 1024
# A signed job message (controller -> agents).
MAX_JOB_BYTES = NATS_MAX_PAYLOAD - HEADERS_ROOM
# Around the encoded operation in a signed job: job id, target (counted
# apart), three timestamps, field names, the signature and the key id.
# tests/common/test_size_limits.py checks it against real encodings.
JOB_ENVELOPE_BYTES = 512
# One agent event (agents -> controller).
MAX_EVENT_BYTES = 512 * 1024

# Levels of arrays and objects a JSON request body may nest, the body's own
# object counted: past it every route that reads a body answers 400
# (controller/api/bodies.py), and redaction copies no deeper (common/redaction.py),
# so no decoder, walk or encoder recurses without bound.
MAX_NESTING = 64

"""Several hotline nodes as one: call state, the node registry and recognition work in Redis.

Nothing here is used unless ``HOTLINE_REDIS_URL`` is set; one process with everything embedded stays the
default. Durable records stay in PostgreSQL (the call store); Redis holds only what lives as long as a
call: engine state of webhook calls, which nodes are up and how loaded, and questions waiting for a
recognition worker.
"""

"""Central's HTTP surface: the operator API, the console, the partner API, public tracking and
/metrics, in one ASGI app (FastAPI) that `lockernet central run` serves in a thread when
`[api] listen` is set, or `lockernet central api` serves beside central."""

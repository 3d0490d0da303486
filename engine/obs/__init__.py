"""Observability: structured logs (``engine.obs.logs``), Prometheus metrics
(``engine.obs.metrics``, ``engine.obs.exporter``) and the exchange client's instrumentation
(``engine.obs.exchange``). Nothing here imports Ray; the actor shells and the command line
wire it up."""

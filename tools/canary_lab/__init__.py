"""The canary lab (issue 5): proves the Rollout's canary gate with real parts.

A real PostgreSQL and a local issuer; real `penvoice serve` processes on loopback, labelled as
the stable and canary pods of the Rollout; Debian's real Prometheus scraping them with the
ServiceMonitor's labels; user-like traffic through a Service-like router; the Rollout's steps
and the AnalysisTemplates read from `deploy/gitops/` as committed; Argo Rollouts' analysis
semantics in a small evaluator. Time is compressed (15× by default, `--real-time` for none).

    manifests.py   what is read from the gitops slice       expr.py      condition grammar
    analysis.py    AnalysisRun semantics                     rollout.py   the canary controller
    pods.py        pods, kubelet probes, the Service         traffic.py   user traffic
    prometheus.py  the Prometheus process and its API        clock.py     time compression
    launch.py      pre-warmed pod processes                  fault.py     the bad release
    lab.py         one scenario end to end                   report.py    JSON, Markdown, PNG
    scenarios.py   what is run                               __main__.py  `make canary-lab`

See docs/canary-lab.md.
"""

"""The evaluation harness behind `orca eval`.

`dataset` loads a versioned dataset, `runner` runs a workflow over it through the server's
own app and registry, `scorers` holds the pure scoring functions, `report` turns a run into
`report.json` and `summary.md`, `compare` flags regressions against an earlier report, and
`prom` writes the scores as a Prometheus textfile.
"""

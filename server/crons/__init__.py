"""Crons: recurring runs of the threads-and-runs API, fired once each across processes.

`schedule.py` says when (no I/O), `records.py` what a store keeps, `pg_store.py` and
`sqlite_store.py` keep it, `service.py` holds the rules, `scheduler.py` fires, and
`setup.py` opens them for the lifespan. Routes: `server/routes/crons.py`.
"""

"""Many tenants at once: Celery workers on Redis, state in PostgreSQL.

``abmsync schedule`` starts each tenant's run when it is due and enqueues its
work; ``abmsync worker`` runs it. One run of one tenant is::

    schedule: take the tenant's run lock (token), record the run ─▶ enqueue
    chord( read_partition(tenant, token, connector/object) for every source )
        ─▶ run_pass(tenant, token, partitions): once every partition is
           marked read, score, plan, write, finish, release

Delivery is at least once, and everything is built to be run twice:

- tasks are acknowledged late (after they finish) and rejected back to the
  queue when their worker process dies, and Redis hands an unacknowledged
  task to another worker after the visibility timeout, which is longer than
  the longest task (:mod:`abmsync.workers.config`);
- a read commits its cursor in PostgreSQL only after the batch it covers, so
  a read run again starts where the last committed batch ended; a read that
  reaches the end marks its partition read, with its counts and API calls,
  in the transaction of its last cursor, so a read delivered again after
  that does nothing and counts once (:mod:`abmsync.workers.partitions`);
- the pass waits (comes back later) until every partition of its run is
  marked read, so a chord fired early by a duplicate read cannot start it
  early; it holds an advisory lock per run, so two deliveries of it never
  run side by side; it plans writes against what was confirmed written, so
  a pass run again sends only what is missing (upserts by key make a resend
  harmless), and a pass of a finished run does nothing;
- each worker process keeps its tenants (files, store, rules, mappings)
  between tasks and reloads what changed on disk (:mod:`abmsync.workers.cache`);
- a tenant's run holds its run lock (the state database's lock row, the one
  ``abmsync sync`` takes) under the run's token; each task renews it while it
  works (:class:`abmsync.workers.runs.Heartbeat`) and does nothing unless its
  token still holds it, so a task of a run given up for dead never runs beside
  a newer run;
- if a run's tasks are lost with Redis, its lock expires, and the scheduler
  starts the tenant's next run from the cursors in PostgreSQL, marking the lost
  run failed;
- only one scheduler schedules at a time: it holds a PostgreSQL advisory lock
  for as long as its database session lives (:mod:`abmsync.workers.scheduler`);
  a scheduler taking the lead queues again each tenant's run that no task has
  taken up yet, since the leader before it may have died between recording a
  run and queueing it (the copies of tasks that were queued do nothing).
"""

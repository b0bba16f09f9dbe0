DROP TABLE IF EXISTS recurring_runs;
DROP TABLE IF EXISTS recurring_schedules;

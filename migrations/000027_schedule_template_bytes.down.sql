ALTER TABLE recurring_schedules DROP COLUMN template_bytes;

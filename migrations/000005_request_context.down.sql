DROP FUNCTION IF EXISTS penvoice_json_decimal(numeric);
DROP FUNCTION IF EXISTS penvoice_json_time(timestamptz);
DROP FUNCTION IF EXISTS penvoice_enter(text, text, uuid);

-- +goose Up
-- Each person is paged on the channels a tier names: a signed webhook (their
-- own, or the organisation's default), email (users.email) and a
-- Slack-compatible incoming webhook. Empty means "none on file".
ALTER TABLE users
    ADD COLUMN webhook_url text NOT NULL DEFAULT '',
    ADD COLUMN slack_webhook_url text NOT NULL DEFAULT '';

-- Deliveries are timeline steps about one person on one channel.
ALTER TABLE escalation_timeline
    ADD COLUMN tier integer,
    ADD COLUMN recipient text,
    ADD COLUMN channel text,
    ADD COLUMN attempt integer;

-- +goose Down
SELECT 'forward-only migrations';

-- +goose Up
-- Repeats and acknowledgement time-outs are part of a policy; an
-- acknowledgement carries a disposition.
ALTER TABLE escalation_policies
    ADD COLUMN repeat_count integer NOT NULL DEFAULT 0 CHECK (repeat_count BETWEEN 0 AND 10),
    ADD COLUMN repeat_from_tier integer NOT NULL DEFAULT 1 CHECK (repeat_from_tier >= 1),
    ADD COLUMN ack_timeout_seconds integer NOT NULL DEFAULT 0 CHECK (ack_timeout_seconds >= 0);

ALTER TABLE escalations
    ADD COLUMN disposition text;

-- +goose Down
SELECT 'forward-only migrations';

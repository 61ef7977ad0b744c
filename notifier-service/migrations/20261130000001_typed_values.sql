-- Only the values the code knows may be stored: a row can never hold a
-- status, channel or kind that reads back as something else
-- (domain::Status, domain::Channel, domain::ReportKind).
ALTER TABLE notifications
    ADD CONSTRAINT notifications_status_known
        CHECK (status IN ('QUEUED', 'DEFERRED', 'SENT', 'DELIVERED', 'READ', 'FAILED', 'SKIPPED')),
    ADD CONSTRAINT notifications_channel_known
        CHECK (channel IN ('whatsapp', 'sms'));
ALTER TABLE inbound
    ADD CONSTRAINT inbound_kind_known
        CHECK (kind IN ('status', 'done', 'snooze', 'stop', 'start', 'text')),
    ADD CONSTRAINT inbound_provider_known
        CHECK (provider IN ('meta', 'twilio'));

-- Conversations: per channel and key (a quote), where the first message is (a Slack ts and
-- channel, or an email's Message-ID and subject), the steps seen, and the newest step's
-- SuperOffice Timestamp, so a late older step never overwrites a newer one.
CREATE TABLE conversations (
    channel       TEXT NOT NULL,
    key           TEXT NOT NULL,
    thread_id     TEXT,                 -- Slack ts, or Message-ID; NULL until posted
    place         TEXT,                 -- Slack channel ID
    subject       TEXT,                 -- email: the subject replies keep
    posted_at     BIGINT NOT NULL DEFAULT 0,
    posting_by    BIGINT,              -- the delivery posting the first message
    posting_until BIGINT NOT NULL DEFAULT 0,
    latest_at     BIGINT NOT NULL DEFAULT 0,
    steps         TEXT NOT NULL DEFAULT '[]',
    expires_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (channel, key)
);
CREATE INDEX conversations_expiry ON conversations (expires_at);

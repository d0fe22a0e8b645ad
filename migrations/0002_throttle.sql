-- Log-in, sign-up, guest-session and checkout attempt windows, shared by
-- every instance so limits hold across them.
CREATE TABLE throttle (
    subject    text COLLATE "C" NOT NULL,
    key        text COLLATE "C" NOT NULL,
    started_at timestamptz NOT NULL,
    failures   integer NOT NULL CHECK (failures >= 0),
    PRIMARY KEY (subject, key)
);
CREATE INDEX throttle_started_at ON throttle (started_at);

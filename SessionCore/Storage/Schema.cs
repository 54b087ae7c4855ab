namespace Executor.SessionCore.Storage;

/// <summary>
/// The schema as versioned migrations, applied in order at start and recorded in schema_migrations. Migrations are
/// only ever added, never changed. Each engine has its own text (types differ); the numbers are shared.
/// </summary>
public static class Schema
{
    public sealed record Migration(int Version, string Description, string Sqlite, string Postgres);

    public static IReadOnlyList<Migration> Migrations { get; } =
    [
        new(1, "sessions and their files",
            Sqlite: """
                CREATE TABLE IF NOT EXISTS sessions (
                    id          TEXT PRIMARY KEY,
                    status      TEXT NOT NULL,
                    created_at  TEXT NOT NULL,
                    started_at  TEXT,
                    finished_at TEXT,
                    entrypoint  TEXT NOT NULL,
                    options     TEXT,
                    result      TEXT
                );
                CREATE INDEX IF NOT EXISTS sessions_finished_at ON sessions (finished_at) WHERE finished_at IS NOT NULL;
                CREATE TABLE IF NOT EXISTS session_files (
                    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
                    path       TEXT NOT NULL,
                    content    BLOB NOT NULL,
                    PRIMARY KEY (session_id, path)
                );
                """,
            Postgres: """
                CREATE TABLE sessions (
                    id          text PRIMARY KEY,
                    status      text NOT NULL,
                    created_at  timestamptz NOT NULL,
                    started_at  timestamptz,
                    finished_at timestamptz,
                    entrypoint  text NOT NULL,
                    options     text,
                    result      text
                );
                CREATE INDEX sessions_finished_at ON sessions (finished_at) WHERE finished_at IS NOT NULL;
                CREATE TABLE session_files (
                    session_id text NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
                    path       text NOT NULL,
                    content    bytea NOT NULL,
                    PRIMARY KEY (session_id, path)
                );
                """),
        new(2, "runner hosts claim sessions; heartbeats, cancels and prewarm requests",
            Sqlite: """
                DROP INDEX IF EXISTS sessions_unfinished;
                ALTER TABLE sessions ADD COLUMN host TEXT;
                ALTER TABLE sessions ADD COLUMN host_instance TEXT;
                ALTER TABLE sessions ADD COLUMN claim_seq INTEGER;
                ALTER TABLE sessions ADD COLUMN cancel_requested_at TEXT;
                ALTER TABLE sessions ADD COLUMN trace_parent TEXT;
                CREATE INDEX sessions_queued ON sessions (created_at, id) WHERE status = 'queued';
                CREATE INDEX sessions_running ON sessions (host) WHERE status = 'running';
                CREATE TABLE hosts (
                    id                 TEXT PRIMARY KEY,
                    instance           TEXT NOT NULL,
                    state              TEXT NOT NULL,
                    first_seen         TEXT NOT NULL,
                    last_seen          TEXT NOT NULL,
                    claim_seq          INTEGER NOT NULL,
                    capacity           INTEGER NOT NULL,
                    running            INTEGER NOT NULL,
                    pool               TEXT,
                    engine_problem     TEXT,
                    prewarm_generation INTEGER NOT NULL
                );
                CREATE TABLE prewarm_requests (
                    id           INTEGER PRIMARY KEY,
                    generation   INTEGER NOT NULL,
                    count        INTEGER,
                    requested_at TEXT NOT NULL
                );
                """,
            Postgres: """
                ALTER TABLE sessions ADD COLUMN host text;
                ALTER TABLE sessions ADD COLUMN host_instance text;
                ALTER TABLE sessions ADD COLUMN claim_seq bigint;
                ALTER TABLE sessions ADD COLUMN cancel_requested_at timestamptz;
                ALTER TABLE sessions ADD COLUMN trace_parent text;
                CREATE INDEX sessions_queued ON sessions (created_at, id) WHERE status = 'queued';
                CREATE INDEX sessions_running ON sessions (host) WHERE status = 'running';
                CREATE TABLE hosts (
                    id                 text PRIMARY KEY,
                    instance           text NOT NULL,
                    state              text NOT NULL,
                    first_seen         timestamptz NOT NULL,
                    last_seen          timestamptz NOT NULL,
                    claim_seq          bigint NOT NULL,
                    capacity           integer NOT NULL,
                    running            integer NOT NULL,
                    pool               text,
                    engine_problem     text,
                    prewarm_generation bigint NOT NULL
                );
                CREATE TABLE prewarm_requests (
                    id           integer PRIMARY KEY,
                    generation   bigint NOT NULL,
                    count        integer,
                    requested_at timestamptz NOT NULL
                );
                """),
        new(3, "claim numbers from a sequence (PostgreSQL: a claim is one statement)",
            Sqlite: "SELECT 1;",
            Postgres: "CREATE SEQUENCE claim_numbers;"),
        new(4, "API keys; sessions belong to the key that made them",
            Sqlite: """
                CREATE TABLE api_keys (
                    id                  TEXT PRIMARY KEY,
                    name                TEXT NOT NULL,
                    role                TEXT NOT NULL,
                    secret_hash         TEXT NOT NULL,
                    created_at          TEXT NOT NULL,
                    revoked_at          TEXT,
                    quotas              TEXT NOT NULL
                );
                ALTER TABLE sessions ADD COLUMN owner TEXT;
                ALTER TABLE sessions ADD COLUMN max_running INTEGER;
                CREATE INDEX sessions_owner_unfinished ON sessions (owner, status) WHERE status IN ('queued', 'running');
                """,
            Postgres: """
                CREATE TABLE api_keys (
                    id                  text PRIMARY KEY,
                    name                text NOT NULL,
                    role                text NOT NULL,
                    secret_hash         text NOT NULL,
                    created_at          timestamptz NOT NULL,
                    revoked_at          timestamptz,
                    quotas              text NOT NULL
                );
                ALTER TABLE sessions ADD COLUMN owner text;
                ALTER TABLE sessions ADD COLUMN max_running integer;
                CREATE INDEX sessions_owner_unfinished ON sessions (owner, status) WHERE status IN ('queued', 'running');
                """),
        new(5, "runs' output as it happens",
            Sqlite: """
                CREATE TABLE session_output (
                    session_id TEXT NOT NULL,
                    "offset"   INTEGER NOT NULL,
                    stdout     INTEGER NOT NULL,
                    data       BLOB NOT NULL,
                    PRIMARY KEY (session_id, "offset")
                );
                """,
            Postgres: """
                CREATE TABLE session_output (
                    session_id text NOT NULL,
                    "offset"   bigint NOT NULL,
                    stdout     boolean NOT NULL,
                    data       bytea NOT NULL,
                    PRIMARY KEY (session_id, "offset")
                );
                """),
        new(6, "files runs hand back, interactive input, callbacks (an outbox)",
            Sqlite: """
                CREATE TABLE result_files (
                    session_id TEXT NOT NULL,
                    path       TEXT NOT NULL,
                    content    BLOB NOT NULL,
                    PRIMARY KEY (session_id, path)
                );
                CREATE TABLE session_stdin (
                    session_id TEXT NOT NULL,
                    "offset"   INTEGER NOT NULL,
                    data       BLOB NOT NULL,
                    PRIMARY KEY (session_id, "offset")
                );
                ALTER TABLE sessions ADD COLUMN stdin_attached_at TEXT;
                ALTER TABLE sessions ADD COLUMN stdin_closed_at TEXT;
                CREATE TABLE callbacks (
                    session_id      TEXT PRIMARY KEY,
                    url             TEXT NOT NULL,
                    state           TEXT NOT NULL,
                    attempts        INTEGER NOT NULL,
                    next_attempt_at TEXT NOT NULL,
                    lease_until     TEXT,
                    last_error      TEXT,
                    delivered_at    TEXT
                );
                CREATE INDEX callbacks_pending ON callbacks (next_attempt_at) WHERE state = 'pending';
                """,
            Postgres: """
                CREATE TABLE result_files (
                    session_id text NOT NULL,
                    path       text NOT NULL,
                    content    bytea NOT NULL,
                    PRIMARY KEY (session_id, path)
                );
                CREATE TABLE session_stdin (
                    session_id text NOT NULL,
                    "offset"   bigint NOT NULL,
                    data       bytea NOT NULL,
                    PRIMARY KEY (session_id, "offset")
                );
                ALTER TABLE sessions ADD COLUMN stdin_attached_at timestamptz;
                ALTER TABLE sessions ADD COLUMN stdin_closed_at timestamptz;
                CREATE TABLE callbacks (
                    session_id      text PRIMARY KEY,
                    url             text NOT NULL,
                    state           text NOT NULL,
                    attempts        integer NOT NULL,
                    next_attempt_at timestamptz NOT NULL,
                    lease_until     timestamptz,
                    last_error      text,
                    delivered_at    timestamptz
                );
                CREATE INDEX callbacks_pending ON callbacks (next_attempt_at) WHERE state = 'pending';
                """),
        new(7, "the runtimes each runner host offers (GET /runtimes)",
            Sqlite: """
                ALTER TABLE hosts ADD COLUMN runtimes TEXT;
                """,
            Postgres: """
                ALTER TABLE hosts ADD COLUMN runtimes text;
                """),
        new(8, "a session's runtime, so that a host claims only what it can run",
            Sqlite: """
                ALTER TABLE sessions ADD COLUMN runtime TEXT;
                """,
            Postgres: """
                ALTER TABLE sessions ADD COLUMN runtime text;
                """),
        new(9, "callbacks know their receiver (deliveries grouped by it); an owner's sessions found by owner (storage quota)",
            Sqlite: """
                ALTER TABLE callbacks ADD COLUMN destination TEXT;
                CREATE INDEX sessions_owner ON sessions (owner);
                """,
            Postgres: """
                ALTER TABLE callbacks ADD COLUMN destination text;
                CREATE INDEX sessions_owner ON sessions (owner);
                """),
        // Sessions stored before surfaces had data of their own: what one surface kept among the core's options
        // (language_id, expected_output, redirect_stderr_to_stdout) moves to that surface's data (RunOptions.Surface, SurfaceData).
        new(10, "a surface's own fields leave the core's options for the surface's data",
            Sqlite: """
                UPDATE sessions SET options = json_set(
                    json_remove(options, '$.language_id', '$.expected_output', '$.redirect_stderr_to_stdout'),
                    '$.surface', 'judge0',
                    '$.surface_data', json_object(
                        'language_id', json_extract(options, '$.language_id'),
                        'expected_output', json_extract(options, '$.expected_output'),
                        'redirect_stderr_to_stdout', json(CASE WHEN json_extract(options, '$.redirect_stderr_to_stdout') THEN 'true' ELSE 'false' END)))
                WHERE json_valid(options) AND json_type(options, '$.language_id') = 'integer';
                """,
            Postgres: """
                UPDATE sessions SET options = ((options::jsonb - 'language_id' - 'expected_output' - 'redirect_stderr_to_stdout')
                    || jsonb_build_object('surface', 'judge0', 'surface_data', jsonb_build_object(
                        'language_id', options::jsonb -> 'language_id',
                        'expected_output', options::jsonb -> 'expected_output',
                        'redirect_stderr_to_stdout', COALESCE(options::jsonb -> 'redirect_stderr_to_stdout', 'false'::jsonb))))::text
                WHERE options LIKE '%"language_id":%' AND jsonb_typeof(options::jsonb -> 'language_id') = 'number';
                """),
        // A stateful sandbox lives on the host that created it; its commands are sessions (their options say which
        // sandbox), claimed only by that host (pin_host) through the sandbox lane, never by the run lane.
        new(11, "stateful sandboxes, and the sessions that are their commands",
            Sqlite: """
                CREATE TABLE sandboxes (
                    id                   TEXT PRIMARY KEY,
                    owner                TEXT,
                    runtime              TEXT,
                    state                TEXT NOT NULL,
                    host                 TEXT,
                    host_instance        TEXT,
                    container_id         TEXT,
                    created_at           TEXT NOT NULL,
                    last_activity_at     TEXT NOT NULL,
                    expires_at           TEXT NOT NULL,
                    idle_timeout_seconds INTEGER NOT NULL,
                    lifetime_seconds     INTEGER NOT NULL,
                    memory_mb            INTEGER,
                    executions           INTEGER NOT NULL DEFAULT 0,
                    ended_at             TEXT,
                    ended_reason         TEXT
                );
                CREATE INDEX sandboxes_owner ON sandboxes (owner, state);
                CREATE INDEX sandboxes_host ON sandboxes (host, state);
                ALTER TABLE sessions ADD COLUMN sandbox_id TEXT;
                ALTER TABLE sessions ADD COLUMN pin_host TEXT;
                CREATE INDEX sessions_sandbox ON sessions (sandbox_id, status);
                """,
            Postgres: """
                CREATE TABLE sandboxes (
                    id                   text PRIMARY KEY,
                    owner                text,
                    runtime              text,
                    state                text NOT NULL,
                    host                 text,
                    host_instance        text,
                    container_id         text,
                    created_at           timestamptz NOT NULL,
                    last_activity_at     timestamptz NOT NULL,
                    expires_at           timestamptz NOT NULL,
                    idle_timeout_seconds integer NOT NULL,
                    lifetime_seconds     integer NOT NULL,
                    memory_mb            integer,
                    executions           integer NOT NULL DEFAULT 0,
                    ended_at             timestamptz,
                    ended_reason         text
                );
                CREATE INDEX sandboxes_owner ON sandboxes (owner, state);
                CREATE INDEX sandboxes_host ON sandboxes (host, state);
                ALTER TABLE sessions ADD COLUMN sandbox_id text;
                ALTER TABLE sessions ADD COLUMN pin_host text;
                CREATE INDEX sessions_sandbox ON sessions (sandbox_id, status);
                """),
        // The E2B and Jupyter surfaces keep what their clients expect a sandbox to remember (E2B's metadata and code
        // contexts, Jupyter's sessions) and E2B's data plane authenticates with a sandbox's own token (its hash only).
        new(12, "a sandbox's surface attributes and access token hash",
            Sqlite: """
                ALTER TABLE sandboxes ADD COLUMN attributes TEXT;
                ALTER TABLE sandboxes ADD COLUMN access_token TEXT;
                """,
            Postgres: """
                ALTER TABLE sandboxes ADD COLUMN attributes text;
                ALTER TABLE sandboxes ADD COLUMN access_token text;
                """),
    ];
}

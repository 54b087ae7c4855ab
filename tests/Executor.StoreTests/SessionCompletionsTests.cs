using Executor.Contracts;
using Executor.SessionCore.Dispatch;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Storage;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Executor.StoreTests;

/// <summary>
/// The wait of a submission (POST /execute?wait=true) over a real store: a session listened to before it is queued is
/// woken by its end here or on another replica, without a first look at the store and without waiting for the next one.
/// </summary>
public sealed class SessionCompletionsTests : IAsyncLifetime
{
    private const string Host = "host-a";
    private const string Instance = "runner-1-aaaa";

    private readonly string _directory = Path.Combine(Path.GetTempPath(), "executor-completions-" + Guid.NewGuid().ToString("N"));
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 4, 3, 0, 0, TimeSpan.Zero));
    private readonly OtherReplica _otherReplica = new();
    private SqlStore _store = null!;
    private SessionCompletions _completions = null!;
    private SessionSignals _signals = null!;

    public async Task InitializeAsync()
    {
        _store = new SqliteStore(Options.Create(new SessionServiceOptions { DatabasePath = Path.Combine(_directory, "sessions.db") }),
            new SqliteStoreTests.Environment(_directory), _time);
        await _store.InitializeAsync(CancellationToken.None);
        _signals = new SessionSignals(_otherReplica);
        _completions = new SessionCompletions(_store, _signals, _time);
        await _store.BeatAsync(Host, new Heartbeat(Instance, [], 4, null, null, 0), CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        if (_store is IAsyncDisposable disposable)
        {
            await disposable.DisposeAsync();
        }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task A_session_ended_on_another_replica_before_its_wait_began_wakes_the_wait_at_once()
    {
        var id = SessionIds.New();
        var listening = _completions.ListenBeforeQueued(id);
        await QueueAsync(id);
        await EndAsync(id);
        _otherReplica.Says("done:" + id); // the other replica stored the result and said so, before this wait began

        // The fake clock never moves: a wait that needed its next look at the store would never end.
        var ended = await _completions.WaitAsync(id, listening, TimeSpan.FromSeconds(30), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(SessionStatus.Completed, ended!.Status);
    }

    [Fact]
    public async Task A_session_ended_here_hands_its_stored_record_to_the_wait()
    {
        var (id, waiting) = await SubmitAndWaitAsync();
        var stored = await EndAsync(id);

        _completions.Completed(id, stored);

        Assert.Same(stored, await waiting.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task A_wait_whose_signal_was_lost_learns_of_the_end_from_the_replica_s_store_watch()
    {
        var (id, waiting) = await SubmitAndWaitAsync();
        await EndAsync(id);
        using var watch = new StoreWatch(_store, _store, _signals, _time, Microsoft.Extensions.Logging.Abstractions.NullLogger<StoreWatch>.Instance);
        await watch.StartAsync(CancellationToken.None);

        while (!waiting.IsCompleted) // the signal was lost: the watch's next look finds the end
        {
            _time.Advance(StoreWatch.Interval);
            await Task.WhenAny(waiting, Task.Delay(50));
        }

        Assert.Equal(SessionStatus.Completed, (await waiting)!.Status);
        await watch.StopAsync(CancellationToken.None);
    }

    private async Task QueueAsync(string id) =>
        Assert.Equal(SessionAdmission.Created, await _store.CreateAsync(
            new NewSession(id, "main.py", [new SessionFile("main.py", "print(1)\n"u8.ToArray())], RunOptions.None, null), 10, CancellationToken.None));

    /// <summary>A session submitted as POST /execute?wait=true submits it: listened to, queued, waited for.</summary>
    private async Task<(string Id, Task<SessionRecord?> Waiting)> SubmitAndWaitAsync()
    {
        var id = SessionIds.New();
        var listening = _completions.ListenBeforeQueued(id);
        await QueueAsync(id);
        return (id, _completions.WaitAsync(id, listening, TimeSpan.FromSeconds(30), CancellationToken.None));
    }

    /// <summary>A host claims the session and its result is stored (no signal: the test gives it, or not).</summary>
    private async Task<SessionRecord?> EndAsync(string id)
    {
        await _store.ClaimAsync(Host, Instance, 1, CancellationToken.None);
        return await _store.CompleteAsync(id, new RunResult { Status = RunStatus.Completed, Logs = "1\n" }, Host, CancellationToken.None);
    }

    /// <summary>The relay as another replica's signals reach this one.</summary>
    private sealed class OtherReplica : ISignalRelay
    {
        private Action<string> _receive = _ => { };

        public void Says(string signal) => _receive(signal);

        public void Publish(string signal)
        {
        }

        public void Subscribe(Action<string> receive) => _receive = receive;
    }
}

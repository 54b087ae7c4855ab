using Executor.Session.Dispatch;
using Executor.Session.Sessions;
using Executor.Session.Storage;
using Executor.Session.Telemetry;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Executor.UnitTests;

/// <summary>Retention and the stuck-session watchdog, on a real SQLite file and a fake clock.</summary>
public sealed class SessionMaintenanceTests : IAsyncLifetime, IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "executor-unit-" + Guid.NewGuid().ToString("N"));
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
    private SessionStore _store = null!;
    private SessionMaintenance _maintenance = null!;
    private SessionServiceOptions _options = null!;

    public async Task InitializeAsync()
    {
        _options = new SessionServiceOptions { DatabasePath = Path.Combine(_directory, "s.db"), RetentionHours = 24, StuckAfterSeconds = 180 };
        var options = Options.Create(_options);
        _store = new SessionStore(options, new Env(_directory), _time);
        await _store.InitializeAsync(CancellationToken.None);
        var completions = new SessionCompletions(_store, _time);
        var dispatcher = new Dispatcher(new RunQueue(options), _store, new RunnerClient(new HttpClient()), completions,
            new EngineStatus(null!, options, _time, NullLogger<EngineStatus>.Instance), new SessionTelemetry(new MeterFactory()), _time, options,
            NullLogger<Dispatcher>.Instance);
        _maintenance = new SessionMaintenance(_store, dispatcher, completions, options, _time, new MeterFactory(), NullLogger<SessionMaintenance>.Instance);
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    public void Dispose() => _maintenance.Dispose();

    [Fact]
    public async Task Sessions_past_their_retention_are_purged_with_their_files()
    {
        await CreateAsync("old");
        await _store.CompleteAsync("old", new RunResult { Status = SessionStatus.Completed }, CancellationToken.None);
        _time.Advance(TimeSpan.FromHours(23));
        await CreateAsync("recent");
        await _store.CompleteAsync("recent", new RunResult { Status = SessionStatus.Completed }, CancellationToken.None);

        _time.Advance(TimeSpan.FromHours(2));
        await _maintenance.RunOnceAsync(CancellationToken.None);

        Assert.Null(await _store.FindAsync("old", CancellationToken.None));
        Assert.Null(await _store.LoadRunAsync("old", CancellationToken.None));
        Assert.NotNull(await _store.FindAsync("recent", CancellationToken.None));
    }

    [Fact]
    public async Task A_session_running_far_too_long_with_no_runner_call_ends_as_internal_error()
    {
        await CreateAsync("stuck");
        await _store.MarkRunningAsync("stuck", CancellationToken.None);
        await CreateAsync("waiting");

        _time.Advance(TimeSpan.FromSeconds(_options.StuckAfterSeconds - 1));
        await _maintenance.RunOnceAsync(CancellationToken.None);
        Assert.Equal(SessionStatus.Running, (await _store.FindAsync("stuck", CancellationToken.None))!.Status);

        _time.Advance(TimeSpan.FromSeconds(2));
        await _maintenance.RunOnceAsync(CancellationToken.None);

        var ended = await _store.FindAsync("stuck", CancellationToken.None);
        Assert.Equal(SessionStatus.InternalError, ended!.Status);
        Assert.Contains("went silent", ended.Result!.Detail, StringComparison.Ordinal);
        Assert.Equal(SessionStatus.Queued, (await _store.FindAsync("waiting", CancellationToken.None))!.Status);
    }

    private Task CreateAsync(string id) =>
        _store.CreateAsync(id, "main.py", [new SessionFile("main.py", "print(1)"u8.ToArray())], RunOptions.None, CancellationToken.None);

    private sealed class Env(string root) : IHostEnvironment
    {
        public string EnvironmentName { get; set; } = "Test";
        public string ApplicationName { get; set; } = "tests";
        public string ContentRootPath { get; set; } = root;
        public Microsoft.Extensions.FileProviders.IFileProvider ContentRootFileProvider { get; set; } = null!;
    }

    private sealed class MeterFactory : System.Diagnostics.Metrics.IMeterFactory
    {
        public System.Diagnostics.Metrics.Meter Create(System.Diagnostics.Metrics.MeterOptions options) => new(options);

        public void Dispose()
        {
        }
    }
}

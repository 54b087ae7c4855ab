using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Executor.Contracts;
using Executor.Runner.Runs;
using Executor.Sandbox;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;

namespace Executor.Runner.Sandboxes;

/// <summary>
/// The stateful sandboxes this host holds, and the commands to them that it claimed (<see cref="SandboxClaimLoop"/>):
/// a create leases a warm container (or starts a cold one) and starts its kernel; calls and restarts wait their turn in
/// their sandbox; file operations go at once. Every command's result goes to SessionService through the reporter, like
/// a run's, and a command for a sandbox this host does not hold is answered <see cref="SandboxStatus.SandboxGone"/> at
/// once. A sandbox ends when SessionService says so (heartbeat), when it breaks, when its container ends, when the host's
/// backstop finds it idle or past its lifetime, or when the host stops; its container is removed at once, and the ends
/// the host decided itself are told to SessionService in the heartbeats of the next minute.
/// </summary>
public sealed partial class SandboxRegistry : BackgroundService
{
    /// <summary>How long the heartbeats keep telling SessionService of a sandbox this host ended itself.</summary>
    public static readonly TimeSpan EndedResent = TimeSpan.FromMinutes(1);

    /// <summary>
    /// The host's idle and lifetime ends come this long after SessionService's own (which knows the true last activity):
    /// a backstop for what the centre has forgotten, never a race with it.
    /// </summary>
    public static readonly TimeSpan BackstopSlack = TimeSpan.FromMinutes(1);

    private static readonly TimeSpan SweepInterval = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan FileTimeout = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<string, Held> _live = new();
    private readonly ConcurrentDictionary<string, string> _creating = new(); // sandbox id → its container id, once it has one
    private readonly ConcurrentDictionary<string, string> _endWhenCreated = new();
    private readonly ConcurrentDictionary<string, bool> _pending = new();
    private readonly ConcurrentDictionary<string, (SandboxEnd End, long At)> _ended = new();
    private readonly ConcurrentDictionary<Task, bool> _work = new();

    private readonly ContainerSource _containers;
    private readonly Egress.EgressProxy _egress;
    private readonly IContainerEngine _engine;
    private readonly ContainerJanitor _janitor;
    private readonly ResultReporter _reporter;
    private readonly SessionClient _session;
    private readonly IMemoryCache _finished;
    private readonly RuntimeCatalog _catalog;
    private readonly SandboxRuntime _isolation;
    private readonly SandboxOptions _sandbox;
    private readonly RunnerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly CancellationToken _stopping;
    private readonly Counter<long> _commands;

    public SandboxRegistry(
        ContainerSource containers,
        Egress.EgressProxy egress,
        IContainerEngine engine,
        ContainerJanitor janitor,
        ResultReporter reporter,
        SessionClient session,
        IMemoryCache finished,
        RuntimeCatalog catalog,
        SandboxRuntime isolation,
        IOptions<SandboxOptions> sandbox,
        IOptions<RunnerOptions> options,
        TimeProvider time,
        IMeterFactory meterFactory,
        ILoggerFactory loggers,
        IHostApplicationLifetime lifetime)
    {
        (_containers, _egress, _engine, _janitor, _reporter, _session, _finished, _catalog, _isolation) =
            (containers, egress, engine, janitor, reporter, session, finished, catalog, isolation);
        (_sandbox, _options, _time, _loggers, _stopping) = (sandbox.Value, options.Value, time, loggers, lifetime.ApplicationStopping);
        _logger = loggers.CreateLogger<SandboxRegistry>();
        var meter = meterFactory.Create(TelemetryNames.Runner);
        meter.CreateObservableGauge("executor.sandboxes.live", () => _live.Count, "{sandbox}", "Stateful sandboxes this runner host holds");
        _commands = meter.CreateCounter<long>("executor.sandbox.commands", "{command}",
            "Commands to stateful sandboxes this runner host carried out (calls among them), by kind and status");
    }

    private string Host => _sandbox.Host;

    /// <summary>Sandboxes held or being created: what <see cref="RunnerOptions.MaxSandboxes"/> bounds.</summary>
    public int Count => _live.Count + _creating.Count;

    /// <summary>The sandboxes this host holds (heartbeat: <see cref="Heartbeat.Sandboxes"/>).</summary>
    public IReadOnlyList<string> LiveIds => [.. _live.Keys];

    /// <summary>The sandboxes this host holds, for operators (GET /state).</summary>
    public IReadOnlyList<SandboxInfo> Live =>
        [.. _live.Values.Select(h => new SandboxInfo(h.Sandbox.SandboxId, h.Sandbox.ContainerId, h.Sandbox.StartedAt)).OrderBy(s => s.StartedAt)];

    /// <summary>Commands claimed here whose results are not the reporter's yet: SessionService must see them running.</summary>
    public IEnumerable<string> PendingCommands => _pending.Keys;

    /// <summary>The sandboxes this host ended itself lately, and why (heartbeat: <see cref="Heartbeat.SandboxesEnded"/>).</summary>
    public IReadOnlyList<SandboxEnd> RecentlyEnded => [.. _ended.Values.Select(e => e.End)];

    /// <summary>Whether the container is one of this host's sandboxes (live or being created): never an orphan.</summary>
    public bool Holds(string containerId) =>
        _live.Values.Any(h => h.Sandbox.ContainerId == containerId) || _creating.Values.Contains(containerId);

    /// <summary>Carries out a claimed command (in the background); a command claimed here before is ignored.</summary>
    public void Dispatch(RunJob job)
    {
        if (job.Sandbox is not { } command || _finished.TryGetValue(job.SessionId, out _) || !_pending.TryAdd(job.SessionId, true))
        {
            return;
        }
        // A create holds its place at once: the next claim must already count it against RunnerOptions.MaxSandboxes.
        var reserved = command.Kind == SandboxCommandKinds.Create && !_live.ContainsKey(command.SandboxId) && _creating.TryAdd(command.SandboxId, "");
        var work = CarryOutAsync(job, command, reserved);
        _work.TryAdd(work, true);
        _ = work.ContinueWith(t => _work.TryRemove(t, out _), TaskScheduler.Default);
    }

    /// <summary>Stops a command: answered cancelled if it still waits, interrupted if it runs.</summary>
    public void Cancel(string commandId)
    {
        foreach (var held in _live.Values)
        {
            if (held.Sandbox.Cancel(commandId))
            {
                return;
            }
        }
    }

    /// <summary>
    /// Ends a sandbox and removes its container; <paramref name="byHost"/> when this host decided it (SessionService then
    /// hears of it), false when SessionService asked.
    /// </summary>
    public void End(string sandboxId, string reason, bool byHost)
    {
        if (_live.TryGetValue(sandboxId, out var held))
        {
            held.ToldByCenter |= !byHost;
            held.Sandbox.End(reason);
        }
        else if (_creating.ContainsKey(sandboxId))
        {
            _endWhenCreated[sandboxId] = reason;
        }
    }

    /// <summary>Ends every sandbox (the host is stopping, or cut off from SessionService, which has ended them already).</summary>
    public void EndAll(string reason, bool byHost)
    {
        foreach (var id in _live.Keys.Concat(_creating.Keys))
        {
            End(id, reason, byHost);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(SweepInterval, _time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            Sweep();
        }
    }

    /// <summary>The host's backstop: idle and lifetime ends SessionService should have asked for; ends told long enough.</summary>
    internal void Sweep()
    {
        var now = _time.GetUtcNow();
        foreach (var held in _live.Values)
        {
            if (held.IdleTimeout is { } idle && held.Sandbox.Idle > idle + BackstopSlack)
            {
                held.Sandbox.End($"idle for more than {idle.TotalSeconds:0} s");
            }
            else if (held.Lifetime is { } lifetime && now - held.Sandbox.StartedAt > lifetime + BackstopSlack)
            {
                held.Sandbox.End($"its lifetime of {lifetime.TotalSeconds:0} s is over");
            }
        }
        foreach (var (id, ended) in _ended)
        {
            if (_time.GetElapsedTime(ended.At) > EndedResent)
            {
                _ended.TryRemove(id, out _);
            }
        }
    }

    /// <summary>Every sandbox ends and its container is removed before the janitor stops: a stop leaves nothing running.</summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        EndAll("the runner host stopped", byHost: true);
        try
        {
            await Task.WhenAll(_work.Keys.Concat(_live.Values.Select(h => h.Removed.Task))).WaitAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
        }
    }

    private async Task CarryOutAsync(RunJob job, SandboxCommand command, bool reserved)
    {
        await Task.Yield();
        ActivityContext.TryParse(job.TraceParent, null, out var submitted);
        using var activity = SandboxRunner.ActivitySource.StartActivity(
            command.Kind switch
            {
                SandboxCommandKinds.Create => "create sandbox",
                SandboxCommandKinds.Run => "sandbox call",
                _ => "sandbox command",
            },
            ActivityKind.Consumer, submitted);
        activity?.SetTag("executor.sandbox_id", command.SandboxId);
        activity?.SetTag("executor.session_id", job.SessionId);
        activity?.SetTag("executor.sandbox_command", command.Kind);
        activity?.SetTag("executor.runner_host", Host);
        var startedAt = _time.GetUtcNow();
        var started = _time.GetTimestamp();
        var language = _catalog.Find(job.Runtime);
        var limits = SandboxLimits.For(_sandbox, null, job.MemoryMb, language);
        string? containerId = null;
        RunResult result;
        try
        {
            if (command.Kind == SandboxCommandKinds.Create)
            {
                (result, containerId) = reserved
                    ? await CreateAsync(job, command, language, limits)
                    : (SandboxResults.Failure(RunStatus.InternalError, SandboxStatus.Failed, "The sandbox exists already."), null);
            }
            else if (!_live.TryGetValue(command.SandboxId, out var held))
            {
                result = SandboxResults.Gone($"the runner host '{Host}' does not hold it");
            }
            else
            {
                (language, limits, containerId) = (held.Language, held.Limits, held.Sandbox.ContainerId);
                result = await CommandAsync(job, command, held);
                if (command.Kind == SandboxCommandKinds.Run)
                {
                    limits = limits with { TimeoutSeconds = CallTimeout(job) };
                }
            }
        }
        catch (Exception e)
        {
            // Never the code's fault, and never a reason to leave the command without an answer.
            LogCommandFailed(job.SessionId, command.SandboxId, e);
            result = SandboxResults.Failure(RunStatus.InternalError, SandboxStatus.Failed,
                "The command could not complete: the runner's log has the cause under its id.");
        }
        result = SandboxRunner.Stamp(result, limits, language, _isolation.Name, Host, containerId, startedAt, _time.GetUtcNow(),
            _time.GetElapsedTime(started));
        activity?.SetTag("executor.status", result.Status);
        activity?.SetTag("executor.sandbox_status", result.Sandbox?.Status);
        _commands.Add(1, new KeyValuePair<string, object?>("executor.sandbox_command", command.Kind),
            new KeyValuePair<string, object?>("executor.status", result.Status));
        _finished.Set(job.SessionId, result, new MemoryCacheEntryOptions
        {
            AbsoluteExpirationRelativeToNow = TimeSpan.FromMinutes(_options.ResultRetentionMinutes),
            Size = 1,
        });
        try
        {
            await _reporter.ReportAsync(job.SessionId, result);
        }
        finally
        {
            _pending.TryRemove(job.SessionId, out _); // the reporter holds it from here on
        }
    }

    /// <summary>A call's result with the connections the sandbox tried since the last call's (each call reports its own).</summary>
    private static async Task<RunResult> WithEgressAsync(Task<RunResult> call, Egress.EgressLease? egress)
    {
        var result = await call;
        return egress is null ? result : result with { Egress = egress.TakeNew() };
    }

    private int CallTimeout(RunJob job) => Math.Clamp(job.TimeoutSeconds ?? _sandbox.TimeoutSeconds, 1, _sandbox.MaxTimeoutSeconds);

    private Task<RunResult> CommandAsync(RunJob job, SandboxCommand command, Held held) => command.Kind switch
    {
        SandboxCommandKinds.Run or SandboxCommandKinds.Restart => WithEgressAsync(held.Sandbox.Enqueue(job, CallTimeout(job)), held.Egress),
        SandboxCommandKinds.PutFile or SandboxCommandKinds.GetFile or SandboxCommandKinds.ListFiles or SandboxCommandKinds.DeleteFile =>
            held.Sandbox.FileAsync(job, _stopping),
        _ => Task.FromResult(SandboxResults.Failure(RunStatus.InternalError, SandboxStatus.Failed,
            $"The runner host '{Host}' knows no sandbox command '{command.Kind}'.")),
    };

    private async Task<(RunResult, string?)> CreateAsync(RunJob job, SandboxCommand command, LanguageRuntime? language, SandboxLimits limits)
    {
        var id = command.SandboxId;
        string? containerId = null;
        Egress.EgressLease? egress = null;
        try
        {
            if (language is null)
            {
                return (SandboxResults.Failure(RunStatus.InternalError, SandboxStatus.Failed, $"The runner host '{Host}' has no runtime '{job.Runtime}'."), null);
            }
            if (_stopping.IsCancellationRequested)
            {
                return (SandboxResults.Failure(RunStatus.InternalError, SandboxStatus.Failed, $"The runner host '{Host}' is stopping."), null);
            }
            if (Count > _options.MaxSandboxes) // this one counts already
            {
                return (SandboxResults.Failure(RunStatus.InternalError, SandboxStatus.Failed,
                    $"The runner host '{Host}' holds {_options.MaxSandboxes} sandboxes already."), null);
            }
            if (job.Egress is { } policy)
            {
                if (Egress.EgressProxy.RefusalFor(_isolation.Name) is { } noEgress)
                {
                    return (SandboxResults.Failure(RunStatus.InternalError, SandboxStatus.Failed, noEgress), null);
                }
                // The sandbox's proxy lasts as long as it does: its limits hold over its whole life.
                egress = await _egress.OpenAsync(id, policy, _stopping);
            }
            var container = await _containers.AcquireAsync(id, language, limits, _stopping, egress);
            _creating[id] = containerId = container.ContainerId;
            var (sandbox, problem, retry) = await StartKernelAsync(id, container, limits, egress);
            if (sandbox is null && retry && !_stopping.IsCancellationRequested)
            {
                // The warm container died before it took the kernel job (engine restart, stale pool): go cold once.
                _ = _janitor.RemoveAsync(container.ContainerId, now: true);
                containerId = null;
                _creating[id] = containerId = await _containers.StartColdAsync(id, language, limits);
                (sandbox, problem, _) = await StartKernelAsync(id, new AcquiredContainer(containerId, Warm: false), limits, egress);
            }
            if (sandbox is null)
            {
                await _janitor.RemoveAsync(containerId, now: true);
                return (SandboxResults.Failure(RunStatus.InternalError, SandboxStatus.Failed, $"The sandbox could not start: {problem}."), containerId);
            }
            Adopt(new Held(sandbox, language, limits,
                command.IdleTimeoutSeconds is > 0 and var idle ? TimeSpan.FromSeconds(idle) : null,
                command.LifetimeSeconds is > 0 and var life ? TimeSpan.FromSeconds(life) : null) { Egress = egress });
            egress = null; // the held sandbox's from here on
            return (new RunResult { Status = RunStatus.Completed, WarmStart = sandbox.Warm, Sandbox = new SandboxOutcome(SandboxStatus.Ok) }, containerId);
        }
        catch
        {
            if (containerId is not null)
            {
                _ = _janitor.RemoveAsync(containerId, now: true);
            }
            throw;
        }
        finally
        {
            if (egress is not null)
            {
                await egress.DisposeAsync(); // not adopted: the sandbox never started
            }
            _creating.TryRemove(id, out _); // adopted by then, so the reaper never sees it unowned
            _endWhenCreated.TryRemove(id, out _);
            _containers.Replenish();
        }
    }

    /// <summary>Attaches (unless the container came attached) and starts the kernel; the sandbox, or why it did not start.</summary>
    private async Task<(LiveSandbox? Sandbox, string? Problem, bool Retry)> StartKernelAsync(
        string id, AcquiredContainer container, SandboxLimits limits, Egress.EgressLease? egress)
    {
        if (container.Stream is null)
        {
            try
            {
                // Bounded like the kernel's start: an engine that never answers an attach must not hold the create forever.
                using var attach = CancellationTokenSource.CreateLinkedTokenSource(_stopping);
                attach.CancelAfter(TimeSpan.FromSeconds(_options.SandboxStartSeconds));
                container = container with { Stream = await _engine.AttachAsync(container.ContainerId, attach.Token) };
            }
            catch (Exception e) when (e is Docker.DotNet.DockerApiException or IOException or HttpRequestException or OperationCanceledException)
            {
                return (null, "its container could not be attached", container.Warm);
            }
        }
        var settings = Settings(limits) with { Egress = egress is null ? null : _egress.LauncherSide };
        var sandbox = new LiveSandbox(id, container, settings, _time, _loggers.CreateLogger<LiveSandbox>());
        if (await sandbox.StartAsync(TimeSpan.FromSeconds(_options.SandboxStartSeconds), _stopping) is not { } problem)
        {
            return (sandbox, null, false);
        }
        // A warm container that never accepted the job died waiting (nothing of the user's ran): it may be retried cold.
        var retry = container.Warm && !sandbox.Accepted;
        await sandbox.DisposeAsync();
        return (null, problem, retry);
    }

    internal SandboxCallSettings Settings(SandboxLimits limits) => new(
        new KernelFileBounds(_sandbox.FileSizeLimitMb * 1024L * 1024, _sandbox.WorkDirSizeMb * 1024L * 1024, _options.SandboxMaxFiles),
        limits.OutputLimitBytes,
        limits.MemoryMb,
        TimeSpan.FromSeconds(_options.SandboxStartSeconds),
        FileTimeout,
        TimeSpan.FromSeconds(_options.KillGraceSeconds),
        _session,
        Host);

    /// <summary>Holds a started sandbox until it ends; then its container goes at once.</summary>
    internal void Adopt(Held held)
    {
        var id = held.Sandbox.SandboxId;
        _live[id] = held;
        LogCreated(id, held.Sandbox.ContainerId, held.Sandbox.Warm);
        _ = WatchAsync(held);
        if (_endWhenCreated.TryRemove(id, out var reason))
        {
            End(id, reason, byHost: false);
        }
    }

    private async Task WatchAsync(Held held)
    {
        var reason = await held.Sandbox.Ended;
        var id = held.Sandbox.SandboxId;
        if (!held.ToldByCenter)
        {
            _ended[id] = (new SandboxEnd(id, $"runner host '{Host}': {reason}"), _time.GetTimestamp());
        }
        try
        {
            await _janitor.RemoveAsync(held.Sandbox.ContainerId, now: true);
        }
        catch (Exception e)
        {
            LogRemoveFailed(id, e.Message); // the janitor tries again, and the reaper finds it once it is no longer held
        }
        finally
        {
            _live.TryRemove(new KeyValuePair<string, Held>(id, held));
            await held.Sandbox.DisposeAsync();
            if (held.Egress is { } egress)
            {
                await egress.DisposeAsync();
            }
            held.Removed.TrySetResult();
        }
    }

    /// <summary>A sandbox this host holds, with what it was created with.</summary>
    internal sealed record Held(LiveSandbox Sandbox, LanguageRuntime Language, SandboxLimits Limits, TimeSpan? IdleTimeout, TimeSpan? Lifetime)
    {
        public bool ToldByCenter { get; set; }

        public TaskCompletionSource Removed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>The sandbox's egress proxy, for its whole life (null: no network).</summary>
        public Egress.EgressLease? Egress { get; init; }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Sandbox {SandboxId} started in container {ContainerId} (warm: {Warm})")]
    private partial void LogCreated(string sandboxId, string containerId, bool warm);

    [LoggerMessage(Level = LogLevel.Error, Message = "Command {SessionId} to sandbox {SandboxId} failed")]
    private partial void LogCommandFailed(string sessionId, string sandboxId, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The container of sandbox {SandboxId} could not be removed yet: {Reason}")]
    private partial void LogRemoveFailed(string sandboxId, string reason);
}

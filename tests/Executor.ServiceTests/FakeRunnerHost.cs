using System.Collections.Concurrent;
using System.Net.Http.Json;

namespace Executor.ServiceTests;

/// <summary>
/// A runner host as SessionService sees one, over the real protocol (/hosts/{host}/*, with the host's own credential):
/// it heartbeats with its runtimes and pool, claims queued sessions, and reports for each the result the test chose.
/// No container runs: the point of the tests here is what SessionService makes of a run, not the run.
/// </summary>
public sealed class FakeRunnerHost : IAsyncDisposable
{
    private readonly HttpClient _session;
    private readonly string _instance = Guid.NewGuid().ToString("N");
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<string, TaskCompletionSource<RunJob>> _claimed = new();
    private readonly ConcurrentDictionary<string, (RunJob Job, DateTimeOffset ClaimedAt)> _running = new();
    private Task _loops = Task.CompletedTask;
    private long _receivedSeq;

    public FakeRunnerHost(HttpClient session, string name, string secret, IReadOnlyList<RuntimeInfo>? runtimes = null)
    {
        _session = session;
        Name = name;
        Offered = runtimes ?? Runtimes;
        _session.DefaultRequestHeaders.Add(ContractsJson.HostTokenHeader, HostCredentials.For(secret, name));
    }

    public string Name { get; }

    /// <summary>How many warm containers the host's pool keeps (it may be asked for up to 8).</summary>
    public const int PoolTarget = 2;

    /// <summary>
    /// What the host answers for a job it claims: a result to report at once, or null to hold the run until the test
    /// calls <see cref="CompleteAsync"/> (or a cleanup cancels it). By default every run completes with what its script's
    /// print('...') lines print (<see cref="Runs.Echo"/>).
    /// </summary>
    public Func<RunJob, RunResult?> Respond { get; set; } = Runs.Echo;

    /// <summary>The runtimes the host offers, as a real host reports them after probing its images.</summary>
    public static IReadOnlyList<RuntimeInfo> Runtimes { get; } =
    [
        new("python-3.11", "python", "3.11", Default: true, MemoryMb: 256, new Dictionary<string, string>(), "3.11.2", Available: true, Problem: null),
        new("python-3.11-data", "python", "3.11", Default: false, MemoryMb: 384,
            new Dictionary<string, string> { ["numpy"] = "1.24.2", ["pandas"] = "1.5.3", ["matplotlib"] = "3.6.3" }, "3.11.2", Available: true, Problem: null),
    ];

    /// <summary>
    /// The languages graders' students write, as a host with the languages image reports them (the built-in runtimes'
    /// ids and the versions their probes find).
    /// </summary>
    public static IReadOnlyList<RuntimeInfo> Languages { get; } =
    [
        new("c-gcc-12", "c", "12", Default: false, MemoryMb: 256, new Dictionary<string, string>(), "12.2.0", Available: true, Problem: null),
        new("cpp-gcc-12", "cpp", "12", Default: false, MemoryMb: 256, new Dictionary<string, string>(), "12.2.0", Available: true, Problem: null),
        new("java-17", "java", "17", Default: false, MemoryMb: 256, new Dictionary<string, string>(), "17.0.13", Available: true, Problem: null),
        new("javascript-node-18", "javascript", "18", Default: false, MemoryMb: 256, new Dictionary<string, string>(), "18.20.4", Available: true, Problem: null),
        new("bash-5.2", "bash", "5.2", Default: false, MemoryMb: 256, new Dictionary<string, string>(), "5.2.15", Available: true, Problem: null),
    ];

    /// <summary>The runtimes this host reports (<see cref="Runtimes"/> unless its fixture names others).</summary>
    public IReadOnlyList<RuntimeInfo> Offered { get; }

    /// <summary>Beats and claims in the background from now on (a heartbeat is held open until the interval is over).</summary>
    public void Start() => _loops = Task.WhenAll(Task.Run(() => BeatAsync(_stop.Token)), Task.Run(() => ClaimAsync(_stop.Token)),
        Task.Run(() => ClaimSandboxWorkAsync(_stop.Token)));

    /// <summary>The sandboxes this host holds: their files (no kernel runs: a call's result is what <see cref="RespondToCall"/> says).</summary>
    public ConcurrentDictionary<string, ConcurrentDictionary<string, byte[]>> Sandboxes { get; } = new();

    /// <summary>The create job of each sandbox this host made, by sandbox id.</summary>
    public ConcurrentDictionary<string, RunJob> CreatedSandboxes { get; } = new();

    /// <summary>The sandboxes SessionService told this host to end, and why.</summary>
    public ConcurrentDictionary<string, string> EndedByService { get; } = new();

    /// <summary>
    /// What a call answers: a result to report at once, or null to hold it until the test completes it (or an interrupt
    /// ends it). By default, the code's text as the value of its last expression, and its execution count.
    /// </summary>
    public Func<RunJob, RunResult?> RespondToCall { get; set; } = Runs.EchoCall;

    /// <summary>The job of a session, once this host has claimed it.</summary>
    public async Task<RunJob> JobAsync(string sessionId) =>
        await Claimed(sessionId).Task.WaitAsync(TimeSpan.FromSeconds(30));

    /// <summary>Reports the result of a run the host holds.</summary>
    public async Task CompleteAsync(string sessionId, RunResult result)
    {
        await JobAsync(sessionId);
        await ReportAsync(sessionId, result, CancellationToken.None);
    }

    private TaskCompletionSource<RunJob> Claimed(string sessionId) =>
        _claimed.GetOrAdd(sessionId, _ => new TaskCompletionSource<RunJob>(TaskCreationOptions.RunContinuationsAsynchronously));

    private Heartbeat Describe() =>
        new(_instance, [.. _running.Keys], Capacity: 8, new PoolStatus(Ready: PoolTarget, Target: PoolTarget, Starting: 0, MaxSize: 8), EngineProblem: null,
            PrewarmGeneration: 0, Offered, [.. Sandboxes.Keys]);

    private async Task BeatAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                using var response = await _session.PostAsJsonAsync(HostRoutes.HeartbeatOf(Name), Describe(), ContractsJson.Options, cancellationToken);
                var answer = await response.Content.ReadFromJsonAsync<HeartbeatResponse>(ContractsJson.Options, cancellationToken);
                // As a real host does: the killed run ends cancelled.
                foreach (var sessionId in answer?.Cancel ?? [])
                {
                    await ReportAsync(sessionId, _running.TryGetValue(sessionId, out var run) && run.Job.Sandbox is not null
                        ? Runs.Interrupted() : Runs.Cancelled(), cancellationToken);
                }
                foreach (var end in answer?.EndSandboxes ?? [])
                {
                    Sandboxes.TryRemove(end.SandboxId, out _);
                    EndedByService[end.SandboxId] = end.Reason;
                }
            }
            catch (Exception e) when (e is HttpRequestException or System.Text.Json.JsonException && !cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(100, cancellationToken);
            }
        }
    }

    private async Task ClaimAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var request = new ClaimRequest(_instance, Capacity: 8, WarmReady: 2, _receivedSeq, [.. Offered.Select(r => r.Id)]);
                using var response = await _session.PostAsJsonAsync(HostRoutes.ClaimsOf(Name), request, ContractsJson.Options, cancellationToken);
                var claim = await response.Content.ReadFromJsonAsync<ClaimResponse>(ContractsJson.Options, cancellationToken);
                if (claim is null || claim.Jobs.Count == 0)
                {
                    continue;
                }
                _receivedSeq = claim.Seq;
                await TakeAsync(claim.Jobs, Respond, cancellationToken);
            }
            catch (Exception e) when (e is HttpRequestException or System.Text.Json.JsonException && !cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(100, cancellationToken);
            }
        }
    }

    private async Task ClaimSandboxWorkAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var request = new ClaimRequest(_instance, Capacity: 4, WarmReady: 2, 0, [.. Offered.Select(r => r.Id)]);
                using var response = await _session.PostAsJsonAsync(HostRoutes.SandboxClaimsOf(Name), request, ContractsJson.Options, cancellationToken);
                var claim = await response.Content.ReadFromJsonAsync<ClaimResponse>(ContractsJson.Options, cancellationToken);
                await TakeAsync(claim?.Jobs ?? [], Command, cancellationToken);
            }
            catch (Exception e) when (e is HttpRequestException or System.Text.Json.JsonException && !cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(100, cancellationToken);
            }
        }
    }

    /// <summary>Holds each claimed job as running and reports at once the result <paramref name="respond"/> gives, if any.</summary>
    private async Task TakeAsync(IReadOnlyList<RunJob> jobs, Func<RunJob, RunResult?> respond, CancellationToken cancellationToken)
    {
        foreach (var job in jobs)
        {
            _running[job.SessionId] = (job, DateTimeOffset.UtcNow);
            Claimed(job.SessionId).TrySetResult(job);
            if (respond(job) is { } result)
            {
                await ReportAsync(job.SessionId, result, cancellationToken);
            }
        }
    }

    /// <summary>A sandbox command as a host carries it out, on an in-memory sandbox of files.</summary>
    private RunResult? Command(RunJob job)
    {
        var command = job.Sandbox!;
        if (command.Kind == SandboxCommandKinds.Create)
        {
            Sandboxes[command.SandboxId] = new ConcurrentDictionary<string, byte[]>();
            CreatedSandboxes[command.SandboxId] = job;
            return Runs.SandboxDone(new SandboxOutcome(SandboxStatus.Ok)) with { ContainerId = "fake-" + command.SandboxId };
        }
        if (!Sandboxes.TryGetValue(command.SandboxId, out var files))
        {
            return Runs.SandboxDone(new SandboxOutcome(SandboxStatus.SandboxGone)) with { Status = "internal_error", Detail = "gone" };
        }
        return command.Kind switch
        {
            SandboxCommandKinds.Run => RespondToCall(job),
            SandboxCommandKinds.Restart => Runs.SandboxDone(new SandboxOutcome(SandboxStatus.Restarted, ExecutionCount: 0)),
            SandboxCommandKinds.PutFile => Put(files, command.Path!, job.Files[0].Content),
            SandboxCommandKinds.GetFile => files.TryGetValue(command.Path!, out var content)
                ? Runs.SandboxDone(new SandboxOutcome(SandboxStatus.Ok, Size: content.Length)) with
                {
                    Files = [new RunOutputFile(command.Path!, content.Length, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(content)),
                        "application/octet-stream") { Content = content }],
                }
                : Runs.SandboxDone(new SandboxOutcome(SandboxStatus.NotFound)) with { Status = "failed" },
            SandboxCommandKinds.ListFiles => Runs.SandboxDone(new SandboxOutcome(SandboxStatus.Ok,
                Entries: [.. files.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => new SandboxFileEntry(f.Key, f.Value.Length, "file"))])),
            SandboxCommandKinds.DeleteFile => files.TryRemove(command.Path!, out _)
                ? Runs.SandboxDone(new SandboxOutcome(SandboxStatus.Ok))
                : Runs.SandboxDone(new SandboxOutcome(SandboxStatus.NotFound)) with { Status = "failed" },
            _ => Runs.SandboxDone(new SandboxOutcome(SandboxStatus.Failed)) with { Status = "failed" },
        };
    }

    private static RunResult Put(ConcurrentDictionary<string, byte[]> files, string path, byte[] content)
    {
        files[path] = content;
        return Runs.SandboxDone(new SandboxOutcome(SandboxStatus.Ok, Size: content.Length));
    }

    private async Task ReportAsync(string sessionId, RunResult result, CancellationToken cancellationToken)
    {
        if (!_running.TryRemove(sessionId, out var run))
        {
            return;
        }
        var (job, claimedAt) = run;
        var now = DateTimeOffset.UtcNow;
        result = result with
        {
            // A run starts when its host has it (a warm container takes it at once) and ends when it is reported.
            StartedAt = result.StartedAt == default ? claimedAt : result.StartedAt,
            FinishedAt = result.FinishedAt == default ? now : result.FinishedAt,
            Runtime = result.Runtime ?? job.Runtime ?? Offered[0].Id,
            // A real host's defaults (Sandbox:TimeoutSeconds, Cpus, PidsLimit, OutputLimitBytes) where the job names none.
            Limits = result.Limits ?? new RunLimits(job.TimeoutSeconds ?? 10,
                job.MemoryMb ?? Offered.First(r => r.Id == (job.Runtime ?? Offered[0].Id)).MemoryMb, 0.5, 64, 1024 * 1024),
        };
        using var response = await _session.PostAsJsonAsync(HostRoutes.ResultOf(Name, sessionId), result, ContractsJson.Options, cancellationToken);
        response.EnsureSuccessStatusCode();
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _loops;
        }
        catch (OperationCanceledException)
        {
        }
        _stop.Dispose();
    }
}

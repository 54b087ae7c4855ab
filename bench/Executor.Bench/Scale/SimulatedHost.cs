using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Executor.Contracts;

namespace Executor.Bench.Scale;

/// <summary>
/// One runner host as SessionService sees it, over the real protocol (/hosts/{host}/*, its own credential): it heartbeats,
/// claims runs when it has a free slot and sandbox commands on their own lane, streams output frames and reports results
/// as RunnerService does, but "runs" a session by waiting the time its script asks for (<see cref="SimulatedScript"/>)
/// instead of starting a container. What the central tier does for a hundred of these is what --scale measures.
/// </summary>
public sealed partial class SimulatedHost(string name, string secret, HttpClient session, int slots, HostLedger ledger) : IAsyncDisposable
{
    private static readonly IReadOnlyList<RuntimeInfo> Offered =
    [
        new("python-3.11", "python", "3.11", Default: true, MemoryMb: 256, new Dictionary<string, string>(), "3.11.2", Available: true, Problem: null),
    ];

    private static readonly string[] RuntimeIds = ["python-3.11"];

    private readonly string _instance = Guid.NewGuid().ToString("N");
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<string, bool> _running = new();
    private readonly ConcurrentDictionary<string, int> _sandboxes = new();
    private readonly SemaphoreSlim _free = new(slots, slots);
    private readonly string _token = HostCredentials.For(secret, name);
    private Task _loops = Task.CompletedTask;
    private long _receivedSeq;

    public string Name => name;

    /// <summary>Beats, claims runs and claims sandbox commands from now on, each in a loop of its own, as a real host does.</summary>
    public void Start() =>
        _loops = Task.WhenAll(Task.Run(() => BeatAsync(_stop.Token)), Task.Run(() => ClaimRunsAsync(_stop.Token)),
            Task.Run(() => ClaimSandboxWorkAsync(_stop.Token)));

    private async Task BeatAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            var beat = new Heartbeat(_instance, [.. _running.Keys], slots, new PoolStatus(Ready: slots, Target: slots, Starting: 0, MaxSize: 64),
                EngineProblem: null, PrewarmGeneration: long.MaxValue, Offered, [.. _sandboxes.Keys]);
            var answer = await CallAsync<HeartbeatResponse>("heartbeat", HostRoutes.HeartbeatOf(name), beat, cancellationToken);
            if (answer is null)
            {
                continue;
            }
            ledger.Beat();
            foreach (var end in answer.EndSandboxes ?? [])
            {
                _sandboxes.TryRemove(end.SandboxId, out _);
            }
            // answer.Cancel stays empty: the bench cancels nothing (and a simulated run only waits out its hold).
        }
    }

    private async Task ClaimRunsAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            // As RunnerService: ask only with a free slot, for as many sessions as there are free slots.
            await _free.WaitAsync(cancellationToken);
            var free = 1;
            while (_free.Wait(0, CancellationToken.None))
            {
                free++;
            }
            var claim = await CallAsync<ClaimResponse>("claim", HostRoutes.ClaimsOf(name),
                new ClaimRequest(_instance, free, free, Interlocked.Read(ref _receivedSeq), RuntimeIds), cancellationToken);
            if (claim is { Jobs.Count: > 0 })
            {
                Interlocked.Exchange(ref _receivedSeq, claim.Seq);
            }
            var jobs = claim?.Jobs ?? [];
            foreach (var job in jobs)
            {
                _ = RunAsync(job, () => _free.Release(), cancellationToken);
            }
            if (free > jobs.Count)
            {
                _free.Release(free - jobs.Count);
            }
        }
    }

    private async Task ClaimSandboxWorkAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            var claim = await CallAsync<ClaimResponse>("sandbox claim", HostRoutes.SandboxClaimsOf(name),
                new ClaimRequest(_instance, Capacity: 4, WarmReady: 4, 0, RuntimeIds), cancellationToken);
            foreach (var job in claim?.Jobs ?? [])
            {
                _ = RunAsync(job, static () => { }, cancellationToken);
            }
        }
    }

    /// <summary>Holds the session for the time its script asks, streams its frames meanwhile, then reports its result.</summary>
    private async Task RunAsync(RunJob job, Action done, CancellationToken cancellationToken)
    {
        ledger.Claimed(job.SessionId, name);
        _running[job.SessionId] = true;
        try
        {
            var started = DateTimeOffset.UtcNow;
            RunResult result;
            if (job.Sandbox is { } command)
            {
                result = await SandboxCommandAsync(command, cancellationToken);
            }
            else
            {
                var script = SimulatedScript.Parse(job.Files.FirstOrDefault(f => f.Path == job.Entrypoint)?.Content ?? []);
                var stdout = await StreamAsync(job.SessionId, script, cancellationToken);
                result = Completed(stdout, script.HoldMs);
            }
            result = result with
            {
                StartedAt = started,
                FinishedAt = DateTimeOffset.UtcNow,
                Runtime = job.Runtime ?? Offered[0].Id,
                Limits = new RunLimits(job.TimeoutSeconds ?? 10, job.MemoryMb ?? 256, 0.5, 64, 1024 * 1024),
                ContainerId = result.ContainerId ?? "simulated",
            };
            // A real host retries its result until SessionService has it.
            for (var attempt = 0; attempt < 20 && !cancellationToken.IsCancellationRequested; attempt++)
            {
                if (await CallAsync<JsonElement?>("result", HostRoutes.ResultOf(name, job.SessionId), result, cancellationToken) is not null)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        finally
        {
            _running.TryRemove(job.SessionId, out _);
            done();
        }
    }

    private async Task<RunResult> SandboxCommandAsync(SandboxCommand command, CancellationToken cancellationToken)
    {
        switch (command.Kind)
        {
            case SandboxCommandKinds.Create:
                _sandboxes[command.SandboxId] = 0;
                return Completed("", 0) with { Sandbox = new SandboxOutcome(SandboxStatus.Ok), ContainerId = "simulated-" + command.SandboxId };
            case SandboxCommandKinds.Run when _sandboxes.ContainsKey(command.SandboxId):
                var script = SimulatedScript.Parse(Encoding.UTF8.GetBytes(command.Code ?? ""));
                await Task.Delay(script.HoldMs, cancellationToken);
                var count = _sandboxes.AddOrUpdate(command.SandboxId, 1, (_, n) => n + 1);
                var stdout = script.Token + "\n";
                return Completed(stdout, script.HoldMs) with
                {
                    Sandbox = new SandboxOutcome(SandboxStatus.Ok, count,
                        [JsonSerializer.SerializeToElement(new { output_type = "stream", name = "stdout", text = stdout })]),
                };
            case SandboxCommandKinds.Run:
                return Completed("", 0) with { Status = RunStatus.InternalError, Detail = "gone", Sandbox = new SandboxOutcome(SandboxStatus.SandboxGone) };
            default:
                return Completed("", 0) with { Sandbox = new SandboxOutcome(SandboxStatus.Ok) };
        }
    }

    /// <summary>
    /// The run's output: its frames (one streamed request, as OutputRelay sends them, spread over the hold), then the
    /// token line; the whole output is what the result reports.
    /// </summary>
    private async Task<string> StreamAsync(string sessionId, SimulatedScript script, CancellationToken cancellationToken)
    {
        if (script.Frames == 0)
        {
            await Task.Delay(script.HoldMs, cancellationToken);
            return script.Token + "\n";
        }
        var output = new StringBuilder();
        var pipe = new Pipe();
        using var request = new HttpRequestMessage(HttpMethod.Post, HostRoutes.OutputOf(name, sessionId)) { Content = new StreamContent(pipe.Reader.AsStream()) };
        request.Headers.Add(ContractsJson.HostTokenHeader, _token);
        var sending = session.SendAsync(request, cancellationToken);
        for (var i = 0; i < script.Frames; i++)
        {
            await Task.Delay(script.HoldMs / script.Frames, cancellationToken);
            var line = Encoding.UTF8.GetBytes($"frame {i}\n");
            OutputFrames.Write(pipe.Writer, stdout: true, Encoding.UTF8.GetByteCount(output.ToString()), line);
            await pipe.Writer.FlushAsync(cancellationToken);
            output.Append($"frame {i}\n");
        }
        await pipe.Writer.CompleteAsync();
        try
        {
            using var response = await sending;
            if (!response.IsSuccessStatusCode)
            {
                ledger.Failed("output", ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
        }
        catch (HttpRequestException e)
        {
            ledger.Failed("output", e.HttpRequestError.ToString());
        }
        return output.Append(script.Token).Append('\n').ToString();
    }

    private static RunResult Completed(string stdout, int holdMs) => new()
    {
        Status = RunStatus.Completed,
        ExitCode = 0,
        Stdout = stdout,
        Logs = stdout,
        Segments = stdout.Length == 0 ? [] : [Encoding.UTF8.GetByteCount(stdout)],
        DurationMs = holdMs,
        CpuTimeMs = 1,
        PeakMemoryBytes = 9 * 1024 * 1024,
        WarmStart = true,
        Isolation = "runc",
    };

    /// <summary>One protocol call; null (after a short pause) when it failed, recorded in the ledger by its kind.</summary>
    private async Task<T?> CallAsync<T>(string what, string path, object body, CancellationToken cancellationToken)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body, body.GetType(), options: ContractsJson.Options) };
            request.Headers.Add(ContractsJson.HostTokenHeader, _token);
            using var response = await session.SendAsync(request, cancellationToken);
            if (response.IsSuccessStatusCode)
            {
                return await response.Content.ReadFromJsonAsync<T>(ContractsJson.Options, cancellationToken);
            }
            ledger.Failed(what, ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        catch (HttpRequestException e)
        {
            ledger.Failed(what, e.HttpRequestError.ToString());
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            ledger.Failed(what, "timeout");
        }
        catch (JsonException)
        {
            ledger.Failed(what, "unreadable answer");
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return default;
        }
        await Task.Delay(100, CancellationToken.None);
        return default;
    }

    /// <summary>Stops asking for work; the runs in progress end (and report) as they would.</summary>
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

/// <summary>
/// What a simulated run does, written in its script's first line: <c># sim hold_ms=50 frames=2 token=...</c>, then the
/// <c>print('token')</c> a real host would run. It holds its slot that long, sends that many output frames meanwhile, and
/// prints the frames' lines and the token (so the client can check it got its own session's output).
/// </summary>
public sealed partial record SimulatedScript(int HoldMs, int Frames, string Token)
{
    public static string Source(int holdMs, int frames, string token) => $"# sim hold_ms={holdMs} frames={frames} token={token}\nprint('{token}')\n";

    public static string ExpectedOutput(SimulatedScript script) =>
        string.Concat(Enumerable.Range(0, script.Frames).Select(i => $"frame {i}\n")) + script.Token + "\n";

    public static SimulatedScript Parse(byte[] source)
    {
        var match = Header().Match(Encoding.UTF8.GetString(source));
        return match.Success
            ? new SimulatedScript(int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture),
                int.Parse(match.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture), match.Groups[3].Value)
            : new SimulatedScript(0, 0, "");
    }

    [GeneratedRegex(@"^# sim hold_ms=(\d+) frames=(\d+) token=(\S+)")]
    private static partial Regex Header();
}

/// <summary>What every simulated host of a run did: each session's claims (a second one is a run twice), failures by kind.</summary>
public sealed class HostLedger
{
    private long _heartbeats;

    public long Heartbeats => Interlocked.Read(ref _heartbeats);

    public void Beat() => Interlocked.Increment(ref _heartbeats);

    /// <summary>Each session id a host was given, with the hosts that were given it.</summary>
    public ConcurrentDictionary<string, string> ClaimedBy { get; } = new();

    /// <summary>When each session reached a host.</summary>
    public ConcurrentDictionary<string, DateTimeOffset> ClaimedAt { get; } = new();

    /// <summary>Sessions given to a host more than once (must stay empty).</summary>
    public ConcurrentDictionary<string, string> Duplicates { get; } = new();

    /// <summary>Failed protocol calls by "call: why".</summary>
    public ConcurrentDictionary<string, int> Failures { get; } = new();

    public void Claimed(string sessionId, string host)
    {
        ClaimedAt.TryAdd(sessionId, DateTimeOffset.UtcNow);
        if (!ClaimedBy.TryAdd(sessionId, host))
        {
            Duplicates[sessionId] = $"{ClaimedBy[sessionId]}, {host}";
        }
    }

    public void Failed(string call, string why) => Failures.AddOrUpdate($"{call}: {why}", 1, (_, n) => n + 1);
}

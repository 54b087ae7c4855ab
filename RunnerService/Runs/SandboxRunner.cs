using System.Diagnostics;
using System.Text;
using Docker.DotNet;
using Executor.Contracts;
using Executor.Sandbox;
using Microsoft.Extensions.Options;

namespace Executor.Runner.Runs;

/// <summary>
/// Runs one session's script in one single-use container: lease a warm one (or start a cold one), send the job
/// over the attach stream, read the launcher's frames until its exit record, and hand the container to the
/// janitor. The launcher enforces the timeout and the output cap inside the sandbox; this class enforces both
/// again from outside, so a sandbox that stops cooperating is still killed.
/// </summary>
public sealed partial class SandboxRunner(
    IContainerEngine engine,
    ContainerSource containers,
    ContainerJanitor janitor,
    SandboxRuntime runtime,
    RuntimeCatalog catalog,
    SessionClient session,
    Egress.EgressProxy egressProxy,
    IOptions<SandboxOptions> sandboxOptions,
    IOptions<RunnerOptions> runnerOptions,
    TimeProvider time,
    ILogger<SandboxRunner> logger)
{
    public static readonly ActivitySource ActivitySource = new(TelemetryNames.Runner);

    internal const int ReadBufferSize = 64 * 1024;
    private const int DiagnosticsLimit = 8192;

    /// <summary>This runner host's name.</summary>
    public string Host => sandboxOptions.Value.Host;

    public async Task<RunResult> RunAsync(RunJob request, ActiveRun run, CancellationToken cancellationToken)
    {
        var language = catalog.Find(request.Runtime);
        var limits = SandboxLimits.For(sandboxOptions.Value, request.TimeoutSeconds, request.MemoryMb, language);
        var startedAt = time.GetUtcNow();
        var started = time.GetTimestamp();
        string? containerId = null;
        if (language is null)
        {
            return Complete(Failure(RunStatus.InternalError, $"The runner host '{Host}' has no runtime '{request.Runtime}' (it has "
                + $"{string.Join(", ", catalog.All.Select(r => r.Id))})."), limits, null, startedAt, started) with { Runtime = request.Runtime };
        }
        if (RunRequestValidator.Validate(request) is { Count: > 0 } invalid)
        {
            return Complete(Failure(RunStatus.InternalError, $"The job was invalid: {string.Join("; ", invalid.SelectMany(e => e.Value))}"),
                limits, null, startedAt, started, language);
        }
        if (request.Egress is not null && Egress.EgressProxy.RefusalFor(runtime.Name) is { } noEgress)
        {
            return Complete(Failure(RunStatus.InternalError, noEgress), limits, null, startedAt, started, language);
        }
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, run.CancelToken);
        Egress.EgressLease? egress = null;
        try
        {
            egress = request.Egress is { } policy ? await egressProxy.OpenAsync(request.SessionId, policy, linked.Token) : null;
            var sandbox = await containers.AcquireAsync(request.SessionId, language, limits, linked.Token, egress);
            (containerId, var warm) = (sandbox.ContainerId, sandbox.Warm);
            run.Attach(containerId, warm);
            var result = await ExecuteAsync(request, language, limits, sandbox, run, egress, linked.Token);
            if (result is null && warm)
            {
                // The warm container died before it took the job (engine restart, stale pool): go cold once.
                LogWarmContainerDead(request.SessionId, containerId);
                _ = janitor.RemoveAsync(containerId);
                linked.Token.ThrowIfCancellationRequested();
                containerId = await containers.StartColdAsync(request.SessionId, language, limits);
                run.Attach(containerId, warm: false);
                result = await ExecuteAsync(request, language, limits, new AcquiredContainer(containerId, Warm: false), run, egress, linked.Token);
            }
            result ??= Failure(RunStatus.InternalError, "The sandbox ended before it received the script.");
            return Complete(result with { Egress = egress?.Connections }, limits, containerId, startedAt, started, language);
        }
        catch (OperationCanceledException) when (run.CancelRequested)
        {
            return Complete(Failure(RunStatus.Cancelled, "Cancelled by a cleanup request before it finished."), limits, containerId, startedAt, started, language);
        }
        catch (Exception e) when (e is DockerApiException or HttpRequestException or IOException or System.Net.Sockets.SocketException)
        {
            LogRunFailed(request.SessionId, e);
            // What the engine said stays in this runner's log (under the session id): it names the host's internals.
            return Complete(Failure(RunStatus.InternalError, "The container engine failed; the runner's log has the cause under this session's id."),
                limits, containerId, startedAt, started, language);
        }
        catch (Exception e)
        {
            // Never the script's fault, and never a reason to leave the session without an answer.
            LogRunFailed(request.SessionId, e);
            var why = e is OperationCanceledException ? "the runner is shutting down" : "the runner's log has the cause under this session's id";
            return Complete(Failure(RunStatus.InternalError, $"The run could not complete: {why}."), limits, containerId, startedAt, started, language);
        }
        finally
        {
            if (egress is not null)
            {
                await egress.DisposeAsync(); // its connections end with the run, whatever the container still does
            }
            run.SetRemoval(containerId is null ? Task.CompletedTask : janitor.RemoveAsync(containerId, now: run.CancelRequested));
            // Replace a used slot only now: leasing and attaching during the run would compete with it for the engine.
            containers.Replenish();
        }
    }

    /// <summary>Null when the container ended without reading anything: nothing of the user's ran.</summary>
    private async Task<RunResult?> ExecuteAsync(RunJob request, LanguageRuntime language, SandboxLimits limits, AcquiredContainer sandbox, ActiveRun run,
        Egress.EgressLease? egress, CancellationToken cancellationToken)
    {
        var (containerId, warm) = (sandbox.ContainerId, sandbox.Warm);
        using var activity = ActivitySource.StartActivity("run container");
        activity?.SetTag("executor.session_id", request.SessionId);
        activity?.SetTag("executor.container_id", ContainerIds.Abbreviate(containerId));
        activity?.SetTag("executor.warm", warm);

        var stages = LauncherJob.Stages.For(request, limits, language, sandboxOptions.Value);
        var output = new LauncherOutput(limits.OutputLimitBytes, limits.OutFilesMaxCount, limits.OutFilesMaxBytes,
            caseLimitBytes: request.Grading is null ? 0 : limits.OutputLimitBytes);
        var judge = request.Grading is { } grading ? new CaseJudge(grading) : null;
        await using var relay = new OutputRelay(session, sandboxOptions.Value.Host, request.SessionId, logger);
        MultiplexedStream? stream = sandbox.Stream;
        using (ActivitySource.StartActivity("send job"))
        {
            var job = LauncherJob.Encode(request, limits, egress is null ? null : egressProxy.LauncherSide, language, stages);
            try
            {
                stream ??= await engine.AttachAsync(containerId, cancellationToken);
                await stream.WriteAsync(job, 0, job.Length, cancellationToken);
            }
            catch (Exception e) when (warm && e is DockerApiException or IOException or HttpRequestException)
            {
                // The warm sandbox cannot be attached, or its stdin is gone (it died while it waited): the launcher
                // cannot have a whole job, so nothing of the user's ran and the caller may go cold.
                stream?.Dispose();
                LogWarmSendFailed(containerId, request.SessionId, e.Message);
                return null;
            }
            if (!request.Interactive)
            {
                stream.CloseWrite();
            }
        }
        using var attached = stream;
        // An interactive run's input follows the job on the same stream, for as long as the run lasts.
        using var inputEnds = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var input = request.Interactive
            ? new StdinRelay(session, sandboxOptions.Value.Host, request.SessionId, stream, time, logger).RunAsync(inputEnds.Token)
            : Task.CompletedTask;

        // From here the run ends one of five ways: the exit record, a cancel, the outside deadline, too much output, or a
        // failed case of a graded run that asked to stop there. The deadline covers every stage: compile, run or cases.
        using var deadline = new CancellationTokenSource(stages.Total + TimeSpan.FromSeconds(runnerOptions.Value.KillGraceSeconds), time);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(
            [cancellationToken, deadline.Token, run.CancelToken, egress?.LimitExceeded ?? CancellationToken.None]);
        var diagnostics = new List<byte>();
        var killed = false;
        using (var collect = ActivitySource.StartActivity("collect output"))
        {
            try
            {
                await ReadUntilExitAsync(stream, sandbox.Read, output, relay, diagnostics, judge, stop.Token);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                killed = true;
            }
            finally
            {
                await inputEnds.CancelAsync();
                await input;
            }
            collect?.SetTag("executor.output_bytes", output.TotalBytes);
            collect?.SetTag("executor.files", output.Files.Count);
        }

        var stoppedEarly = judge is { ShouldStop: true } && output.Exit is null;
        if (killed || stoppedEarly || (output.OverLimit && output.Exit is null))
        {
            killed = true;
            await engine.KillAsync(containerId, CancellationToken.None);
        }

        var result = egress is { LimitExceeded.IsCancellationRequested: true } && output.Exit is null
            ? WithOutput(output, RunStatus.EgressLimitExceeded, egress.LimitDetail) with { Signal = 9 }
            : stoppedEarly
                ? WithOutput(output, RunStatus.Completed, "Stopped at the first failing test case, as asked.")
                : await InterpretAsync(containerId, limits, output, diagnostics, run, deadline.IsCancellationRequested, killed);
        result = result is null ? null : WithStages(result, output, judge, stoppedEarly);
        activity?.SetTag("executor.status", result?.Status);
        activity?.SetTag("executor.exit_code", result?.ExitCode);
        return result is null ? null : result with { WarmStart = warm };
    }

    private static async Task ReadUntilExitAsync(
        MultiplexedStream stream, PendingRead? pending, LauncherOutput output, OutputRelay relay, List<byte> diagnostics, CaseJudge? judge,
        CancellationToken cancellationToken)
    {
        var buffer = pending?.Buffer ?? new byte[ReadBufferSize];
        var waiting = pending?.Task;
        while (output.Exit is null && !output.Corrupt && !output.OverLimit)
        {
            var read = waiting is null
                ? await stream.ReadOutputAsync(buffer, 0, buffer.Length, cancellationToken)
                : await waiting.WaitAsync(cancellationToken);
            waiting = null;
            if (read.EOF)
            {
                return;
            }
            if (read.Target == MultiplexedStream.TargetStream.StandardOut)
            {
                output.Feed(buffer.AsSpan(0, read.Count));
                judge?.Take(output.Cases);
                if (judge is { ShouldStop: true } && output.Exit is null)
                {
                    return; // the caller kills the sandbox: the remaining cases are skipped
                }
                if (output.Exit is null)
                {
                    output.TakeNew(relay.Send); // live, for whoever follows the run; what comes with the exit record goes with the result
                }
            }
            else if (diagnostics.Count < DiagnosticsLimit)
            {
                // The launcher's own stderr: only its failures write there.
                diagnostics.AddRange(buffer.AsSpan(0, Math.Min(read.Count, DiagnosticsLimit - diagnostics.Count)));
            }
        }
    }

    private async Task<RunResult?> InterpretAsync(
        string containerId, SandboxLimits limits, LauncherOutput output, List<byte> diagnostics, ActiveRun run, bool deadlinePassed, bool killed)
    {
        if (output.Exit is { } exit)
        {
            return FromExit(exit, limits, output);
        }
        if (run.CancelRequested)
        {
            return WithOutput(output, RunStatus.Cancelled, "Cancelled by a cleanup request while it was running.") with { Signal = 9 };
        }
        if (deadlinePassed)
        {
            return WithOutput(output, RunStatus.TimedOut, $"Killed after {limits.TimeoutSeconds} s: the sandbox did not stop itself.") with { Signal = 9 };
        }
        if (output.OverLimit)
        {
            return WithOutput(output, RunStatus.OutputLimitExceeded, OutputLimitDetail(limits)) with { Signal = 9 };
        }

        var state = await EndStateAsync(containerId, killed);
        if (state?.OOMKilled == true)
        {
            return WithOutput(output, RunStatus.MemoryExceeded, MemoryDetail(limits)) with { Signal = 9 };
        }
        if (!output.JobAccepted && output.TotalBytes == 0 && diagnostics.Count == 0 && !killed)
        {
            return null; // the launcher never had the job: nothing of the user's ran, so another container may run it
        }
        var why = output.Corrupt ? "broke the output protocol" : $"ended without a result (exit code {state?.ExitCode})";
        var launcherSaid = diagnostics.Count > 0 ? $": {Encoding.UTF8.GetString([.. diagnostics]).Trim()}" : "";
        LogSandboxBroke(containerId, why + launcherSaid);
        return WithOutput(output, RunStatus.InternalError, $"The sandbox {why}.");
    }

    /// <summary>
    /// How the container ended. A sandbox killed without a word of its own may have met its memory limit: under gVisor
    /// the host's OOM killer ends the whole sandbox, and the engine can learn of the OOM (or the exit) after the attach
    /// stream has closed, so it is asked again, for up to a second, before the run is called broken.
    /// </summary>
    private async Task<Docker.DotNet.Models.State?> EndStateAsync(string containerId, bool killed)
    {
        var state = await engine.InspectStateAsync(containerId, CancellationToken.None);
        for (var asked = 1; !killed && asked < 10 && state is { Running: true } or { OOMKilled: false, ExitCode: 137 }; asked++)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(100), time);
            state = await engine.InspectStateAsync(containerId, CancellationToken.None);
        }
        return state;
    }

    private static RunResult FromExit(LauncherExit exit, SandboxLimits limits, LauncherOutput output)
    {
        var (status, detail) = exit.Outcome switch
        {
            "timed_out" => (RunStatus.TimedOut, $"Killed after the {limits.TimeoutSeconds} s time limit."),
            "output_limit_exceeded" => (RunStatus.OutputLimitExceeded, OutputLimitDetail(limits)),
            "launcher_error" => (RunStatus.InternalError, $"The sandbox could not start the script: {exit.Detail}"),
            "compile_error" => (RunStatus.CompilationError, "The program did not compile: the compile section has the compiler's output."),
            _ when exit.Signal == 9 && exit.OomKills > 0 => (RunStatus.MemoryExceeded, MemoryDetail(limits)),
            _ when exit.ExitCode == 0 => (RunStatus.Completed, null),
            _ when exit.Signal is { } signal => (RunStatus.Failed, $"Killed by signal {signal}."),
            _ => (RunStatus.Failed, (string?)null),
        };
        return WithOutput(output, status, detail) with
        {
            DurationMs = exit.WallMs ?? 0,
            ExitCode = exit.ExitCode,
            Signal = exit.Signal,
            CpuTimeMs = exit.CpuMs,
            PeakMemoryBytes = exit.MaxRssBytes,
            StdoutTruncated = exit.StdoutTruncated || output.StdoutTruncated,
            StderrTruncated = exit.StderrTruncated || output.StderrTruncated,
        };
    }

    /// <summary>
    /// A result with what a compiled language's compile stage and a graded run's cases add: the compile section, each
    /// case's verdict (those that did not run: skipped after a stop or a compile error, internal_error when the sandbox
    /// ended before them), and the summary.
    /// </summary>
    private static RunResult WithStages(RunResult result, LauncherOutput output, CaseJudge? judge, bool stoppedEarly)
    {
        var compile = output.Build is { } build ? CompileOf(build) : null;
        result = result with { Compile = compile };
        if (judge is null)
        {
            return result;
        }
        if (result.Status == RunStatus.Failed && output.Exit?.Outcome == "exited")
        {
            result = result with { Status = RunStatus.Completed }; // every case ran: how each did is its verdict's business
        }
        var compiled = compile?.Succeeded != false;
        var rest = !compiled ? Verdicts.CompilationError
            : stoppedEarly || result.Status is RunStatus.Completed or RunStatus.Cancelled ? Verdicts.Skipped
            : Verdicts.InternalError;
        var cases = judge.Results(rest);
        var summary = TestSummary.Of(cases);
        return result with
        {
            TestResults = cases,
            TestSummary = compiled ? summary : summary with { Verdict = Verdicts.CompilationError },
        };
    }

    private static CompileOutcome CompileOf(LauncherBuild build) => new(
        build.Outcome switch
        {
            "exited" when build.ExitCode == 0 => "ok",
            "exited" => "failed",
            var other => other,
        },
        build.ExitCode,
        build.Signal,
        build.Output ?? "",
        build.OutputTruncated,
        build.WallMs ?? 0,
        build.CpuMs);

    private static string OutputLimitDetail(SandboxLimits limits) =>
        $"Killed after writing more than {limits.OutputLimitBytes} bytes of output.";

    private static string MemoryDetail(SandboxLimits limits) =>
        $"Killed for using more than its {limits.MemoryMb} MiB of memory.";

    private static RunResult WithOutput(LauncherOutput output, string status, string? detail) => new()
    {
        Status = status,
        Detail = detail,
        Stdout = output.Stdout,
        Stderr = output.Stderr,
        Logs = output.Logs,
        Segments = [.. output.Segments],
        Files = output.Files.Count > 0 ? [.. output.Files] : null,
        DroppedFiles = output.DroppedFiles.Count > 0 ? [.. output.DroppedFiles] : null,
        StdoutTruncated = output.StdoutTruncated,
        StderrTruncated = output.StderrTruncated,
    };

    private static RunResult Failure(string status, string detail) => new() { Status = status, Detail = detail };

    private RunResult Complete(
        RunResult result, SandboxLimits limits, string? containerId, DateTimeOffset startedAt, long started, LanguageRuntime? language = null) =>
        Stamp(result, limits, language, runtime.Name, Host, containerId, startedAt, time.GetUtcNow(), time.GetElapsedTime(started));

    /// <summary>
    /// The host's own fields of a result (a run's or a sandbox command's): its limits, runtime, isolation, host, container
    /// and times. The duration is the script's (or call's) own wall time as the launcher measured it; the whole
    /// <paramref name="elapsed"/> when the launcher could not say.
    /// </summary>
    public static RunResult Stamp(RunResult result, SandboxLimits limits, LanguageRuntime? language, string isolation, string host, string? containerId,
        DateTimeOffset startedAt, DateTimeOffset finishedAt, TimeSpan elapsed) => result with
    {
        Limits = new RunLimits(limits.TimeoutSeconds, limits.MemoryMb, limits.Cpus, limits.PidsLimit, limits.OutputLimitBytes)
        {
            OutFilesMaxCount = limits.OutFilesMaxCount,
            OutFilesMaxBytes = limits.OutFilesMaxBytes,
        },
        Runtime = language?.Id ?? result.Runtime,
        Isolation = isolation,
        RunnerHost = host,
        ContainerId = containerId,
        StartedAt = startedAt,
        FinishedAt = finishedAt,
        DurationMs = result.DurationMs > 0 ? result.DurationMs : Math.Round(elapsed.TotalMilliseconds, 3),
    };

    [LoggerMessage(Level = LogLevel.Warning, Message = "Warm container {ContainerId} for session {SessionId} was dead; retrying cold")]
    private partial void LogWarmContainerDead(string sessionId, string containerId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Warm container {ContainerId} did not take the job of session {SessionId}: {Reason}")]
    private partial void LogWarmSendFailed(string containerId, string sessionId, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Run of session {SessionId} failed")]
    private partial void LogRunFailed(string sessionId, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Sandbox {ContainerId} {Problem}")]
    private partial void LogSandboxBroke(string containerId, string problem);
}

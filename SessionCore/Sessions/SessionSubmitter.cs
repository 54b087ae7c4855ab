using System.Diagnostics;
using System.Globalization;
using Executor.Contracts;
using Executor.SessionCore.Access;
using Executor.SessionCore.Callbacks;
using Executor.SessionCore.Dispatch;
using Executor.SessionCore.Runtimes;
using Executor.SessionCore.Storage;
using Executor.SessionCore.Submissions;
using Executor.SessionCore.Telemetry;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Executor.SessionCore.Sessions;

/// <summary>
/// What every way of submitting code shares once the request is read: the callback check, the caller's ceilings and quotas, a host that can run it, the runtime,
/// the queue; then, when asked, the wait for the end. Each surface only translates its request into an
/// <see cref="Submission"/> and the outcome into its own answer, so keys, quotas and ownership are the same everywhere.
/// </summary>
public sealed class SessionSubmitter(
    ISessionStore store,
    SubmittedJobs submitted,
    SessionSignals signals,
    SessionCompletions completions,
    RunnerHosts hosts,
    RuntimeDirectory runtimes,
    QuotaGate quotas,
    SessionTelemetry telemetry,
    IOptions<SessionServiceOptions> options,
    IOptions<AuthOptions> auth,
    CallbackAddressGuard callbacks,
    IOptionsMonitor<CallbackOptions> callbackOptions,
    IOptions<EgressOptions> egressOptions,
    ILoggerFactory loggers)
{
    public const int RetryAfterSeconds = 2;
    public const int EngineRetryAfterSeconds = 5;

    /// <summary>The timeout of a run that names none: the runner hosts' Sandbox:TimeoutSeconds default.</summary>
    public const int DefaultTimeoutSeconds = LimitDefaults.TimeoutSeconds;

    /// <summary>
    /// How long a synchronous surface waits for a run's end: its timeout (10 s when it names none; a graded run's cases'
    /// together), a compiled language's compile stage, and 15 s for the sandbox to start and report, within
    /// Sessions:MaxWaitSeconds.
    /// </summary>
    public TimeSpan RunWait(Submission upload) =>
        TimeSpan.FromSeconds(Math.Min(options.Value.MaxWaitSeconds, RunSeconds(upload.Options, upload.Entrypoint) + 15));

    /// <summary>The most a run can take by its own limits: its timeout or its cases', and the compile stage of a language that compiles.</summary>
    public static double RunSeconds(RunOptions options, string entrypoint)
    {
        var run = options.Grading is { } grading ? SubmissionRules.CaseSeconds(grading, options) : options.TimeoutSeconds ?? DefaultTimeoutSeconds;
        var compiles = SourceLanguages.Compiles(SourceLanguages.OfFile(entrypoint)) || options.Build is not null;
        return run + (compiles ? options.Build?.CompileTimeoutSeconds ?? LimitDefaults.CompileTimeoutSeconds : 0);
    }

    /// <summary>
    /// Stores the session and queues it, then waits up to <paramref name="wait"/> for its end. A refusal comes back as
    /// a problem (with Retry-After set on the response where one applies); nothing is stored then.
    /// </summary>
    public async Task<SubmitOutcome> SubmitAsync(HttpContext context, Submission upload, TimeSpan wait, CancellationToken cancellationToken)
    {
        var caller = Caller.Of(context, auth.Value);
        Activity.Current?.SetTag(SessionTelemetry.Caller, caller.Id);
        if (await callbacks.CheckCallbackAsync(upload.Options.CallbackUrl, callbackOptions.CurrentValue, cancellationToken) is { } refused)
        {
            telemetry.Rejected("bad_callback");
            return SubmitOutcome.Refused(refused);
        }
        if (await hosts.UnavailableAsync(cancellationToken) is { } why)
        {
            telemetry.Rejected("engine_unavailable");
            context.Response.Headers.RetryAfter = EngineRetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
            return SubmitOutcome.Refused(Problems.EngineUnavailable(why, EngineRetryAfterSeconds));
        }
        var requested = upload.Options.Runtime
            ?? (upload.Options.Sandbox is null ? await runtimes.ForEntrypointAsync(upload.Entrypoint, cancellationToken) : null);
        var (runtime, runtimeProblem) = await runtimes.ResolveAsync(requested, cancellationToken);
        runtimeProblem ??= upload.Options.Sandbox is null ? await runtimes.MismatchAsync(runtime, upload.Entrypoint, cancellationToken) : null;
        if (runtimeProblem is not null)
        {
            telemetry.Rejected("bad_runtime");
            return SubmitOutcome.Refused(runtimeProblem);
        }
        // The ceilings hold for what the runtime gives by default too, not only for what the request names.
        var runtimeMemory = (await runtimes.ListAsync(cancellationToken)).FirstOrDefault(r => r.Id == runtime)?.MemoryMb;
        var (limited, ceiling) = QuotaGate.ApplyCeilings(caller, upload.Options with { Runtime = runtime }, runtimeMemory);
        if (ceiling is not null)
        {
            telemetry.Rejected("over_ceiling", caller.Id);
            return SubmitOutcome.Refused(ceiling);
        }
        var (egress, egressProblem) = EgressGate.Grant(caller, limited.Egress, egressOptions.Value);
        if (egressProblem is not null)
        {
            telemetry.Rejected("egress_not_allowed", caller.Id);
            return SubmitOutcome.Refused(egressProblem);
        }
        upload = upload with { Options = limited with { Egress = egress } };
        Activity.Current?.SetTag("executor.runtime", runtime);
        if (quotas.TakeRun(caller) is ({ } tooMany, var retryAfter))
        {
            telemetry.Rejected("over_rate", caller.Id);
            context.Response.Headers.RetryAfter = retryAfter.ToString(CultureInfo.InvariantCulture);
            return SubmitOutcome.Refused(tooMany);
        }

        var sessionId = SessionIds.New();
        Activity.Current?.SetTag(SessionTelemetry.SessionId, sessionId);
        var job = RunRequests.For(sessionId, upload.Entrypoint, [.. upload.Files.Select(f => new RunFile(f.Path, f.Content))], upload.Options, Activity.Current?.Id);
        // Listening before the session is stored lets the wait skip its first look at the store (with PostgreSQL, a
        // round trip beside the run's own).
        Listening? listening = wait > TimeSpan.Zero ? completions.ListenBeforeQueued(sessionId) : null;
        using (var persist = SessionTelemetry.Source.StartActivity("persist session"))
        {
            persist?.SetTag(SessionTelemetry.SessionId, sessionId);
            var (maxUnfinished, maxStored) = QuotaGate.StoreLimits(caller);
            var created = new NewSession(sessionId, upload.Entrypoint, upload.Files, upload.Options, job.TraceParent, caller.Id, caller.Quotas.MaxConcurrentRuns)
            {
                MaxUnfinished = maxUnfinished,
                MaxStoredBytes = maxStored,
            };
            SessionAdmission admission;
            try
            {
                admission = await store.CreateAsync(created, options.Value.QueueCapacity, cancellationToken);
            }
            catch
            {
                completions.Forget(sessionId);
                throw;
            }
            if (admission != SessionAdmission.Created)
            {
                completions.Forget(sessionId);
                telemetry.Rejected(admission switch
                {
                    SessionAdmission.OwnerUnfinished => "over_quota",
                    SessionAdmission.OwnerStorage => "over_storage",
                    _ => "queue_full",
                }, caller.Id);
                if (admission != SessionAdmission.OwnerStorage)
                {
                    context.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
                }
                return SubmitOutcome.Refused(quotas.Refused(caller, admission));
            }
        }
        Audit.Accepted(loggers, caller, sessionId, upload);
        submitted.Add(job);
        signals.WorkArrived();
        if (listening is not { } heard)
        {
            return new SubmitOutcome(sessionId, null, null);
        }
        var session = await completions.WaitAsync(sessionId, heard, wait, cancellationToken);
        return new SubmitOutcome(sessionId, session, null);
    }
}

/// <summary>
/// A submission's outcome: the new session (and, after a wait, its record: ended or not), or the problem that refused it.
/// </summary>
public sealed record SubmitOutcome(string? SessionId, SessionRecord? Session, ProblemDetails? Problem)
{
    public static SubmitOutcome Refused(ProblemDetails problem) => new(null, null, problem);

    /// <summary>The session's record if it has ended within the wait.</summary>
    public SessionRecord? Ended => Session is not null && SessionStatus.IsTerminal(Session.Status) ? Session : null;
}

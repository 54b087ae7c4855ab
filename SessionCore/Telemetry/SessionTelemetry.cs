using Executor.Contracts;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Executor.SessionCore.Telemetry;

/// <summary>
/// SessionService's spans (source "Executor.Session") and metrics (meter "Executor.Session"): what ran, how it ended,
/// how long it waited and ran, and what was turned away. Attribute names are shared across the services.
/// </summary>
public sealed class SessionTelemetry
{
    public const string Name = TelemetryNames.Session;
    public const string SessionId = "executor.session_id";
    public const string Status = "executor.status";
    public const string ExitCode = "executor.exit_code";
    public const string Warm = "executor.warm";
    public const string Reason = "executor.reason";
    public const string RunnerHost = "executor.runner_host";
    public const string Caller = "executor.caller";

    public static readonly ActivitySource Source = new(Name);

    private readonly Counter<long> _executions;
    private readonly Histogram<double> _duration;
    private readonly Histogram<double> _queueWait;
    private readonly Counter<long> _rejected;

    public SessionTelemetry(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(Name);
        _executions = meter.CreateCounter<long>("executor.executions", "{execution}", "Sessions that ended, by terminal status");
        _duration = meter.CreateHistogram<double>("executor.execution.duration", "s", "Wall time of the scripts in their sandboxes");
        _queueWait = meter.CreateHistogram<double>("executor.queue.wait", "s", "Time sessions waited for a run slot");
        _rejected = meter.CreateCounter<long>("executor.submissions.rejected", "{submission}", "Submissions refused, by reason");
    }

    public void Ended(string status, bool warm, double durationMs, string? host, string? caller)
    {
        var tags = new TagList { { Status, status }, { Warm, warm }, { RunnerHost, host }, { Caller, caller } };
        _executions.Add(1, tags);
        _duration.Record(durationMs / 1000, tags);
    }

    public void Waited(TimeSpan wait) => _queueWait.Record(wait.TotalSeconds);

    public void Rejected(string reason, string? caller = null) => _rejected.Add(1, new TagList { { Reason, reason }, { Caller, caller } });
}

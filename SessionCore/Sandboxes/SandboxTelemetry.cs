using System.Diagnostics;
using System.Diagnostics.Metrics;
using Executor.Contracts;
using Executor.SessionCore.Telemetry;

namespace Executor.SessionCore.Sandboxes;

/// <summary>The stateful sandboxes' metrics (meter "Executor.Session"): created, ended, and their calls by status and duration.</summary>
public sealed class SandboxTelemetry
{
    public const string SandboxId = "executor.sandbox_id";

    private readonly Counter<long> _created;
    private readonly Counter<long> _ended;
    private readonly Counter<long> _calls;
    private readonly Histogram<double> _callDuration;

    public SandboxTelemetry(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(TelemetryNames.Session);
        _created = meter.CreateCounter<long>("executor.sandboxes.created", "{sandbox}", "Stateful sandboxes created");
        _ended = meter.CreateCounter<long>("executor.sandboxes.ended", "{sandbox}", "Stateful sandboxes ended (deleted, idle, expired, lost)");
        _calls = meter.CreateCounter<long>("executor.sandbox.calls", "{call}", "Code run in stateful sandboxes, by status");
        _callDuration = meter.CreateHistogram<double>("executor.sandbox.call.duration", "s", "Wall time of the calls in their kernels");
    }

    public void Created(string? caller) => _created.Add(1, new TagList { { SessionTelemetry.Caller, caller } });

    public void Ended(string? caller) => _ended.Add(1, new TagList { { SessionTelemetry.Caller, caller } });

    public void Called(string status, double durationMs, string? caller)
    {
        var tags = new TagList { { SessionTelemetry.Status, status }, { SessionTelemetry.Caller, caller } };
        _calls.Add(1, tags);
        _callDuration.Record(durationMs / 1000, tags);
    }
}

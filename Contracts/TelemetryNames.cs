namespace Executor.Contracts;

/// <summary>
/// The names of Executor's activity sources, meters and log categories, declared once: dashboards, alerts and the
/// telemetry tests find them by these names. Every one starts with "Executor.", which ServiceDefaults exports.
/// </summary>
public static class TelemetryNames
{
    /// <summary>SessionService's spans and metrics: what ran, how it ended, the queue.</summary>
    public const string Session = "Executor.Session";

    /// <summary>Callback deliveries.</summary>
    public const string Callbacks = "Executor.Callbacks";

    /// <summary>A runner host's runs.</summary>
    public const string Runner = "Executor.Runner";

    /// <summary>The warm pool's refills, leases and demand.</summary>
    public const string Prewarm = "Executor.Prewarm";

    /// <summary>Orphaned containers removed.</summary>
    public const string Reaper = "Executor.Reaper";

    /// <summary>The audit trail's log category: one line per accepted execution.</summary>
    public const string Audit = "Executor.Audit";
}

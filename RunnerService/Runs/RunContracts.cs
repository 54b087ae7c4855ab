namespace Executor.Runner.Runs;

/// <summary>What the runner knows of a run while it happens.</summary>
public sealed record RunInfo(string SessionId, string State, string? ContainerId, bool? WarmStart);

/// <summary>What the runner is doing: its host, attached warm slots (target and filled), runs in progress, removals pending.</summary>
public sealed record RunnerState(string Host, int SlotsTarget, int SlotsReady, int ActiveRuns, int Capacity, int PendingRemovals)
{
    /// <summary>This process, for operators (and fault tests) that must find it.</summary>
    public int Pid { get; } = Environment.ProcessId;

    /// <summary>The stateful sandboxes this host holds (their containers among them).</summary>
    public IReadOnlyList<SandboxInfo> Sandboxes { get; init; } = [];
}

/// <summary>A stateful sandbox this host holds: its container, and since when.</summary>
public sealed record SandboxInfo(string SandboxId, string ContainerId, DateTimeOffset StartedAt);

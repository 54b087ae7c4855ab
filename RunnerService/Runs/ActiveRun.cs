using Executor.Contracts;

namespace Executor.Runner.Runs;

/// <summary>A run in progress: its container, its cancel switch, and the tasks that tell when it is over.</summary>
public sealed class ActiveRun(string sessionId) : IDisposable
{
    private readonly CancellationTokenSource _cancel = new();
    private readonly TaskCompletionSource _removed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task<RunResult>? _completion;

    public string SessionId { get; } = sessionId;

    public string? ContainerId { get; private set; }

    public bool? WarmStart { get; private set; }

    public CancellationToken CancelToken => _cancel.Token;

    public bool CancelRequested => _cancel.IsCancellationRequested;

    public Task<RunResult> Completion => _completion ?? throw new InvalidOperationException("The run has not started");

    /// <summary>Completes when the run's last container has been removed.</summary>
    public Task Removed => _removed.Task;

    public void Start(Func<ActiveRun, Task<RunResult>> run) => _completion = run(this);

    public void Attach(string containerId, bool warm)
    {
        ContainerId = containerId;
        WarmStart = warm;
    }

    public void SetRemoval(Task removal) =>
        removal.ContinueWith(t => _removed.TrySetResult(), TaskScheduler.Default);

    public void Cancel()
    {
        try
        {
            _cancel.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public void Dispose() => _cancel.Dispose();
}

using Docker.DotNet;
using Docker.DotNet.Models;

namespace Executor.Bench;

/// <summary>
/// Samples, about every second for the whole run, the four services' resident memory and how many containers of this
/// bench's deployment are running; a scenario asks it for the most containers seen while it ran (the pool's peak).
/// </summary>
public sealed class Timeline : IAsyncDisposable
{
    private readonly IDockerClient _docker;
    private readonly Report _report;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _sampling;
    private readonly object _peakLock = new();
    private int _peak;

    public Timeline(IDockerClient docker, Report report)
    {
        _docker = docker;
        _report = report;
        _sampling = SampleAsync(_stop.Token);
    }

    /// <summary>Starts counting a scenario's peak afresh (the count now, then the most seen until <see cref="PeakAsync"/>).</summary>
    public async Task ResetPeakAsync()
    {
        var now = await RunningContainersAsync(_docker, CancellationToken.None);
        lock (_peakLock)
        {
            _peak = now;
        }
    }

    /// <summary>The most running containers seen since <see cref="ResetPeakAsync"/>, the count now included.</summary>
    public async Task<int> PeakAsync()
    {
        var now = await RunningContainersAsync(_docker, CancellationToken.None);
        lock (_peakLock)
        {
            return _peak = Math.Max(_peak, now);
        }
    }

    /// <summary>The running containers of this bench's deployment (its pool, its runs, its sandboxes).</summary>
    public static async Task<int> RunningContainersAsync(IDockerClient docker, CancellationToken cancellationToken) =>
        (await docker.Containers.ListContainersAsync(new ContainersListParameters
        {
            Filters = new Dictionary<string, IDictionary<string, bool>>
            {
                ["label"] = new Dictionary<string, bool> { [$"executor.deployment={Stack.Deployment}"] = true },
                ["status"] = new Dictionary<string, bool> { ["running"] = true },
            },
        }, cancellationToken)).Count;

    private async Task SampleAsync(CancellationToken cancellationToken)
    {
        using var ticks = new PeriodicTimer(TimeSpan.FromMilliseconds(500));
        var tick = 0;
        try
        {
            while (await ticks.WaitForNextTickAsync(cancellationToken))
            {
                int containers;
                try
                {
                    containers = await RunningContainersAsync(_docker, cancellationToken);
                }
                catch (Exception e) when (e is HttpRequestException or DockerApiException or TimeoutException)
                {
                    continue; // a busy engine: the next tick counts again
                }
                lock (_peakLock)
                {
                    _peak = Math.Max(_peak, containers);
                }
                // The peak is watched every half second, the memory recorded every second while a stack runs.
                var services = tick++ % 2 == 0 ? Stack.ServiceMemory().ToDictionary(m => m.Service, m => Math.Round(m.Mib, 1)) : null;
                if (services is not null && services.Values.Sum() > 0)
                {
                    lock (_report.Memory)
                    {
                        _report.Memory.Add(new MemorySample(Math.Round(_report.Elapsed, 1), services, containers));
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _sampling;
        _stop.Dispose();
    }
}

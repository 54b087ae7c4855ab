using Executor.Contracts;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Docker.DotNet.Models;
using Microsoft.Extensions.Options;

namespace Executor.Sandbox;

/// <summary>
/// Finds this service's containers that nobody owns any more (left by a crash, an engine restart, a lost removal)
/// and removes them: at start, when this process can own nothing yet, and then periodically, where a container
/// must be unknown in two sweeps in a row before it goes, so that one being handed over is never taken for lost.
/// Only containers of this deployment and this runner host are ever looked at.
/// </summary>
public abstract partial class OrphanReaper : BackgroundService
{
    public static readonly ActivitySource ActivitySource = new(TelemetryNames.Reaper);

    private readonly IContainerEngine _engine;
    private readonly ContainerJanitor _janitor;
    private readonly SandboxOptions _options;
    private readonly SandboxInstance _instance;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Counter<long> _removed;
    private readonly TaskCompletionSource _firstSweep = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private HashSet<string> _suspects = [];

    protected OrphanReaper(IContainerEngine engine, ContainerJanitor janitor, IOptions<SandboxOptions> options, SandboxInstance instance,
        TimeProvider time, IMeterFactory meterFactory, ILogger logger)
    {
        _engine = engine;
        _janitor = janitor;
        _options = options.Value;
        _instance = instance;
        _time = time;
        _logger = logger;
        _removed = meterFactory.Create(TelemetryNames.Reaper).CreateCounter<long>(
            "executor.reaper.removed", "{container}", "Containers removed because nobody owned them");
    }

    /// <summary>Completes after the first sweep (done or failed): work that creates containers starts after it.</summary>
    public Task FirstSweep => _firstSweep.Task;

    /// <summary>Whether this service is the one responsible for the container (its kind, its names).</summary>
    protected abstract bool IsResponsibleFor(ContainerListResponse container);

    /// <summary>Whether this process knows the container as in use right now.</summary>
    protected abstract bool IsOwned(ContainerListResponse container);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await SweepAsync(firstSweep: true, stoppingToken);
        _firstSweep.TrySetResult();
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(_options.ReapIntervalSeconds), _time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            await SweepAsync(firstSweep: false, stoppingToken);
        }
    }

    private async Task SweepAsync(bool firstSweep, CancellationToken cancellationToken)
    {
        using var activity = ActivitySource.StartActivity("reap orphans");
        activity?.SetTag("executor.service", _instance.Service);
        try
        {
            var unknown = (await _engine.ListAsync(SandboxLabels.OfHost(_options), cancellationToken))
                .Where(c => IsResponsibleFor(c) && !IsOwned(c) && !_janitor.IsRemoving(c.ID))
                .Select(c => c.ID)
                .ToHashSet();
            var orphans = firstSweep ? unknown : [.. unknown.Where(_suspects.Contains)];
            _suspects = [.. unknown.Except(orphans)];
            await Task.WhenAll(orphans.Select(async id =>
            {
                await _janitor.RemoveAsync(id, now: true);
                _removed.Add(1, new KeyValuePair<string, object?>("executor.service", _instance.Service));
                LogReaped(_instance.Service, id);
            }));
            activity?.SetTag("executor.reaped", orphans.Count);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            // An engine that is away now is asked again at the next sweep.
            LogSweepFailed(e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Service} removed orphan container {ContainerId}")]
    private partial void LogReaped(string service, string containerId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Orphan sweep failed: {Reason}")]
    private partial void LogSweepFailed(string reason);
}

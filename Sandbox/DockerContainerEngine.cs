using System.Collections.Concurrent;
using System.Net;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace Executor.Sandbox;

public sealed class DockerContainerEngine(IDockerClient docker) : IContainerEngine
{
    private static readonly ContainerAttachParameters AttachAll = new()
    {
        Stream = true,
        Stdin = true,
        Stdout = true,
        Stderr = true,
    };

    private static readonly ContainerAttachParameters AttachOutput = new()
    {
        Stream = true,
        Stdout = true,
        Stderr = true,
    };

    // Removing a running container takes the engine well under a second; a removal someone else began is awaited
    // for up to 30 s before this one fails (and its caller retries).
    private const int RemovalAsks = 600;
    private static readonly TimeSpan RemovalRetryInterval = TimeSpan.FromMilliseconds(50);

    private readonly ConcurrentDictionary<string, Lazy<Task>> _removals = new();
    private readonly ConcurrentDictionary<string, Task> _renames = new();
    private readonly Lock _naming = new();

    public async Task<string> StartAsync(CreateContainerParameters spec)
    {
        var id = await CreateAsync(spec);
        try
        {
            await StartCreatedAsync(id);
            return id;
        }
        catch
        {
            await RemoveAsync(id);
            throw;
        }
    }

    public async Task<string> CreateAsync(CreateContainerParameters spec)
    {
        try
        {
            return (await docker.Containers.CreateContainerAsync(spec, CancellationToken.None)).ID;
        }
        catch (Exception e) when (spec.Name is { Length: > 0 } name && !IsConflict(e))
        {
            // The engine may have made it before the call failed (a timeout, a dropped connection): it has our name.
            await RemoveAsync(name);
            throw;
        }
    }

    public Task StartCreatedAsync(string containerId) =>
        docker.Containers.StartContainerAsync(containerId, new ContainerStartParameters(), CancellationToken.None);

    public Task<MultiplexedStream> AttachAsync(string containerId, CancellationToken cancellationToken) =>
        docker.Containers.AttachContainerAsync(containerId, AttachAll, cancellationToken);

    public Task<MultiplexedStream> WatchAsync(string containerId, CancellationToken cancellationToken) =>
        docker.Containers.AttachContainerAsync(containerId, AttachOutput, cancellationToken);

    public async Task KillAsync(string containerId, CancellationToken cancellationToken)
    {
        try
        {
            await docker.Containers.KillContainerAsync(containerId, new ContainerKillParameters { Signal = "SIGKILL" }, cancellationToken);
        }
        catch (DockerApiException e) when (e.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.Conflict)
        {
            // Gone already, or no longer running: either way it runs nothing.
        }
    }

    public async Task RemoveAsync(string containerId)
    {
        var removal = new Lazy<Task>(() => RemoveOnceAsync(containerId));
        var current = _removals.GetOrAdd(containerId, removal);
        try
        {
            await current.Value;
        }
        finally
        {
            _removals.TryRemove(new KeyValuePair<string, Lazy<Task>>(containerId, current));
        }
    }

    private async Task RemoveOnceAsync(string containerId)
    {
        if (RenameInFlight(containerId) is { } renaming)
        {
            await renaming;
        }
        for (var asked = 1; ; asked++)
        {
            try
            {
                await docker.Containers.RemoveContainerAsync(
                    containerId, new ContainerRemoveParameters { Force = true, RemoveVolumes = true }, CancellationToken.None);
                return;
            }
            catch (DockerContainerNotFoundException)
            {
                return;
            }
            catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound)
            {
                return;
            }
            catch (DockerApiException e) when (asked < RemovalAsks && IsConflict(e)
                && (e.ResponseBody ?? "").Contains("already in progress", StringComparison.Ordinal))
            {
                // Another process (the pool, a reaper) is removing it, and done means gone: ask again until the answer is
                // that it is (or, should that removal fail, until this one removes it).
                await Task.Delay(RemovalRetryInterval);
            }
        }
    }

    private static bool IsConflict(Exception e) => e is DockerApiException { StatusCode: HttpStatusCode.Conflict };

    public async Task<State?> InspectStateAsync(string containerId, CancellationToken cancellationToken)
    {
        try
        {
            return (await docker.Containers.InspectContainerAsync(containerId, cancellationToken)).State;
        }
        catch (DockerContainerNotFoundException)
        {
            return null;
        }
    }

    public async Task<IReadOnlyList<ContainerListResponse>> ListAsync(
        IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken)
    {
        var filter = labels.ToDictionary(l => $"{l.Key}={l.Value}", _ => true);
        var containers = await docker.Containers.ListContainersAsync(
            new ContainersListParameters
            {
                All = true,
                Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = filter },
            },
            cancellationToken);
        return containers.ToList();
    }

    /// <summary>
    /// Renames it unless its removal has begun. The engine (20.10) loses a container renamed while it is being removed: it
    /// lists it under the new name, "Removal In Progress", until it restarts, though the container is gone. So in this
    /// process the two never meet: a removal waits for a rename in flight, and a rename once a removal has begun is
    /// skipped (the name of a container on its way out no longer matters). Only the process that removes a container
    /// renames it.
    /// </summary>
    public async Task RenameAsync(string containerId, string name, CancellationToken cancellationToken)
    {
        var renamed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_naming)
        {
            if (_removals.ContainsKey(containerId) || !_renames.TryAdd(containerId, renamed.Task))
            {
                return; // on its way out, or being renamed already
            }
        }
        try
        {
            // Never cancelled half-way: the engine would go on renaming while a removal, no longer held back, began.
            await docker.Containers.RenameContainerAsync(containerId, new ContainerRenameParameters { NewName = name }, CancellationToken.None);
        }
        finally
        {
            _renames.TryRemove(new KeyValuePair<string, Task>(containerId, renamed.Task));
            renamed.SetResult();
        }
    }

    /// <summary>A rename of the container in flight, which its removal (registered before it asks) waits for.</summary>
    private Task? RenameInFlight(string containerId)
    {
        lock (_naming)
        {
            return _renames.GetValueOrDefault(containerId);
        }
    }

    public Task PingAsync(CancellationToken cancellationToken) => docker.System.PingAsync(cancellationToken);
}

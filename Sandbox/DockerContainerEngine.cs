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

    private readonly ConcurrentDictionary<string, Lazy<Task>> _removals = new();

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
        try
        {
            await docker.Containers.RemoveContainerAsync(
                containerId, new ContainerRemoveParameters { Force = true, RemoveVolumes = true }, CancellationToken.None);
        }
        catch (DockerContainerNotFoundException)
        {
        }
        catch (DockerApiException e) when (e.StatusCode == HttpStatusCode.NotFound
            || (e.StatusCode == HttpStatusCode.Conflict && (e.ResponseBody ?? "").Contains("already in progress", StringComparison.Ordinal)))
        {
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

    public Task RenameAsync(string containerId, string name, CancellationToken cancellationToken) =>
        docker.Containers.RenameContainerAsync(containerId, new ContainerRenameParameters { NewName = name }, cancellationToken);

    public Task PingAsync(CancellationToken cancellationToken) => docker.System.PingAsync(cancellationToken);
}

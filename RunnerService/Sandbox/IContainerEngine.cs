using Docker.DotNet;
using Docker.DotNet.Models;

namespace Executor.Sandbox;

/// <summary>The container engine in Executor's terms. One implementation talks to Docker; tests of logic may fake it.</summary>
public interface IContainerEngine
{
    /// <summary>Creates and starts a container; removes it again if it cannot be started.</summary>
    Task<string> StartAsync(CreateContainerParameters spec, CancellationToken cancellationToken);

    /// <summary>Creates a container without starting it.</summary>
    Task<string> CreateAsync(CreateContainerParameters spec, CancellationToken cancellationToken);

    /// <summary>Starts a created container.</summary>
    Task StartCreatedAsync(string containerId, CancellationToken cancellationToken);

    /// <summary>Attaches to stdin, stdout and stderr of a running container.</summary>
    Task<MultiplexedStream> AttachAsync(string containerId, CancellationToken cancellationToken);

    /// <summary>Attaches to stdout and stderr only: watching a container leaves its stdin to whoever runs a job in it.</summary>
    Task<MultiplexedStream> WatchAsync(string containerId, CancellationToken cancellationToken);

    /// <summary>Kills a container at once (SIGKILL); a container that is already gone is not an error.</summary>
    Task KillAsync(string containerId, CancellationToken cancellationToken);

    /// <summary>Removes a container with its anonymous volumes; a container that is already gone is not an error.</summary>
    Task RemoveAsync(string containerId, CancellationToken cancellationToken);

    /// <summary>The container's state, or null when it does not exist.</summary>
    Task<State?> InspectStateAsync(string containerId, CancellationToken cancellationToken);

    /// <summary>Containers (running or not) that carry all of the given labels.</summary>
    Task<IReadOnlyList<ContainerListResponse>> ListAsync(IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken);

    Task RenameAsync(string containerId, string name, CancellationToken cancellationToken);

    Task PingAsync(CancellationToken cancellationToken);
}

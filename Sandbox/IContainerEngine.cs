using Docker.DotNet;
using Docker.DotNet.Models;

namespace Executor.Sandbox;

/// <summary>The container engine in Executor's terms. One implementation talks to Docker; tests of logic may fake it.</summary>
/// <remarks>
/// Creating, starting and removing take no cancellation token: once asked, the engine finishes them whatever the
/// client does, so a call abandoned half-way would leave a container nobody knows of, or race its own removal (a
/// removal during a start can leave the engine with a container "Removal In Progress" until it restarts).
/// Whoever stops waiting removes what the call returns, after it returns.
/// </remarks>
public interface IContainerEngine
{
    /// <summary>Creates and starts a container; removes it again (by name when its id never came back) if either fails.</summary>
    Task<string> StartAsync(CreateContainerParameters spec);

    /// <summary>Creates a container without starting it; removes it by name if the create failed half-way.</summary>
    Task<string> CreateAsync(CreateContainerParameters spec);

    /// <summary>Starts a created container.</summary>
    Task StartCreatedAsync(string containerId);

    /// <summary>Attaches to stdin, stdout and stderr of a running container.</summary>
    Task<MultiplexedStream> AttachAsync(string containerId, CancellationToken cancellationToken);

    /// <summary>Attaches to stdout and stderr only: watching a container leaves its stdin to whoever runs a job in it.</summary>
    Task<MultiplexedStream> WatchAsync(string containerId, CancellationToken cancellationToken);

    /// <summary>Kills a container at once (SIGKILL); a container that is already gone is not an error.</summary>
    Task KillAsync(string containerId, CancellationToken cancellationToken);

    /// <summary>
    /// Removes a container (by id or name) with its anonymous volumes; a container that is already gone is not an
    /// error. Removals of one container asked for at the same time are one call to the engine.
    /// </summary>
    Task RemoveAsync(string containerId);

    /// <summary>The container's state, or null when it does not exist.</summary>
    Task<State?> InspectStateAsync(string containerId, CancellationToken cancellationToken);

    /// <summary>Containers (running or not) that carry all of the given labels.</summary>
    Task<IReadOnlyList<ContainerListResponse>> ListAsync(IReadOnlyDictionary<string, string> labels, CancellationToken cancellationToken);

    /// <summary>
    /// Renames it; skipped once its removal has begun, and a removal waits for a rename in flight. Never cancelled
    /// half-way (the token is not passed on).
    /// </summary>
    Task RenameAsync(string containerId, string name, CancellationToken cancellationToken);

    Task PingAsync(CancellationToken cancellationToken);
}

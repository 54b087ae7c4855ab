using System.Net;
using System.Reflection;
using Docker.DotNet;
using Executor.Sandbox;

namespace Executor.UnitTests;

/// <summary>
/// The engine (20.10) loses a container renamed while it is being removed: it lists it "Removal In Progress" under the
/// new name until it restarts (CI once found one after a stop, a leased container the pool renamed while the runner
/// removed it). DockerContainerEngine never lets the two meet, and a removal someone else began is waited for. The
/// engine here is a fake that records the order of calls; ShutdownTests and PoolTests run the real one.
/// </summary>
public class ContainerNamingTests
{
    [Fact]
    public async Task A_removal_waits_for_a_rename_in_flight()
    {
        var (engine, docker) = Create();
        var renaming = engine.RenameAsync("c1", "executor-leased-1", CancellationToken.None);

        var removing = engine.RemoveAsync("c1");
        await Task.Delay(100);
        Assert.Equal(["rename c1"], docker.Calls);

        docker.FinishRename();
        await Task.WhenAll(renaming, removing);
        Assert.Equal(["rename c1", "remove c1"], docker.Calls);
    }

    [Fact]
    public async Task A_rename_once_the_removal_has_begun_is_skipped()
    {
        var (engine, docker) = Create();
        docker.HoldRemovals();
        var removing = engine.RemoveAsync("c1");
        await Task.Delay(50);

        await engine.RenameAsync("c1", "executor-leased-1", CancellationToken.None);
        docker.FinishRemoval();
        await removing;

        Assert.Equal(["remove c1"], docker.Calls);
    }

    [Fact]
    public async Task A_removal_someone_else_began_ends_only_once_the_container_is_gone()
    {
        var (engine, docker) = Create();
        docker.RemovalInProgressElsewhere("c1", answers: 3);

        await engine.RemoveAsync("c1");

        // Asked again until the engine says there is no such container.
        Assert.Equal(["remove c1", "remove c1", "remove c1", "remove c1"], docker.Calls);
    }

    private static (DockerContainerEngine, FakeContainers) Create()
    {
        var containers = DispatchProxy.Create<IContainerOperations, FakeContainers>();
        var client = DispatchProxy.Create<IDockerClient, FakeClient>();
        ((FakeClient)(object)client).Containers = containers;
        return (new DockerContainerEngine(client), (FakeContainers)(object)containers);
    }

    public class FakeClient : DispatchProxy
    {
        public IContainerOperations? Containers { get; set; }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) =>
            targetMethod!.Name == "get_Containers" ? Containers : throw new NotSupportedException(targetMethod.Name);
    }

    /// <summary>Rename and remove calls, in order; a rename holds until <see cref="FinishRename"/>.</summary>
    public class FakeContainers : DispatchProxy
    {
        private readonly TaskCompletionSource _rename = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private TaskCompletionSource? _removal;
        private string? _removedElsewhere;
        private int _inProgressAnswers;

        public List<string> Calls { get; } = [];

        public void FinishRename() => _rename.SetResult();

        public void HoldRemovals() => _removal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        public void FinishRemoval() => _removal!.SetResult();

        /// <summary>The next <paramref name="answers"/> removals of it find another in progress; then it is gone.</summary>
        public void RemovalInProgressElsewhere(string id, int answers) => (_removedElsewhere, _inProgressAnswers) = (id, answers);

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            var id = (string)args![0]!;
            switch (targetMethod!.Name)
            {
                case nameof(IContainerOperations.RenameContainerAsync):
                    Record($"rename {id}");
                    return _rename.Task;
                case nameof(IContainerOperations.RemoveContainerAsync):
                    Record($"remove {id}");
                    if (id == _removedElsewhere)
                    {
                        return _inProgressAnswers-- > 0
                            ? Task.FromException(new DockerApiException(HttpStatusCode.Conflict, $"removal of container {id} is already in progress"))
                            : Task.FromException(new DockerContainerNotFoundException(HttpStatusCode.NotFound, $"No such container: {id}"));
                    }
                    return _removal?.Task ?? Task.CompletedTask;
                default:
                    throw new NotSupportedException(targetMethod.Name);
            }
        }

        private void Record(string call)
        {
            lock (Calls)
            {
                Calls.Add(call);
            }
        }
    }
}

using Docker.DotNet.Models;
using Xunit.Abstractions;

namespace Executor.EndToEndTests;

[CollectionDefinition(Name)]
public sealed class AfterStackCollection
{
    public const string Name = "9 after the stacks";
}

/// <summary>Runs after the stacks' collections (collections run in name order) and their shutdown.</summary>
[Collection(AfterStackCollection.Name)]
public sealed class LeftoversTests(ITestOutputHelper output)
{
    private static readonly TimeSpan RemovalGrace = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task No_container_of_the_suite_is_left_not_even_the_pools()
    {
        using var docker = new Docker.DotNet.DockerClientBuilder().WithEndpoint(new Uri("unix:///var/run/docker.sock")).Build();
        async Task<List<ContainerListResponse>> SuiteContainersAsync() =>
            [.. (await docker.Containers.ListContainersAsync(new ContainersListParameters
            {
                All = true,
                Filters = new Dictionary<string, IDictionary<string, bool>>
                {
                    ["label"] = new Dictionary<string, bool> { ["executor.managed=true"] = true },
                },
            })).Where(c => c.Labels["executor.deployment"].StartsWith(StackFixture.DeploymentPrefix, StringComparison.Ordinal))];

        // "removing" is a removal the stacks issued that the engine has not finished: on a loaded machine the engine
        // can take tens of seconds over one. Give those time to go; they are not leftovers (nobody forgot them).
        var deadline = DateTime.UtcNow + RemovalGrace;
        var containers = await SuiteContainersAsync();
        while (containers.Any(c => c.State == "removing") && DateTime.UtcNow < deadline)
        {
            await Task.Delay(500);
            containers = await SuiteContainersAsync();
        }

        foreach (var slow in containers.Where(c => c.State == "removing"))
        {
            output.WriteLine(
                $"still being removed by the engine after {RemovalGrace.TotalSeconds} s: {slow.ID[..12]} " +
                $"({slow.Labels["executor.deployment"]}, {slow.Labels["executor.role"]}, {slow.Status})");
        }

        var leftovers = containers
            .Where(c => c.State != "removing")
            .Select(c => $"{c.ID[..12]} {c.Names.FirstOrDefault()} ({c.State}, {c.Labels["executor.deployment"]}, {c.Labels["executor.role"]})")
            .ToList();
        Assert.Empty(leftovers);
    }
}

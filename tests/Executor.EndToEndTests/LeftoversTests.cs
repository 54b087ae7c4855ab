namespace Executor.EndToEndTests;

[CollectionDefinition(Name)]
public sealed class AfterStackCollection
{
    public const string Name = "9 after the stacks";
}

/// <summary>Runs after the stacks' collections (collections run in name order) and their shutdown.</summary>
[Collection(AfterStackCollection.Name)]
public sealed class LeftoversTests
{
    [Fact]
    public async Task No_container_of_the_suite_is_left_not_even_the_pools()
    {
        using var docker = new Docker.DotNet.DockerClientBuilder().WithEndpoint(new Uri("unix:///var/run/docker.sock")).Build();
        async Task<List<Docker.DotNet.Models.ContainerListResponse>> SuiteContainersAsync() =>
            [.. (await docker.Containers.ListContainersAsync(new Docker.DotNet.Models.ContainersListParameters
            {
                All = true,
                Filters = new Dictionary<string, IDictionary<string, bool>>
                {
                    ["label"] = new Dictionary<string, bool> { ["executor.managed=true"] = true },
                },
            })).Where(c => c.Labels["executor.deployment"].StartsWith(StackFixture.DeploymentPrefix, StringComparison.Ordinal))];

        // A removal the stacks issued and the engine has not finished yet ("removing") is not a leftover: it goes by itself.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        var containers = await SuiteContainersAsync();
        while (containers.Count > 0 && containers.All(c => c.State == "removing") && DateTime.UtcNow < deadline)
        {
            await Task.Delay(500);
            containers = await SuiteContainersAsync();
        }

        var leftovers = containers.Select(c => $"{c.Names.FirstOrDefault()} ({c.State}, {c.Labels["executor.role"]})").ToList();
        Assert.Empty(leftovers);
    }
}

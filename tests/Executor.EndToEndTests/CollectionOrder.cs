using Xunit.Abstractions;

[assembly: CollectionBehavior(DisableTestParallelization = true)]
[assembly: TestCollectionOrderer("Executor.EndToEndTests.CollectionsByName", "Executor.EndToEndTests")]

namespace Executor.EndToEndTests;

/// <summary>Runs collections in name order, so the leftovers check ("2 ...") runs after the stack ("1 ...") has stopped.</summary>
public sealed class CollectionsByName : ITestCollectionOrderer
{
    public IEnumerable<ITestCollection> OrderTestCollections(IEnumerable<ITestCollection> testCollections) =>
        testCollections.OrderBy(c => c.DisplayName, StringComparer.Ordinal);
}

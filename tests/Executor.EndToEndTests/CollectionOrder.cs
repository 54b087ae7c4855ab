using Xunit.Abstractions;

[assembly: CollectionBehavior(DisableTestParallelization = true)]
[assembly: TestCollectionOrderer("Executor.EndToEndTests.CollectionsByName", "Executor.EndToEndTests")]

namespace Executor.EndToEndTests;

/// <summary>
/// Runs collections in name order: the stack ("1 ..."), the faults ("3 ..."), docker-compose ("4 ..."), then the
/// leftovers check ("9 ...").
/// </summary>
public sealed class CollectionsByName : ITestCollectionOrderer
{
    public IEnumerable<ITestCollection> OrderTestCollections(IEnumerable<ITestCollection> testCollections) =>
        testCollections.OrderBy(c => c.DisplayName, StringComparer.Ordinal);
}

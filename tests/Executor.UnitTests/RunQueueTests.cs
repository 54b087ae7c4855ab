using Executor.Session.Dispatch;
using Executor.Session.Sessions;
using Microsoft.Extensions.Options;

namespace Executor.UnitTests;

public class RunQueueTests
{
    [Fact]
    public void A_full_queue_refuses_new_sessions_until_one_is_taken()
    {
        var queue = new RunQueue(Options.Create(new SessionServiceOptions { QueueCapacity = 2 }));

        Assert.True(queue.TryReserve());
        queue.EnqueueReserved(Queued("a"));
        Assert.True(queue.TryReserve());
        queue.EnqueueReserved(Queued("b"));
        Assert.False(queue.TryReserve());
        Assert.Equal(2, queue.Count);
    }

    [Fact]
    public async Task Taking_a_session_frees_its_place()
    {
        var queue = new RunQueue(Options.Create(new SessionServiceOptions { QueueCapacity = 1 }));
        Assert.True(queue.TryReserve());
        queue.EnqueueReserved(Queued("a"));

        await using var reader = queue.ReadAllAsync(CancellationToken.None).GetAsyncEnumerator();
        Assert.True(await reader.MoveNextAsync());

        Assert.Equal("a", reader.Current.SessionId);
        Assert.True(queue.TryReserve());
    }

    [Fact]
    public void Session_ids_are_32_hex_characters_and_distinct()
    {
        var ids = Enumerable.Range(0, 1000).Select(_ => SessionIds.New()).ToHashSet();

        Assert.Equal(1000, ids.Count);
        Assert.All(ids, id => Assert.Matches("^[0-9a-f]{32}$", id));
    }

    private static QueuedSession Queued(string id) => new(id, null, default, DateTimeOffset.UtcNow);
}

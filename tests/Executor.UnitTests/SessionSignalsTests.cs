using Executor.SessionCore.Dispatch;
using Executor.SessionCore.Storage;

namespace Executor.UnitTests;

/// <summary>
/// Who a signal wakes: with a hundred hosts waiting, a command to one sandbox must wake that sandbox's host alone, and
/// the store watch's reading of the queue must wake the claims the queued work is for, and no others.
/// </summary>
public sealed class SessionSignalsTests
{
    private static readonly TimeSpan Soon = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task A_sandbox_command_wakes_only_the_claim_of_the_host_that_holds_the_sandbox_and_a_create_wakes_every_one()
    {
        var signals = new SessionSignals(new LocalSignalRelay());
        var a = signals.WhenSandboxWork("host-a", CancellationToken.None);
        var b = signals.WhenSandboxWork("host-b", CancellationToken.None);

        signals.SandboxWorkArrived("host-b");
        await b.WaitAsync(Soon);
        await Task.Delay(100);
        Assert.False(a.IsCompleted);

        signals.SandboxWorkArrived(pinnedHost: null);
        await a.WaitAsync(Soon);
    }

    [Fact]
    public async Task The_store_watch_s_reading_wakes_as_many_claims_as_runs_are_queued_among_those_that_can_run_them_and_the_hosts_named()
    {
        var signals = new SessionSignals(new LocalSignalRelay());
        using var warm = signals.WaitForWork(warmReady: 2, ["python-3.11"]);
        using var cold = signals.WaitForWork(warmReady: 0, ["python-3.11"]);
        using var languages = signals.WaitForWork(warmReady: 0, ["python-3.11", "java-17"]);
        using var idle = signals.WaitForWork(warmReady: 1, ["python-3.11"]);
        var a = signals.WhenSandboxWork("host-a", CancellationToken.None);
        var b = signals.WhenSandboxWork("host-b", CancellationToken.None);

        signals.Queued(QueuedWork.Nothing);
        await Task.Delay(100);
        Assert.False(warm.Woken.IsCompleted || cold.Woken.IsCompleted || languages.Woken.IsCompleted || a.IsCompleted || b.IsCompleted);

        signals.Queued(new QueuedWork([new QueuedRuns("java-17", 1), new QueuedRuns(null, 1)], Creates: false, PinnedHosts: ["host-a"]));
        await Task.WhenAll(languages.Woken, warm.Woken, a).WaitAsync(Soon);
        await Task.Delay(100);
        Assert.False(cold.Woken.IsCompleted || idle.Woken.IsCompleted || b.IsCompleted);
    }

    [Fact]
    public async Task New_work_wakes_one_waiting_claim_the_warmest_first()
    {
        var signals = new SessionSignals(new LocalSignalRelay());
        using var cold = signals.WaitForWork(warmReady: 0);
        using var warm = signals.WaitForWork(warmReady: 2);

        signals.WorkArrived();

        await warm.Woken.WaitAsync(Soon);
        await Task.Delay(100);
        Assert.False(cold.Woken.IsCompleted);
    }

    [Fact]
    public async Task A_wake_taken_by_a_claim_that_was_already_looking_goes_on_to_the_next_claim()
    {
        var signals = new SessionSignals(new LocalSignalRelay());
        using var looking = signals.WaitForWork(warmReady: 2); // its look began before the second session was queued
        using var waiting = signals.WaitForWork(warmReady: 0);
        looking.PassOn(); // not woken: nothing to pass on

        signals.WorkArrived(); // the second session: the warmer claim is woken, but its look took the first alone
        await looking.Woken.WaitAsync(Soon);
        await Task.Delay(100);
        Assert.False(waiting.Woken.IsCompleted);
        looking.PassOn();

        await waiting.Woken.WaitAsync(Soon);
    }

    [Fact]
    public async Task The_watch_wakes_the_requests_waiting_for_sessions_that_ended_and_lists_what_they_wait_for()
    {
        var signals = new SessionSignals(new LocalSignalRelay());
        var first = signals.WhenEnded("s1", CancellationToken.None);
        var second = signals.WhenEnded("s2", CancellationToken.None);

        Assert.Equal(["s1", "s2"], signals.AwaitedEnds().Order());
        signals.EndedElsewhere(["s2"]);

        await second.WaitAsync(Soon);
        Assert.False(first.IsCompleted);
        Assert.Equal(["s1"], signals.AwaitedEnds());
    }
}

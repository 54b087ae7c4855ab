using System.Collections.Concurrent;
using Executor.Contracts;

namespace Executor.SessionCore.Dispatch;

/// <summary>
/// The jobs of sessions submitted to this replica and not claimed yet, so that a claim served here hands them over
/// without reading their files back. A claim served by another replica reads them from the store; so does one made
/// after a restart. Bounded: past the bound, jobs are simply read back.
/// </summary>
public sealed class SubmittedJobs
{
    private const int Capacity = 4096;
    private readonly ConcurrentDictionary<string, RunJob> _jobs = new();

    public void Add(RunJob job)
    {
        if (_jobs.Count < Capacity)
        {
            _jobs[job.SessionId] = job;
        }
    }

    public RunJob? Take(string sessionId) => _jobs.TryRemove(sessionId, out var job) ? job : null;

    public void Forget(string sessionId) => _jobs.TryRemove(sessionId, out _);
}

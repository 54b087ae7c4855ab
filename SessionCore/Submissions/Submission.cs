using Executor.SessionCore.Sessions;

namespace Executor.SessionCore.Submissions;

/// <summary>
/// What every surface turns its request into: the working directory's files, the script that runs, and how it runs.
/// The core's rules hold for it whichever surface built it.
/// </summary>
/// <param name="Entrypoint">The file that runs, one of <paramref name="Files"/>.</param>
public sealed record Submission(string Entrypoint, IReadOnlyList<SessionFile> Files, RunOptions Options);

namespace Executor.Session.Sessions;

/// <summary>How a session's script is run, beyond its files: what the client asked for in the form.</summary>
/// <param name="Interactive">stdin_mode=interactive: stdin stays open for an attached client (GET /result/{id}/attach).</param>
/// <param name="CallbackUrl">Where the result is POSTed when the session ends (checked against the callback guard).</param>
/// <param name="Runtime">The runtime it runs in (resolved at submission: never null once stored, unless no host reports runtimes).</param>
/// <param name="ExpectedOutput">Judge0's expected_output: the result is Accepted or Wrong Answer by it.</param>
/// <param name="LanguageId">Judge0's language_id, for a session submitted through Judge0's API (its callback is Judge0's too).</param>
/// <param name="RedirectStderrToStdout">Judge0's redirect_stderr_to_stdout: its stdout is the combined output, its stderr empty.</param>
public sealed record RunOptions(
    IReadOnlyList<string> Args,
    string? Stdin,
    int? TimeoutSeconds,
    int? MemoryMb,
    bool Interactive = false,
    string? CallbackUrl = null,
    string? Runtime = null,
    string? ExpectedOutput = null,
    int? LanguageId = null,
    bool RedirectStderrToStdout = false)
{
    public static RunOptions None { get; } = new([], null, null, null);
}

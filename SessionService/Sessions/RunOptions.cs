namespace Executor.Session.Sessions;

/// <summary>How a session's script is run, beyond its files: what the client asked for in the form.</summary>
/// <param name="Interactive">stdin_mode=interactive: stdin stays open for an attached client (GET /result/{id}/attach).</param>
/// <param name="CallbackUrl">Where the result is POSTed when the session ends (checked against the callback guard).</param>
public sealed record RunOptions(
    IReadOnlyList<string> Args,
    string? Stdin,
    int? TimeoutSeconds,
    int? MemoryMb,
    bool Interactive = false,
    string? CallbackUrl = null,
    string? Runtime = null)
{
    public static RunOptions None { get; } = new([], null, null, null);
}
